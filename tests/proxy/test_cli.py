"""`openstackoid proxy` serves a registry from a clouds.yaml until SIGTERM."""

import asyncio
import logging
import multiprocessing
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
import yaml

from bench.servers import add_fleet_rules
from openstackoid.proxy.cli import _bind_all, _serve, access_entries, workers_exit_code
from openstackoid.proxy.config import ProxyConfig
from openstackoid.proxy.metrics import FLUSH_SECONDS
from openstackoid.testbed import Testbed
from tests.processes import free_port, health, start_proxy, stop, wait_for_line


async def _start_proxy(
    testbed: Testbed,
    tmp_path: Path,
    *args: str,
    stderr: int | None = None,
    fleet_rules: bool = False,
) -> tuple[asyncio.subprocess.Process, str]:
    """`openstackoid proxy` over the testbed's clouds.yaml on a free port: process, base URL.
    `fleet_rules`: the clouds.yaml also maps every cloud's members to the others (the
    default is deny), as bench.servers.add_fleet_rules sets it up."""
    clouds_yaml = testbed.write_clouds_yaml(tmp_path / "clouds.yaml")
    if fleet_rules:
        await add_fleet_rules(str(clouds_yaml))
    return await start_proxy("--clouds-yaml", str(clouds_yaml), *args, stderr=stderr)


async def test_proxy_command_serves_and_stops_gracefully(testbed: Testbed, tmp_path: Path) -> None:
    process, base = await _start_proxy(testbed, tmp_path, "--default-scope", "{*: cloud-2}")
    try:
        async with aiohttp.ClientSession() as session:
            assert (await health(session, base))["clouds"] == 3
            async with session.get(f"{base}/identity/v3") as resp:
                assert resp.status == 200
        assert [r.path for r in testbed.requests("cloud-2")] == ["/identity/v3"]
    finally:
        await _stop(process)


async def _requests_counted(session: aiohttp.ClientSession, base: str) -> float:
    """openstackoid_requests_total, every label summed, as one scrape of /metrics says."""
    async with session.get(f"{base}/metrics") as resp:
        text = await resp.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("openstackoid_requests_total{")
    )


async def test_workers_share_one_metrics_view(testbed: Testbed, tmp_path: Path) -> None:
    """With --workers 2 the kernel spreads connections over both; /metrics in either worker
    counts every request the proxy answered."""
    process, base = await _start_proxy(
        testbed,
        tmp_path,
        "--default-scope",
        "{*: cloud-1}",
        "--workers",
        "2",
        "--scope-memory",
        "local",
    )
    sent = 40
    try:
        # A new connection per request: reuse_port spreads connections, not requests.
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            await health(session, base)
            for _ in range(sent):
                async with session.get(f"{base}/identity/v3") as resp:
                    assert resp.status == 200
            # Each worker folds its counts in every FLUSH_SECONDS: wait (bounded) until a
            # scrape sees them all, then every scrape, on either worker, must see them all.
            async with asyncio.timeout(10 * FLUSH_SECONDS + 10):
                while await _requests_counted(session, base) < sent:
                    await asyncio.sleep(0.05)
            counts = [await _requests_counted(session, base) for _ in range(10)]
        assert counts == [sent] * 10
    finally:
        await _stop(process)


