"""`openstackoid demo`."""

from __future__ import annotations

import argparse
from typing import Any

from openstackoid_cli import HelpFormatter


def _demo(args: argparse.Namespace) -> int:
    from cli_plugin.demo import run

    return run(args.clouds)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="1,000 simulated clouds behind the proxy, driven by the openstack CLI",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--clouds", type=int, default=1000, help="clouds to simulate")
    parser.set_defaults(func=_demo)
