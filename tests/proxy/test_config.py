"""The proxy's configuration: YAML, flags over it, and mistakes refused at start."""

from pathlib import Path

import pytest

from proxy.config import ProxyConfig


def test_yaml_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "proxy.yaml"
    path.write_text("port: 9000\ndefault-scope: '{*: cloud-1}'\nworkers: 2\n")
    config = ProxyConfig.load(path, port=9100, workers=None)
    assert (config.port, config.default_scope, config.workers) == (9100, "{*: cloud-1}", 2)


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
