from pathlib import Path

import pytest

from openstackoid.registry import InvalidCloudError, load_clouds_yaml

TESTBED_FORMAT = """
clouds:
  cloud-1:
    auth: {auth_url: "http://127.0.0.1:9001/identity/v3", username: admin, password: secret,
           project_name: admin, user_domain_name: Default, project_domain_name: Default}
    region_name: RegionOne
    interface: public
    identity_api_version: 3
    openstackoid:
      labels: {region: eu, tier: core, site: cloud-1}
      groups: [core]
      endpoints: {identity: "http://127.0.0.1:9001/identity/v3", image: "http://127.0.0.1:9001/image"}
  appcred:
    auth_type: v3applicationcredential
    auth: {auth_url: "https://k.example/v3", application_credential_id: abc}
    verify: false
    cacert: /etc/ca.pem
"""


def test_reads_the_testbed_format(tmp_path: Path) -> None:
    (tmp_path / "clouds.yaml").write_text(TESTBED_FORMAT)
    one, appcred = load_clouds_yaml(tmp_path / "clouds.yaml")
    assert one.name == "cloud-1" and one.region_name == "RegionOne"
    assert one.labels == {"region": "eu", "tier": "core", "site": "cloud-1"}
    assert one.groups == {"core"}
    assert one.endpoints["image"] == "http://127.0.0.1:9001/image"
    assert one.credentials is not None and one.credentials.password == "secret"
    assert appcred.verify is False and appcred.cacert == "/etc/ca.pem"
    assert appcred.credentials is not None and appcred.credentials.is_application_credential


def test_secure_yaml_is_merged(tmp_path: Path) -> None:
    (tmp_path / "clouds.yaml").write_text(TESTBED_FORMAT)
    (tmp_path / "secure.yaml").write_text(
        "clouds:\n  appcred:\n    auth: {application_credential_secret: topsecret}\n"
    )
    appcred = load_clouds_yaml(tmp_path / "clouds.yaml")[1]
    assert appcred.credentials is not None
    assert appcred.credentials.application_credential_secret == "topsecret"
    assert appcred.auth_url == "https://k.example/v3"


def test_missing_auth_url_is_named(tmp_path: Path) -> None:
    (tmp_path / "clouds.yaml").write_text("clouds:\n  broken:\n    auth: {username: u}\n")
    with pytest.raises(InvalidCloudError, match="'broken'.*auth_url"):
        load_clouds_yaml(tmp_path / "clouds.yaml")


@pytest.mark.parametrize("url", ["ftp://k.example/v3", "k.example/v3", "file:///etc/passwd"])
def test_an_auth_url_that_is_not_http_is_refused_as_elsewhere(tmp_path: Path, url: str) -> None:
    """The registry file's schema and the admin API refuse it; so does a clouds.yaml."""
    (tmp_path / "clouds.yaml").write_text(f"clouds:\n  odd:\n    auth: {{auth_url: '{url}'}}\n")
    with pytest.raises(InvalidCloudError) as refused:
        load_clouds_yaml(tmp_path / "clouds.yaml")
    assert str(refused.value) == (
        f"cloud 'odd' in clouds.yaml: auth.auth_url '{url}' is not an http(s) URL"
    )
