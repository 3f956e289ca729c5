import pytest

from openstackoid.registry import Cloud, Credentials, InvalidCloudError


def test_repr_never_shows_secrets() -> None:
    creds = Credentials(username="admin", password="s3cret", application_credential_secret="xyz")
    cloud = Cloud("c1", "http://k/v3", credentials=creds)
    assert "s3cret" not in repr(cloud) and "xyz" not in repr(cloud)
    assert "s3cret" not in str(cloud.to_dict())
    assert cloud.to_dict()["has_credentials"] is True


def test_round_trip_with_secrets() -> None:
    cloud = Cloud(
        "c1",
        "http://k/v3",
        region_name="RegionOne",
        endpoints={"image": "http://g"},
        labels={"region": "eu"},
        groups=frozenset({"edge"}),
        credentials=Credentials(username="u", password="p", project_name="admin"),
    )
    assert Cloud.from_dict(cloud.to_dict(with_secrets=True)) == cloud


def test_password_auth_body_matches_keystone_v3() -> None:
    body = Credentials(username="u", password="p", project_name="pr").keystone_auth_body()
    assert body["auth"]["identity"]["methods"] == ["password"]
    assert body["auth"]["identity"]["password"]["user"]["name"] == "u"
    assert body["auth"]["scope"]["project"]["name"] == "pr"


def test_application_credential_auth_body() -> None:
    creds = Credentials(application_credential_id="id1", application_credential_secret="sec")
    body = creds.keystone_auth_body()
    assert body["auth"]["identity"]["methods"] == ["application_credential"]
    assert "scope" not in body["auth"]


def test_cloud_needs_name_and_auth_url() -> None:
    with pytest.raises(InvalidCloudError):
        Cloud("", "http://k")
