"""The `openstackoid` command: help for every option with its default, --version, and
mistakes answered with one line and exit code 2, never a traceback."""

import argparse
import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from openstackoid.cli import build_parser, main
from tests.processes import stop, wait_for_line


def _parsers(
    parser: argparse.ArgumentParser, name: str = "openstackoid"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


def test_every_option_has_help_that_shows_its_default() -> None:
    missing = []
    for name, parser in _parsers(build_parser()):
        formatter = parser._get_formatter()
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._VersionAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                continue
            if not action.help:
                missing.append(f"{name} {action.dest}: no help")
            elif action.option_strings:
                shown = formatter._expand_help(action)
                if "(default" not in shown and "(required)" not in shown:
                    missing.append(f"{name} {action.option_strings[0]}: no default shown")
    assert missing == []


def test_proxy_help_shows_the_config_defaults_and_sighup() -> None:
    proxy = dict(_parsers(build_parser()))["openstackoid proxy"]
    text = " ".join(proxy.format_help().split())
    assert "--port PORT port to listen on (default: 8080)" in text
    assert "SIGHUP" in text


def _openstackoid(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openstackoid.cli", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_version(tmp_path: Path) -> None:
    done = _openstackoid("--version", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.strip() == f"openstackoid {metadata.version('openstackoid')}"


def _broken(tmp_path: Path) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text("clouds: [\n")
    return path


def _invalid(tmp_path: Path) -> Path:
    path = tmp_path / "invalid.yaml"
    path.write_text("clouds:\n  - name: a\n")  # a registry file's cloud without auth_url
    return path


def _unknown_key(tmp_path: Path) -> Path:
    path = tmp_path / "proxy.yaml"
    path.write_text("port: 8080\nlisten_port: 9\n")
    return path


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["proxy", "--clouds-yaml", "missing.yaml"], "missing.yaml: no such file"),
        (["proxy", "--registry-db", "nope.sqlite"], "no registry at nope.sqlite"),
        (["proxy", "--default-scope", "{*: cloud-1"], "bad default scope: Invalid scope"),
        (["proxy", "--config", "missing.yaml"], "missing.yaml: no such file"),
        (["proxy", "--config", _unknown_key], "unknown proxy config keys: listen_port"),
        (["proxy", "--tls-cert", "c.pem"], "tls_cert and tls_key go together"),
        (["registry", "--db", "r.sqlite", "import", "missing.yaml"], "missing.yaml: no such file"),
        (["registry", "--db", "r.sqlite", "import", _broken], "broken.yaml is not YAML"),
        (["registry", "--db", "r.sqlite", "import", _invalid], "'auth_url' is a required"),
        (["testbed", "fault", "cloud-2", "--outage"], "no running testbed"),
        (
            ["testbed", "fault", "cloud-2", "--control-url", "http://127.0.0.1:9"],
            "no testbed control API at http://127.0.0.1:9",
        ),
    ],
)
def test_mistakes_are_one_line_and_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list,
    expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = [str(arg(tmp_path)) if callable(arg) else arg for arg in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if " openstackoid.proxy " not in line]
    assert lines[0].startswith(f"openstackoid {argv[0]}: error: ")
    assert expected in lines[0]
    assert len(lines) == 1 or "Invalid scope" in lines[0]  # the scope's caret follows
    assert not (tmp_path / "r.sqlite").exists()  # a failed import creates no registry


def test_registry_reads_never_create_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "nonexistent" / "dir" / "x.sqlite"
    for command in (["list"], ["show", "cloud-1"], ["remove", "cloud-1"]):
        assert main(["registry", "--db", str(db), *command]) == 2
        assert f"no registry at {db}" in capsys.readouterr().err
    assert not (tmp_path / "nonexistent").exists()
    assert main(["registry", "--db", str(db), "add", "c1", "--auth-url", "http://h/v3"]) == 0
    assert db.exists()  # add may create one


async def test_testbed_up_with_its_control_port_taken(tmp_path: Path) -> None:
    """An explicit taken port: exit 2 before any clouds.yaml is written. By default: a free
    port, printed and noted for `testbed fault`, which then reaches it."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _openstackoid("testbed", "up", "--control-port", str(port), cwd=tmp_path)
        assert done.returncode == 2
        assert f"control port {port} on 127.0.0.1 is taken" in done.stderr
        assert not (tmp_path / ".testbed" / "clouds.yaml").exists()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "openstackoid.cli", "testbed", "up", "--clouds", "2",
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert process.stdout is not None
    seen: list[str] = []
    try:
        await wait_for_line(process.stdout, "2 clouds up", seen)
        line = await wait_for_line(process.stdout, "control API: ", seen)
        url = line.split("control API: ", 1)[1].split()[0]
        assert (tmp_path / ".testbed" / "control.url").read_text().strip() == url
        done = await asyncio.to_thread(
            _openstackoid, "testbed", "fault", "cloud-2", "--latency", "0.1", cwd=tmp_path
        )
        assert done.returncode == 0 and '"latency": 0.1' in done.stdout
    finally:
        assert await stop(process) == 0
    assert not (tmp_path / ".testbed" / "control.url").exists()
