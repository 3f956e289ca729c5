"""The scope baked into an auth_url; the hook's errors and warnings with real openstacksdk."""

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from openstackoid.cli import main
from openstackoid.cli_plugin import connect
from openstackoid.cli_plugin.errors import ScopeConfigError, ScopeUrlError
from openstackoid.cli_plugin.scope_url import (
    bake_cloud_entry,
    braces_hint,
    scoped_auth_url,
    url_scope_of,
)
from openstackoid.cli_plugin.scope_value import scope_argument
from openstackoid.scope_dsl import parse_scope

PROXY = "http://proxy.example:8080"
SEED = "{keystone: cloud-1; glance: cloud-2}"
C1_C2 = "identity:cloud-1;image:cloud-2"


def _entry(auth_url: str = f"{PROXY}/identity/v3", **extra: object) -> dict[str, object]:
    auth = {"auth_url": auth_url, "username": "admin", "password": "secret"}
    return {"auth": {**auth, "project_name": "admin"}, "region_name": "RegionOne", **extra}


@pytest.mark.parametrize(
    ("scope", "url"),
    [
        (SEED, f"{PROXY}/scope/{C1_C2}/identity/v3"),
        (
            "keystone: cloud-1; glance: cloud-2 | cloud-3",
            f"{PROXY}/scope/{C1_C2}%7Ccloud-3/identity/v3",
        ),
        ({"keystone": "cloud-1", "glance": "cloud-2"}, f"{PROXY}/scope/{C1_C2}/identity/v3"),
        ("fed-c2", f"{PROXY}/scope/fed-c2/identity/v3"),  # a named scope (or a cloud) stays
        (scope_argument("fed-c2"), f"{PROXY}/scope/fed-c2/identity/v3"),  # --scope fed-c2
    ],
)
def test_the_scope_goes_before_identity(scope: object, url: str) -> None:
    assert scoped_auth_url(f"{PROXY}/identity/v3", scope) == url


def test_a_scope_already_there_is_replaced_and_a_path_prefix_kept() -> None:
    once = scoped_auth_url("https://h/os/identity/v3/", "cloud-1")
    assert once == "https://h/os/scope/cloud-1/identity/v3"
    assert scoped_auth_url(once, "fed-c2") == "https://h/os/scope/fed-c2/identity/v3"
    assert url_scope_of(once) == "cloud-1"
    assert url_scope_of(scoped_auth_url(once, SEED)) == parse_scope(SEED)
    assert url_scope_of("https://h/identity/v3") is None


def test_an_auth_url_that_is_not_the_proxys_is_an_error() -> None:
    with pytest.raises(ScopeUrlError, match="no /identity path"):
        scoped_auth_url("http://keystone:5000/v3", SEED)


def test_a_braced_clouds_yaml_scope_gets_the_brace_free_line() -> None:
    hint = braces_hint(SEED)
    assert hint is not None and 'scope: "identity: cloud-1; image: cloud-2"' in hint
    assert braces_hint("keystone: cloud-1; glance: cloud-2") is None


def test_bake_moves_scope_into_the_auth_url() -> None:
    baked = bake_cloud_entry(_entry(scope="keystone: cloud-1; glance: cloud-2"))
    assert "scope" not in baked
    assert baked["auth"]["auth_url"] == f"{PROXY}/scope/identity:cloud-1;image:cloud-2/identity/v3"
    with pytest.raises(ScopeConfigError, match="no `scope:`"):
        bake_cloud_entry(_entry())


def _clouds_yaml(path: Path, **entries: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump({"clouds": entries}))
    path.chmod(0o600)
    return path


