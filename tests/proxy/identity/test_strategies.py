"""Identity strategies are named once: the config, its validation and the CLI follow."""

from __future__ import annotations

import argparse
from typing import get_args

import pytest

from openstackoid.proxy import ProxyConfig
from openstackoid.proxy.cli import register
from openstackoid.proxy.config import IdentityStrategyName
from openstackoid.proxy.identity import STRATEGIES, make_strategy


def test_the_config_type_names_every_registered_strategy() -> None:
    assert set(get_args(IdentityStrategyName)) == set(STRATEGIES)


def test_the_default_is_the_first_registered() -> None:
    assert ProxyConfig().identity_strategy == next(iter(STRATEGIES))


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="passthrough"):
        ProxyConfig(identity_strategy="trust-me")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="validate-at-issuer"):
        make_strategy("trust-me", None)  # type: ignore[arg-type]


def test_the_cli_offers_exactly_the_registered_names() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    for name in STRATEGIES:
        args = parser.parse_args(["proxy", "--identity-strategy", name])
        assert args.identity_strategy == name
    with pytest.raises(SystemExit):
        parser.parse_args(["proxy", "--identity-strategy", "trust-me"])