async def test_workers_write_the_access_log(testbed: Testbed, tmp_path: Path) -> None:
    """`--access-log --workers 2`: each spawned worker logs its requests (a spawned process
    starts with logging unconfigured, and its INFO lines used to vanish), one line each."""
    process, base = await _start_proxy(
        testbed,
        tmp_path,
        "--default-scope",
        "{*: cloud-1}",
        "--workers",
        "2",
        "--scope-memory",
        "local",
        "--access-log",
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    lines: list[str] = []

    async def collect(stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            lines.append(line.decode())

    sent: list[str] = []
    async with asyncio.TaskGroup() as group:
        group.create_task(collect(process.stderr))
        try:
            # Both workers up first (each logs its notice), so the requests spread over both.
            for _ in range(300):
                if sum("openstackoid.proxy serving 3 clouds" in line for line in lines) == 2:
                    break
                await asyncio.sleep(0.1)
            connector = aiohttp.TCPConnector(force_close=True)  # connections spread
            async with aiohttp.ClientSession(connector=connector) as session:
                await health(session, base)
                for _ in range(20):
                    async with session.get(f"{base}/identity/v3") as resp:
                        assert resp.status == 200
                        sent.append(resp.headers["X-Openstackoid-Request-Id"])
        finally:
            process.send_signal(signal.SIGTERM)  # stderr ends once every worker has exited
        assert await stop(process, signum=None, drain=False) == 0  # `collect` reads
    stderr = "".join(lines)
    logged = access_entries(stderr)
    assert sorted(entry["id"] for entry in logged) == sorted(sent)
    assert len(set(sent)) == 20  # workers never share request ids
    assert stderr.count("openstackoid.proxy serving 3 clouds") == 2  # each worker's notice


async def _stop(process: asyncio.subprocess.Process) -> None:
    assert await stop(process) == 0


async def _run_cli(*argv: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "openstackoid.cli", *argv, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, err.decode()


async def test_a_port_already_served_is_named_and_refused(testbed: Testbed, tmp_path: Path) -> None:
    """A second proxy on a port a running proxy serves (its workers share it through
    SO_REUSEPORT) must not join it: exit 2, the port named, the first one untouched."""
    process, base = await _start_proxy(
        testbed, tmp_path, "--default-scope", "{*: cloud-1}", "--workers", "2",
        "--scope-memory", "local",
    )  # fmt: skip
    port = base.rsplit(":", 1)[1]
    try:
        async with aiohttp.ClientSession() as session:
            await health(session, base)
        for workers in ("1", "2"):
            code, err = await _run_cli(
                "proxy", "--clouds-yaml", str(tmp_path / "clouds.yaml"), "--port", port,
                "--workers", workers, "--scope-memory", "local",
            )  # fmt: skip
            assert code == 2
            assert err.strip().splitlines() == [
                f"openstackoid proxy: error: port {port} on 127.0.0.1 is already in use by "
                "another process: stop it or choose another port"
            ]
    finally:
        await _stop(process)


async def test_default_scope_naming_no_registered_cloud_is_refused(
    testbed: Testbed, tmp_path: Path
) -> None:
    clouds_yaml = testbed.write_clouds_yaml(tmp_path / "clouds.yaml")
    code, err = await _run_cli(
        "proxy", "--clouds-yaml", str(clouds_yaml), "--port", "0",
        "--default-scope", "{keystone: cloud-1; glance: cloud-1 | clod-2}",
    )  # fmt: skip
    assert code == 2
    assert "openstackoid proxy: error: --default-scope" in err
    assert "image: no cloud 'clod-2' (did you mean cloud-2" in err
    assert "Traceback" not in err


async def test_an_empty_registry_is_said_loudly(tmp_path: Path) -> None:
    empty = tmp_path / "clouds.yaml"
    empty.write_text("clouds: {}\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "openstackoid.cli", "proxy", "--clouds-yaml", str(empty),
        "--port", "0", stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    seen: list[str] = []
    try:
        warning = await wait_for_line(process.stderr, "NO CLOUDS", seen)
        assert "every request will fail" in warning
        line = await wait_for_line(process.stderr, "serving 0 clouds", seen)
        async with aiohttp.ClientSession() as session:
            assert (await health(session, line.rsplit(" on ", 1)[1].strip()))["clouds"] == 0
    finally:
        await _stop(process)


def _fleet(testbed: Testbed, path: Path, names: set[str]) -> Path:
    """The testbed's clouds.yaml keeping only `names`."""
    testbed.write_clouds_yaml(path)
    document = yaml.safe_load(path.read_text())
    document["clouds"] = {k: v for k, v in document["clouds"].items() if k in names}
    path.write_text(yaml.safe_dump(document))
    return path


async def test_sighup_reloads_the_clouds_yaml(testbed: Testbed, tmp_path: Path) -> None:
    """The running proxy applies the file's changes on SIGHUP: a cloud added and one removed,
    each seen by routing at once; a broken file leaves the previous registry serving."""
    clouds_yaml = _fleet(testbed, tmp_path / "fleet.yaml", {"cloud-1", "cloud-2"})
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "openstackoid.cli", "proxy", "--clouds-yaml", str(clouds_yaml),
        "--port", "0", "--workers", "2", "--scope-memory", "local",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    seen: list[str] = []

    async def status(session: aiohttp.ClientSession, base: str, cloud: str) -> int:
        # HEAD: a GET of a discovery path is answered whatever the scope (proxy/versions.py)
        headers = {"X-Scope": f"{{keystone: {cloud}}}"}
        async with session.head(f"{base}/identity/v3", headers=headers) as resp:
            return resp.status

    try:
        line = await wait_for_line(process.stderr, "serving 2 clouds", seen)
        await wait_for_line(process.stderr, "serving 2 clouds", seen)  # both workers
        base = line.rsplit(" on ", 1)[1].strip()
        async with aiohttp.ClientSession() as session:
            assert [await status(session, base, c) for c in ("cloud-2", "cloud-3")] == [200, 400]
            _fleet(testbed, clouds_yaml, {"cloud-1", "cloud-3"})
            process.send_signal(signal.SIGHUP)
            for _ in range(2):  # each worker
                line = await wait_for_line(process.stderr, "SIGHUP", seen)
                assert "registry reloaded: 1 added, 0 changed, 1 removed; 2 clouds" in line
            for _ in range(4):  # connections land on either worker
                assert [await status(session, base, c) for c in ("cloud-2", "cloud-3")] == [
                    400,
                    200,
                ]
            clouds_yaml.write_text("clouds: [\n")
            process.send_signal(signal.SIGHUP)
            line = await wait_for_line(process.stderr, "SIGHUP", seen)
            assert "NOT reloaded" in line
            assert await status(session, base, "cloud-3") == 200
    finally:
        await _stop(process)


async def test_a_worker_still_stopping_at_its_bound_ends_saying_on_what(
    testbed: Testbed, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A request its cloud holds keeps aiohttp draining (SHUTDOWN_TIMEOUT, twice: 61 s):
    the worker ends `stop_within` after SIGTERM all the same, logging what it waited on."""
    clouds_yaml = testbed.write_clouds_yaml(tmp_path / "clouds.yaml")
    config = ProxyConfig(
        clouds_yaml=str(clouds_yaml), default_scope="{*: cloud-1}", port=free_port()
    )
    listeners = _bind_all(config)[0]
    worker = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(config, listeners), kwargs={"stop_within": 2.0}
    )
    worker.start()
    listeners.main.close()
    base = f"http://127.0.0.1:{config.port}"
    loop = asyncio.get_running_loop()
    try:
        async with aiohttp.ClientSession() as session:
            await health(session, base)
            testbed.hold("cloud-1")
            held = loop.create_task(session.get(f"{base}/identity/v3"))
            while testbed.held("cloud-1") == 0:
                await asyncio.sleep(0.02)
            assert worker.pid is not None
            os.kill(worker.pid, signal.SIGTERM)
            signalled = loop.time()
            while worker.is_alive() and loop.time() - signalled < 20:
                await asyncio.sleep(0.05)
            took = loop.time() - signalled
            held.cancel()
        assert worker.exitcode == 1
        assert took < 2.0 + 2  # room for a busy machine
        err = capfd.readouterr().err
        assert "not ended 2 s after the stop signal" in err
        assert "shutdown overdue, still waiting: " in err
        assert "serve_service" in err  # the handler of the held request
    finally:
        testbed.release("cloud-1")
        if worker.is_alive():
            worker.kill()
        worker.join()


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_stop_as_the_workers_start_leaves_none_running(
    testbed: Testbed, tmp_path: Path
) -> None:
    """SIGTERM as the first worker is spawned: the proxy ends, every worker with it.
    (The parent set its relay once all had started: it alone ended, its workers served on.)
    The proxy leads a process group of its own: whatever it leaves is found, and killed."""
    clouds_yaml = testbed.write_clouds_yaml(tmp_path / "clouds.yaml")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "openstackoid.cli", "proxy", "--port", str(free_port()),
        "--clouds-yaml", str(clouds_yaml), "--workers", "2", "--scope-memory", "local",
        start_new_session=True,
    )  # fmt: skip
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    try:
        async with asyncio.timeout(60):
            while process.returncode is None and not children.read_text().strip():
                await asyncio.sleep(0.001)
        process.send_signal(signal.SIGTERM)
        assert await stop(process, signum=None) == 0
        async with asyncio.timeout(15):  # a worker signalled as it started ends too
            while _group_alive(process.pid):
                await asyncio.sleep(0.05)
    finally:
        if _group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)


def test_the_proxy_exits_1_when_a_worker_did_not_end_cleanly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    context = multiprocessing.get_context("spawn")
    clean, failed = (
        context.Process(target=sys.exit, args=(0,)),
        context.Process(target=sys.exit, args=(1,)),
    )
    for worker in (clean, failed):
        worker.start()
        worker.join()
    assert workers_exit_code([clean]) == 0
    with caplog.at_level(logging.ERROR, "openstackoid.proxy"):
        assert workers_exit_code([clean, failed]) == 1
    assert f"worker pid {failed.pid} ended with exit code 1" in caplog.text
