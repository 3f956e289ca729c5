"""`openstack scope check` asks the proxy whatever gives the credentials; a bad scope is
one error, not the global usage."""

import os
from pathlib import Path

import pytest

from openstackoid.testbed.cli_runner import run_openstack
from tests.federation import FederationFactory

pytestmark = pytest.mark.e2e


def _env_credentials(url: str) -> dict[str, str]:
    return {
        "OS_AUTH_URL": f"{url}/identity/v3",
        "OS_USERNAME": "admin",
        "OS_PASSWORD": "secret",
        "OS_PROJECT_NAME": "admin",
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_IDENTITY_API_VERSION": "3",
    }


@pytest.fixture
def no_os_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No OS_* from the calling shell, and a clouds.yaml that names no cloud."""
    for key in list(os.environ):
        if key.startswith("OS_"):
            monkeypatch.delenv(key)
    empty = tmp_path / "empty-clouds.yaml"
    empty.write_text("clouds: {}\n")
    return empty


@pytest.mark.parametrize("how", ["env", "flag"])
async def test_scope_check_asks_the_proxy_with_os_auth_url(
    make_federation: FederationFactory, no_os_env: Path, how: str
) -> None:
    federation = await make_federation(default_scope="{*: cloud-1}")
    credentials = _env_credentials(federation.url)
    if how == "env":
        env, flags = credentials, []
    else:
        env, flags = {}, ["--os-auth-url", credentials.pop("OS_AUTH_URL")]
        env = credentials
    code, _, err = await run_openstack(
        *flags, "scope", "check", "{glance: clod-2}", clouds_yaml=no_os_env, env=env
    )
    assert code == 1
    assert "Unknown cloud 'clod-2'. Did you mean 'cloud-2'" in err
    code, out, err = await run_openstack(
        *flags, "scope", "check", "{glance: cloud-2}", "-f", "value", clouds_yaml=no_os_env, env=env
    )
    assert code == 0, err
    assert "resolved by the proxy" not in out and "cloud-2" in out


@pytest.mark.parametrize(
    ("argv", "env", "where"),
    [
        (["--os-scope", "{glance: cloud-1 &", "image", "list"], {}, "argument --os-scope"),
        (["image", "list", "--scope", "{glance: ;}"], {}, "argument --scope"),
        (["image", "list"], {"OS_SCOPE": "{glance"}, "OS_SCOPE"),
    ],
)
async def test_scope_syntax_error_alone(
    no_os_env: Path, argv: list[str], env: dict[str, str], where: str
) -> None:
    code, out, err = await run_openstack(*argv, clouds_yaml=no_os_env, env=env)
    assert code == 2 and out == ""
    assert "usage:" not in err
    lines = err.splitlines()
    assert lines[0].startswith(f"openstack: error: {where}: Invalid scope")
    assert len(lines) == 3 and lines[2].strip() == "^"  # message, scope, caret
