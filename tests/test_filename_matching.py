"""Tests mirror the tree (as mitmproxy's test/filename_matching.py checks): every module of
proxy/ with logic has tests/proxy/<same path>/test_<module>.py, and every such test module
names a module that exists. Other test modules there are integration tests and say so by
their name not matching a module: they are listed below."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parent.parent
PACKAGES = ("proxy",)
NO_LOGIC = {
    "proxy/__init__.py",
    "proxy/identity/__init__.py",
    "proxy/upstream/__init__.py",
    "proxy/upstream/errors.py",  # class declarations only
}
"""Modules without logic of their own: nothing to test on its own."""
TESTED_THROUGH = {
    # The `openstackoid proxy` command's parts, tested by running the command.
    "proxy/default_scope_check.py": "tests/proxy/test_cli.py",
    "proxy/listeners.py": "tests/proxy/test_cli.py",
    "proxy/reloader.py": "tests/proxy/test_cli.py",
}
"""Modules whose tests are another module's (a known debt: each deserves its own)."""
INTEGRATION = {
    "tests/proxy/test_access_log.py",
    "tests/proxy/test_bad_input.py",
    "tests/proxy/test_circuit_recovery.py",
    "tests/proxy/test_identity_caches.py",
    "tests/proxy/test_tls.py",
    "tests/proxy/test_tls_identity.py",
}
"""Test modules that cross modules: the proxy as a whole, through a socket."""


def _modules(package: str) -> set[str]:
    return {str(p.relative_to(ROOT)) for p in (ROOT / package).rglob("*.py")}


def _expected_test(module: str) -> str:
    path = Path(module)
    return str(Path("tests") / path.parent / f"test_{path.name}")


def test_every_module_with_logic_has_its_test_module() -> None:
    missing = [
        _expected_test(m)
        for package in PACKAGES
        for m in sorted(_modules(package) - NO_LOGIC)
        if not (ROOT / TESTED_THROUGH.get(m, _expected_test(m))).exists()
    ]
    assert not missing, f"modules without their test module: {missing}"


def test_every_test_module_names_a_module() -> None:
    expected = {_expected_test(m) for package in PACKAGES for m in _modules(package)}
    stray = [
        str(p.relative_to(ROOT))
        for package in PACKAGES
        for p in sorted((ROOT / "tests" / package).rglob("test_*.py"))
        if str(p.relative_to(ROOT)) not in expected | INTEGRATION
    ]
    assert not stray, f"test modules named after no module (or list them in INTEGRATION): {stray}"