def test_openstackoid_scope_url_and_bake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _clouds_yaml(tmp_path / "clouds.yaml", fed=_entry(scope=SEED), other=_entry())
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(path))
    monkeypatch.delenv("OS_SCOPE", raising=False)
    assert main(["scope", "url", "--os-cloud", "fed"]) == 0
    assert capsys.readouterr().out.strip() == f"{PROXY}/scope/{C1_C2}/identity/v3"
    assert main(["scope", "url", "--os-auth-url", f"{PROXY}/identity/v3", "--scope", "fed-c2"]) == 0
    assert capsys.readouterr().out.strip() == f"{PROXY}/scope/fed-c2/identity/v3"
    assert main(["scope", "url", "--os-cloud", "other", "--scope", "glance: clod-2 |"]) == 1
    assert "  glance: clod-2 |\n" in capsys.readouterr().err  # the caret's line, unwrapped
    assert main(["scope", "bake", "--os-cloud", "fed"]) == 0
    saved = yaml.safe_load(path.read_text())["clouds"]
    assert "scope" not in saved["fed"] and saved["other"] == _entry()
    assert saved["fed"]["auth"]["auth_url"].startswith(f"{PROXY}/scope/identity:cloud-1;")
    assert (path.stat().st_mode & 0o777) == 0o600  # it holds passwords
    assert yaml.safe_load((tmp_path / "clouds.yaml.bak").read_text())["clouds"]["fed"]["scope"]


def _plain_sdk(tmp_path: Path, script: str, **entry: object) -> subprocess.CompletedProcess[str]:
    """openstacksdk alone in a fresh interpreter (no cli_plugin imported), on a clouds.yaml."""
    path = _clouds_yaml(tmp_path / "clouds.yaml", fed=_entry(**entry))
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(path)}
    env.pop("OS_SCOPE", None)
    code = textwrap.dedent(script) + "\nimport sys; assert 'cli_plugin' not in sys.modules\n"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )


def test_the_clouds_yaml_form_never_crashes_a_plain_consumer(tmp_path: Path) -> None:
    load = "import openstack.config; openstack.config.OpenStackConfig().get_one(cloud='fed')"
    ok = _plain_sdk(tmp_path, load, scope="keystone: cloud-1; glance: cloud-2")
    assert ok.returncode == 0, ok.stderr
    # The braced string is what crashes a consumer without the plugin: the hint is right.
    crashed = _plain_sdk(tmp_path, load, scope=SEED)
    assert crashed.returncode != 0 and "KeyError" in crashed.stderr


def test_a_bad_scope_in_the_hook_reaches_the_user(tmp_path: Path) -> None:
    """openstacksdk swallows a ValueError from a vendor_hook ("Hook should be in the
    entrypoint module:attribute format") and goes on unscoped: ours must get through."""
    result = _plain_sdk(
        tmp_path,
        """
        import openstack
        try:
            openstack.connect(cloud='fed', vendor_hook='openstackoid.cli_plugin.hook:attach_scope')
        except Exception as exc:
            print(type(exc).__name__, exc, sep='\\n')
            raise SystemExit(3)
        """.replace("import sys; assert 'cli_plugin' not in sys.modules", ""),
        scope="keystone: cloud-1; glance: clod-2 |",
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Hook should be" not in result.stderr
    name, message = result.stdout.split("\n", 1)
    assert name == "ScopeConfigError"
    assert "expected a cloud after the operator" in message
    assert "glance: clod-2 |\n" in message and "^" in message


def test_connect_warns_when_header_and_url_disagree(caplog: pytest.LogCaptureFixture) -> None:
    url = scoped_auth_url(f"{PROXY}/identity/v3", "{glance: cloud-3}")
    auth = _entry(url)["auth"]
    with caplog.at_level(logging.WARNING, logger="openstackoid"):
        conn = connect(auth=auth, scope=SEED)
    assert conn.session.additional_headers["X-Scope"] == "{identity: cloud-1; image: cloud-2}"
    assert "the proxy applies X-Scope" in caplog.text and "{image: cloud-3}" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="openstackoid"):
        connect(auth=_entry(scoped_auth_url(f"{PROXY}/identity/v3", SEED))["auth"], scope=SEED)
    assert caplog.text == ""  # the same scope twice: nothing to say


def test_connect_with_a_bad_scope_raises_the_scope_error() -> None:
    with pytest.raises(ValueError, match=r"(?s)expected a cloud after the operator.*\^"):
        connect(auth=_entry()["auth"], scope="{glance: cloud-2 |}")
