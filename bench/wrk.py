"""Load from wrk (Debian's package): a C load generator, so the load costs little CPU and
every contender is measured by the same client."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from bench.contenders import cpu_seconds

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}
_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.M)
_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_ERRORS = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_TOTAL = re.compile(r"(\d+) requests in")


class WrkMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class WrkResult:
    requests: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int

    def as_dict(self) -> dict[str, float | int]:
        return {
            "requests": self.requests,
            "requests_per_s": round(self.requests_per_s, 1),
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "errors": self.errors,
        }


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise WrkMissing("wrk is not installed: apt-get install -y wrk")
    return path


def parse_wrk(output: str) -> WrkResult:
    percentiles = {int(p): float(v) * _UNITS[unit] for p, v, unit in _PERCENTILE.findall(output)}
    rate = _RATE.search(output)
    total = _TOTAL.search(output)
    if rate is None or total is None or set(percentiles) != {50, 99}:
        raise ValueError(f"unreadable wrk output:\n{output}")
    errors = int(m.group(1)) if (m := _ERRORS.search(output)) else 0
    if m := _SOCKET_ERRORS.search(output):
        errors += sum(int(n) for n in m.groups())
    return WrkResult(
        int(total.group(1)), float(rate.group(1)), percentiles[50], percentiles[99], errors
    )


def run_wrk(
    url: str,
    headers: dict[str, str],
    seconds: int,
    connections: int,
    cores: str | None = None,
    script: str | None = None,
) -> WrkResult:
    """`cores` pins wrk (taskset), so it does not take the core of the server under test;
    `script` is a wrk Lua script shaping each request."""
    command = [wrk_path(), "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script is not None:
        command += ["-s", script]
    if cores is not None and shutil.which("taskset"):
        command = ["taskset", "-c", cores, *command]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(url)
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 30)
    return parse_wrk(done.stdout)


def cpu_under_load(
    url: str, pid: int, headers: dict[str, str], seconds: int, cores: str | None
) -> dict[str, float]:
    """wrk at 50 connections on ``url``, and the CPU process ``pid`` (children included)
    spent per request meanwhile."""
    before = cpu_seconds(pid)
    result = run_wrk(url, headers, seconds, 50, cores=cores)
    cpu = cpu_seconds(pid) - before
    return {
        "requests_per_s": result.requests_per_s,
        "cpu_us_per_request": cpu / max(result.requests, 1) * 1e6,
        "errors": float(result.errors),
    }
