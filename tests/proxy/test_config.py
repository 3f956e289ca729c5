"""The proxy's configuration: YAML, flags over it, and mistakes refused at start."""

from pathlib import Path

import pytest

from openstackoid.proxy.config import ProxyConfig


def test_yaml_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "proxy.yaml"
    path.write_text("port: 9000\ndefault-scope: '{*: cloud-1}'\nworkers: 2\n")
    config = ProxyConfig.load(path, port=9100, workers=None, scope_memory="local")
    assert (config.port, config.default_scope, config.workers) == (9100, "{*: cloud-1}", 2)


def test_workers_need_a_scope_memory_they_share(tmp_path: Path) -> None:
    """`workers: 2` alone would let Nova's scope-less call reach a worker that never saw
    the token: refused, naming the option; the file's workers and a flag's memory combine."""
    path = tmp_path / "proxy.yaml"
    path.write_text("workers: 2\n")
    with pytest.raises(ValueError, match="--scope-memory redis://"):
        ProxyConfig.load(path)
    shared = ProxyConfig.load(path, scope_memory="redis://127.0.0.1:6379/0?key_prefix=a:")
    assert shared.workers == 2 and shared.scope_memory
    with pytest.raises(ValueError, match="unknown scope_memory"):
        ProxyConfig.load(path, scope_memory="memcached://x")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("colour: blue\n", "unknown proxy config keys: colour"),
        ("default_scope: '{*: cloud-1'\n", None),
        ("event_loop: trio\n", "unknown event loop"),
        ("identity_strategy: trust-me\n", "unknown identity strategy"),
    ],
)
def test_mistakes_fail_at_start(tmp_path: Path, text: str, reason: str | None) -> None:
    path = tmp_path / "proxy.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=reason):
        ProxyConfig.load(path)
