"""`openstackoid demo` and `openstackoid scope url|bake`."""

from __future__ import annotations

import argparse
from typing import Any

from cli_plugin.scope_cli import register as register_scope
from openstackoid_cli import HelpFormatter


def _demo(args: argparse.Namespace) -> int:
    if args.real:
        from cli_plugin import demo_real

        return demo_real.run()
    from cli_plugin.demo import run

    return run(args.clouds)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="1,000 simulated clouds behind the proxy, driven by the openstack CLI",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--clouds", type=int, default=1000, help="clouds to simulate")
    parser.add_argument(
        "--real",
        action="store_true",
        help="the seed scenario on real Keystone, Glance and Nova from .venv-real",
    )
    parser.set_defaults(func=_demo)
    register_scope(subparsers)
