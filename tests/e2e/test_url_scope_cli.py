"""The real `openstack` CLI with the plugin: `scope url`, errors and warnings where a scope
could otherwise fail to apply unnoticed."""

import importlib.metadata
import json
import os
from pathlib import Path

import pytest

from openstackoid.testbed.cli_runner import run_openstack
from tests.e2e.url_scope_clients import clouds_yaml, served
from tests.federation import FederationFactory

pytestmark = pytest.mark.e2e


def _scope_url_entry_point(tmp_path: Path) -> dict[str, str]:
    """`openstack scope url` is declared in pyproject.toml; until the package is installed
    again, a dist-info on PYTHONPATH declares it the same way (entry points are read from
    every dist-info on sys.path)."""
    declared = importlib.metadata.entry_points(group="openstack.scope.v1")
    if any(e.name == "scope_url" for e in declared):
        return {}
    info = tmp_path / "entry-points" / "openstackoid_scope_url-0.dist-info"
    info.mkdir(parents=True)
    metadata = "Metadata-Version: 2.1\nName: openstackoid-scope-url\nVersion: 0\n"
    (info / "METADATA").write_text(metadata)
    (info / "entry_points.txt").write_text(
        "[openstack.scope.v1]\nscope_url = cli_plugin.scope_url_command:ScopeUrl\n"
    )
    return {"PYTHONPATH": f"{os.environ.get('PYTHONPATH', '')}:{info.parent}"}


async def test_openstack_scope_url_prints_the_scoped_auth_url(tmp_path: Path) -> None:
    config = clouds_yaml(
        tmp_path / "clouds.yaml",
        "http://proxy:8080/identity/v3",
        scope="keystone: cloud-1; glance: cloud-2",
    )
    env = _scope_url_entry_point(tmp_path)
    code, out, err = await run_openstack(
        "--os-cloud", "fed", "scope", "url", clouds_yaml=config, env=env
    )
    assert code == 0, err
    assert out.strip() == "http://proxy:8080/scope/identity:cloud-1;image:cloud-2/identity/v3"
    code, out, err = await run_openstack(
        "--os-cloud", "fed", "--scope", "fed-c2", "scope", "url", clouds_yaml=config, env=env
    )
    assert code == 0, err
    assert out.strip() == "http://proxy:8080/scope/fed-c2/identity/v3"


async def test_a_bad_clouds_yaml_scope_stops_the_command_with_the_caret(
    make_federation: FederationFactory, tmp_path: Path
) -> None:
    fed = await make_federation(default_scope="{*: cloud-3}")
    bad = "keystone: cloud-1; glance: clod-2 |"
    login = fed.bed.cloud("cloud-1")
    config = clouds_yaml(tmp_path / "clouds.yaml", f"{fed.url}/identity/v3", login, scope=bad)
    code, out, err = await run_openstack("--os-cloud", "fed", "image", "list", clouds_yaml=config)
    assert code != 0
    assert "Hook should be" not in err
    assert "expected a cloud after the operator" in err and "^" in err
    assert not served(fed, "cloud-3", "/image/")  # never the default, silently


async def test_a_braced_clouds_yaml_scope_works_and_says_how_to_write_it(
    make_federation: FederationFactory, tmp_path: Path
) -> None:
    fed = await make_federation(default_scope="{*: cloud-3}")
    braced = "{keystone: cloud-1; glance: cloud-2}"
    login = fed.bed.cloud("cloud-1")
    config = clouds_yaml(tmp_path / "clouds.yaml", f"{fed.url}/identity/v3", login, scope=braced)
    code, out, err = await run_openstack(
        "--os-cloud", "fed", "image", "list", "-f", "json", clouds_yaml=config
    )
    assert code == 0, err
    assert [i["ID"] for i in json.loads(out)] == [fed.bed.cloud("cloud-2").image_id]
    assert 'Write `scope: "identity: cloud-1; image: cloud-2"` instead' in err


async def test_a_header_overriding_the_url_scope_is_told(
    make_federation: FederationFactory, tmp_path: Path
) -> None:
    fed = await make_federation(default_scope="{*: cloud-3}")
    url = f"{fed.url}/scope/cloud-3/identity/v3"
    config = clouds_yaml(tmp_path / "clouds.yaml", url, fed.bed.cloud("cloud-1"))
    code, out, err = await run_openstack(
        "--os-cloud", "fed", "--scope", "{keystone: cloud-1; glance: cloud-2}",
        "image", "list", "-f", "json", clouds_yaml=config,
    )  # fmt: skip
    assert code == 0, err
    assert [i["ID"] for i in json.loads(out)] == [fed.bed.cloud("cloud-2").image_id]
    assert "the auth_url carries scope cloud-3 but X-Scope says" in err
    assert not served(fed, "cloud-3", "/image/")
