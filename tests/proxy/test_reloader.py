"""SIGHUP's reload, in process: real files read again and applied to the running Registry.
(tests/proxy/test_cli.py sends the real signal to a real proxy.)"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from openstackoid.proxy.config import ProxyConfig
from openstackoid.proxy.registry_source import load_registry
from openstackoid.proxy.reloader import Reloader
from openstackoid.registry import Cloud, Registry


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    """A reload freezes the heap for the cyclic GC (a proxy's one registry); not the suite's."""
    yield
    gc.unfreeze()


def _write(path: Path, clouds: dict[str, str]) -> Path:
    """A clouds.yaml of `clouds` (name -> region)."""
    document = {
        "clouds": {
            name: {"auth": {"auth_url": f"http://127.0.0.1:1/{name}/v3"}, "region_name": region}
            for name, region in clouds.items()
        }
    }
    path.write_text(yaml.safe_dump(document))
    return path


async def _reloader(tmp_path: Path, clouds: dict[str, str], **config: str) -> Reloader:
    path = _write(tmp_path / "clouds.yaml", clouds)
    proxy_config = ProxyConfig(clouds_yaml=str(path), **config)  # type: ignore[arg-type]
    return Reloader(proxy_config, await load_registry(proxy_config))


def _regions(registry: Registry) -> dict[str, str | None]:
    return {cloud.name: cloud.region_name for cloud in registry}


async def test_added_changed_and_removed_clouds_are_applied_in_place(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reloader = await _reloader(tmp_path, {"a": "r1", "b": "r1", "c": "r1"})
    registry = reloader.registry
    _write(tmp_path / "clouds.yaml", {"a": "r1", "b": "r2", "d": "r1"})
    with caplog.at_level(logging.INFO, logger="openstackoid.proxy"):
        await reloader.reload()
    assert reloader.registry is registry  # the running one, changed, not replaced
    assert _regions(registry) == {"a": "r1", "b": "r2", "d": "r1"}
    assert reloader.sourced == {"a", "b", "d"}
    assert "SIGHUP: registry reloaded: 1 added, 1 changed, 1 removed; 3 clouds" in caplog.text


async def test_clouds_the_files_never_held_survive_a_reload(tmp_path: Path) -> None:
    """A cloud added through the admin API is not the file's to remove."""
    reloader = await _reloader(tmp_path, {"a": "r1"})
    reloader.registry.upsert(Cloud("admin-added", "http://127.0.0.1:1/v3"))
    _write(tmp_path / "clouds.yaml", {"b": "r1"})
    await reloader.reload()
    assert set(_regions(reloader.registry)) == {"admin-added", "b"}


@pytest.mark.parametrize(
    "broken",
    [
        "clouds: [\n",
        "clouds: {a: {auth: {}}}\n",
        "clouds: {a: {auth: {auth_url: 'ftp://a/v3'}}}\n",
        None,
    ],
)
async def test_a_broken_or_missing_file_keeps_the_previous_registry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, broken: str | None
) -> None:
    reloader = await _reloader(tmp_path, {"a": "r1", "b": "r1"})
    path = tmp_path / "clouds.yaml"
    if broken is None:
        path.unlink()
    else:
        path.write_text(broken)
    with caplog.at_level(logging.INFO, logger="openstackoid.proxy"):
        await reloader.reload()
    assert _regions(reloader.registry) == {"a": "r1", "b": "r1"}
    assert reloader.sourced == {"a", "b"}
    (record,) = [r for r in caplog.records if r.name == "openstackoid.proxy"]
    assert record.levelno == logging.ERROR
    assert "SIGHUP: registry NOT reloaded, still serving the previous one: " in record.message
    assert "Traceback" not in caplog.text


async def test_a_default_cloud_gone_is_warned_of(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reloader = await _reloader(tmp_path, {"cloud-1": "r1"}, default_scope="{*: cloud-1}")
    _write(tmp_path / "clouds.yaml", {"cloud-2": "r1"})
    with caplog.at_level(logging.INFO, logger="openstackoid.proxy"):
        await reloader.reload()
    warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "the default scope names a cloud no longer registered: *: no cloud 'cloud-1' "
        "(did you mean cloud-2?)"
    ]


async def test_request_runs_the_reload_off_the_signal_handler(tmp_path: Path) -> None:
    """request() is the SIGHUP handler: it only schedules, and keeps the task referenced."""
    reloader = await _reloader(tmp_path, {"a": "r1"})
    _write(tmp_path / "clouds.yaml", {"b": "r1"})
    reloader.request()
    assert set(_regions(reloader.registry)) == {"a"}  # nothing done inside the handler
    (task,) = reloader._tasks
    async with asyncio.timeout(60):  # a bound for a hang, not a measure
        await task
    assert set(_regions(reloader.registry)) == {"b"}
    assert not reloader._tasks  # the reference dropped once done
