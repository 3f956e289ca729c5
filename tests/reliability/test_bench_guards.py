"""The benches refuse figures from broken runs: wrk errors, or a process that ran out of file
descriptors ("Too many open files" is caught in its stderr, not left scrolling by)."""

from __future__ import annotations

import multiprocessing
import resource
import socket
import traceback
from pathlib import Path
from typing import Any

from bench.bench_scale import _judged
from bench.run_all import check_targets
from bench.servers import LOGS, _log_stderr, descriptor_exhaustion
from bench.wrk import WrkResult


def _exhaust_descriptors(log: str) -> None:
    """A spawned process that opens sockets until the kernel says EMFILE, and logs it."""
    _log_stderr(log)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    held = []
    try:
        while True:
            held.append(socket.socket())
    except OSError:
        traceback.print_exc()  # as asyncio's accept loop logs it


def test_a_process_out_of_descriptors_is_found_in_its_stderr(tmp_path: Path) -> None:
    log = tmp_path / "testbed-c10000.stderr"
    process = multiprocessing.get_context("spawn").Process(
        target=_exhaust_descriptors, args=(str(log),)
    )
    process.start()
    assert process.pid is not None
    LOGS[process.pid] = log
    process.join(30)
    assert descriptor_exhaustion([process]) == {"testbed-c10000": 1}
    healthy = tmp_path / "openstackoid.proxy.stderr"
    healthy.write_text("INFO all fine\n")
    LOGS[-2] = healthy

    class Clean:
        pid = -2

    assert descriptor_exhaustion([Clean()]) == {}  # type: ignore[list-item]


def _round(requests: int, errors: int = 0, cpu: float = 100.0) -> dict[str, Any]:
    return {
        "wrk": WrkResult(requests, requests / 2, 1.0, 2.0, errors),
        "cpu_us_per_request": cpu,
    }


def _scale(**overrides: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    rounds = {"1": [_round(1000)], "100": [_round(900)], "10000, working set 100": [_round(880)]}
    rounds.update(overrides)
    runs = [(1, "1", (1, 1)), (100, "100", (1, 100)), (10000, "10000, working set 100", (1, 100))]
    results = {
        f"{name} clouds": {"errors": sum(r["wrk"].errors for r in rounds[name])}
        for _, name, _ in runs
    }
    return rounds, {"results": results, "runs": runs}


def test_scale_gives_ratios_only_for_clean_runs() -> None:
    rounds, setup = _scale()
    clean = _judged(setup["results"], rounds, setup["runs"], {})
    assert clean["ratios"]["throughput per core at 10000, working set 100 / 1"] == 1.0
    rounds, setup = _scale(**{"10000, working set 100": [_round(880, errors=12)]})
    errored = _judged(setup["results"], rounds, setup["runs"], {})
    assert "ratios" not in errored and errored["failed"] == {"10000, working set 100 clouds": 12}
    rounds, setup = _scale()
    exhausted = _judged(setup["results"], rounds, setup["runs"], {"testbed-c10000": 47230})
    assert "ratios" not in exhausted
    assert exhausted["invalid"] == {"testbed-c10000": "47230 x 'Too many open files'"}
    rounds, setup = _scale(**{"100": [_round(0)]})
    assert "ratios" not in _judged(setup["results"], rounds, setup["runs"], {})


def test_an_invalid_run_meets_no_target() -> None:
    key = "throughput per core at 10000, working set 100 / 1"
    results = {"bench.bench_scale": {"invalid": {"testbed-c10000": "3 x 'Too many open files'"}}}
    (target,) = [t for name, t in check_targets(results).items() if key in name]
    assert target["met"] is False and "testbed-c10000" in target["invalid"]
    results = {"bench.bench_scale": {"ratios": {key: 0.95}}}
    (target,) = [t for name, t in check_targets(results).items() if key in name]
    assert target["met"] is True
