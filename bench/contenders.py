"""The reverse proxies openstackoid is compared with, each started as its own process on
loopback: nginx and HAProxy from Debian's packages (installed on demand), and the smallest
useful aiohttp forwarder."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PACKAGES = {"nginx": "nginx-light", "haproxy": "haproxy", "wrk": "wrk"}
_BINARIES = {"nginx": "/usr/sbin/nginx", "haproxy": "/usr/sbin/haproxy", "wrk": "/usr/bin/wrk"}
_TICKS = os.sysconf("SC_CLK_TCK")


def ensure_installed(*tools: str) -> list[str]:
    """Install missing Debian packages; returns the tools still missing (no apt, no root)."""
    missing = [t for t in tools if not (shutil.which(t) or Path(_BINARIES[t]).exists())]
    if missing and shutil.which("apt-get") and os.geteuid() == 0:
        packages = [PACKAGES[t] for t in missing]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", *packages]
        if subprocess.run(install, capture_output=True, env=env).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
            subprocess.run(install, capture_output=True, env=env)
    return [t for t in tools if not (shutil.which(t) or Path(_BINARIES[t]).exists())]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its descendants (nginx works in children)."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / _TICKS
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_seconds(int(child))
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


@dataclass
class Daemon:
    """A contender running in the background; stop() kills it and removes its files."""

    name: str
    process: subprocess.Popen[bytes]
    workdir: tempfile.TemporaryDirectory[str]

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.workdir.cleanup()


def _start(name: str, command: list[str], workdir: tempfile.TemporaryDirectory[str]) -> Daemon:
    log = open(Path(workdir.name) / "out.log", "wb")  # noqa: SIM115 - lives with the daemon
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    time.sleep(0.2)
    if process.poll() is not None:
        output = (Path(workdir.name) / "out.log").read_text()
        workdir.cleanup()
        raise RuntimeError(f"{name} did not start: {output[-500:]}")
    return Daemon(name, process, workdir)


def start_nginx_with(
    port: int, location: str, upstream: str = "", prefix: str = "bench-nginx-"
) -> Daemon:
    """One nginx worker on loopback ``port``, its files in a fresh directory: ``location`` says
    what it does with every request, ``upstream`` declares what that needs."""
    workdir = tempfile.TemporaryDirectory(prefix=prefix)
    conf = Path(workdir.name) / "nginx.conf"
    conf.write_text(
        f"""
worker_processes 1;
user root;
pid {workdir.name}/nginx.pid;
error_log {workdir.name}/error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {workdir.name}/body;
    proxy_temp_path {workdir.name}/proxy;
    {upstream}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            {location}
        }}
    }}
}}
"""
    )
    binary = shutil.which("nginx") or _BINARIES["nginx"]
    return _start("nginx", [binary, "-c", str(conf), "-g", "daemon off;"], workdir)


def start_nginx(port: int, upstream_port: int) -> Daemon:
    return start_nginx_with(
        port,
        'proxy_pass http://cloud; proxy_http_version 1.1; proxy_set_header Connection ""; '
        "proxy_set_header Host $http_host;",
        f"upstream cloud {{ server 127.0.0.1:{upstream_port}; keepalive 64; }}",
    )


def start_haproxy(port: int, upstream_port: int) -> Daemon:
    workdir = tempfile.TemporaryDirectory(prefix="bench-haproxy-")
    conf = Path(workdir.name) / "haproxy.cfg"
    conf.write_text(
        f"""
global
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend bench
    bind 127.0.0.1:{port}
    default_backend cloud
backend cloud
    http-reuse always
    server cloud1 127.0.0.1:{upstream_port}
"""
    )
    binary = shutil.which("haproxy") or _BINARIES["haproxy"]
    return _start("haproxy", [binary, "-db", "-f", str(conf)], workdir)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))
