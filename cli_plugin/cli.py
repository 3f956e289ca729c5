"""`openstackoid demo` and `openstackoid scope url|bake`."""

from __future__ import annotations

import argparse
from typing import Any

from openstackoid.cli import HelpFormatter
from openstackoid.cli_plugin.scope_cli import register as register_scope


def _demo(args: argparse.Namespace) -> int:
    if args.real:
        from openstackoid.cli_plugin import demo_real

        return demo_real.run()
    from openstackoid.cli_plugin.demo import run

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
