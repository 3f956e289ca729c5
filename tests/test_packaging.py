"""The installed wheel keeps its packages under `openstackoid.`: PyPI's `proxy.py` installs a
top-level `proxy/` (and other distributions `registry`, `testbed`...), which once shadowed ours."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("scope_dsl", "registry", "proxy", "cli_plugin", "testbed")

# Run with no site processing: the editable install's finder must not answer for the wheel.
PROBE = """
import sys
sys.path[:0] = [{target!r}]
sys.path.append({site!r})
import proxy
import openstackoid.cli_plugin.demo
import openstackoid.proxy.app
from openstackoid.scope_dsl import parse_scope
assert str(parse_scope("{{glance: cloud-2}}")) == "{{image: cloud-2}}"
print(proxy.__file__)
print(openstackoid.proxy.app.__file__)
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
    )
    (built,) = out.glob("openstackoid-*.whl")
    return built


def test_the_wheel_holds_one_top_level_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"openstackoid"}
    for package in PACKAGES:
        assert f"openstackoid/{package}/__init__.py" in names
    assert "openstackoid/scope_dsl/scope.lark" in names


def test_installed_beside_proxy_py_each_keeps_its_own_modules(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
            "proxy.py",
        ],
        check=True,
    )
    assert (target / "proxy" / "__init__.py").exists()  # PyPI's proxy.py, at the top level
    probe = PROBE.format(target=str(target), site=sysconfig.get_paths()["purelib"])
    done = subprocess.run(
        [sys.executable, "-S", "-c", probe], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    theirs, ours = done.stdout.split()
    assert theirs == str(target / "proxy" / "__init__.py")
    assert ours == str(target / "openstackoid" / "proxy" / "app.py")


def _sources() -> list[Path]:
    found = [p for p in ROOT.glob("*/**/*.py") if p.parts[len(ROOT.parts)] in SOURCE_DIRS]
    return sorted(found)


SOURCE_DIRS = {*PACKAGES, "openstackoid", "tests", "bench"}
MODULE_PATH = re.compile(
    rf"({'|'.join(PACKAGES)})(\.(?!(py|yaml|json|sqlite|db|log|example)\b)[a-z_][a-z0-9_]*)+"
    r"(:[A-Za-z_]\w*)?"
)


def test_nothing_imports_a_package_by_its_bare_name() -> None:
    """`import proxy` would load a second copy of our modules (or PyPI's proxy.py)."""
    wrong = []
    for path in _sources():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                # resources.files("registry"), "-m proxy.cli", entry points written as text
                if MODULE_PATH.fullmatch(node.value):
                    names = [node.value]
            wrong += [
                f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in PACKAGES
            ]
    assert wrong == []
