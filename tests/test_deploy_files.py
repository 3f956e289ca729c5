"""The operators' files: LICENSE, the systemd unit and the Dockerfile.

No container daemon runs on these machines, so the Dockerfile is not built: it is checked
the way hadolint would for what matters here (a pinned base, a non-root user, exec-form
commands) and its proxy arguments are parsed by the real `openstackoid` parser, as are the
unit's. The unit also goes through `systemd-analyze verify` where it exists.
"""

import configparser
import json
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from openstackoid.cli import build_parser

ROOT = Path(__file__).parent.parent
UNIT = ROOT / "docs/deploy/openstackoid.service"
INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
    "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}  # fmt: skip


def test_license_is_the_apache_2_0_that_pyproject_names() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"]["text"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License\n")
    assert "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and continuations joined."""
    logical: list[str] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending += line.removesuffix("\\").strip() + " "
        if not line.endswith("\\"):
            logical.append(pending.strip())
            pending = ""
    assert not pending, "a continuation line ends the Dockerfile"
    return [(line.split(None, 1)[0], line.split(None, 1)[1]) for line in logical]


def test_dockerfile_is_well_formed_and_minimal() -> None:
    steps = _dockerfile()
    assert all(name in INSTRUCTIONS for name, _ in steps), steps
    assert steps[0][0] == "FROM"
    base = steps[0][1]
    assert ":" in base and not base.endswith(":latest")  # a pinned base image
    users = [args for name, args in steps if name == "USER"]
    assert users and users[-1] not in ("root", "0")
    for name in ("ENTRYPOINT", "CMD", "HEALTHCHECK"):
        (args,) = [a for n, a in steps if n == name]
        json.loads(args.removeprefix("CMD ").strip())  # exec form: signals reach the proxy


def test_dockerfile_copies_every_package_and_runs_a_valid_proxy_command() -> None:
    steps = _dockerfile()
    copied = set()
    for name, args in steps:
        if name == "COPY":
            *sources, _ = args.split()
            copied.update(sources)
    assert all((ROOT / source).exists() for source in copied)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    ]
    modules = pyproject["tool"]["setuptools"].get("py-modules", [])
    assert set(packages) | {f"{m}.py" for m in modules} <= copied
    # The installed subpackages are links to the repository's top-level folders: those too.
    linked = {p.resolve().name for p in (ROOT / "openstackoid").iterdir() if p.is_symlink()}
    assert linked and linked <= copied
    (entrypoint,) = [json.loads(a) for n, a in steps if n == "ENTRYPOINT"]
    (cmd,) = [json.loads(a) for n, a in steps if n == "CMD"]
    assert entrypoint[0] == "openstackoid"
    args = build_parser().parse_args([*entrypoint[1:], *cmd])
    exposed = {int(p) for n, a in steps if n == "EXPOSE" for p in a.split()}
    assert {args.port, args.admin_port} == exposed
    (healthcheck,) = [a for n, a in steps if n == "HEALTHCHECK"]
    assert f":{args.admin_port}/healthz" in healthcheck  # /healthz is on the operator port too


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def test_systemd_unit_runs_a_valid_proxy_command_and_reloads_with_sighup() -> None:
    service = _unit()["Service"]
    argv = shlex.split(service["ExecStart"])
    assert Path(argv[0]).name == "openstackoid" and argv[1] == "proxy"
    build_parser().parse_args(argv[1:])
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["KillSignal"] == "SIGTERM"
    assert int(service["TimeoutStopSec"]) > 30  # the proxy's graceful shutdown_timeout
    assert service["User"] != "root"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_unit_verifies(tmp_path: Path) -> None:
    # verify wants ExecStart's binary to exist: point it at this venv's.
    binary = Path(sys.executable).parent / "openstackoid"
    unit = tmp_path / "openstackoid.service"
    unit.write_text(
        UNIT.read_text().replace("/opt/openstackoid/.venv/bin/openstackoid", str(binary))
    )
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stderr == "" and done.stdout == "", done.stderr
