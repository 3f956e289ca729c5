"""`openstackoid demo` and `openstackoid scope url|bake`."""

from __future__ import annotations

import argparse
from typing import Any

from openstackoid.cli import CommandError, HelpFormatter
from openstackoid.cli_plugin.scope_cli import register as register_scope


def _demo(args: argparse.Namespace) -> int:
    if args.proxies != 1 and not args.real:
        raise CommandError("--proxies 2 runs real clouds: add --real")
    if args.real and args.proxies == 2:
        from openstackoid.cli_plugin import demo_real_fleet

        return demo_real_fleet.run(args.dsn, args.redis)
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
    parser.add_argument(
        "--proxies",
        type=int,
        choices=(1, 2),
        default=1,
        help="with --real: 2 runs two proxy processes sharing PostgreSQL and Redis, the "
        "user's CLI on one, cloud-1's Nova on the other",
    )
    parser.add_argument(
        "--dsn",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="with --proxies 2: the PostgreSQL the proxies share (a schema of the demo's own "
        "is created there and dropped after)",
    )
    parser.add_argument(
        "--redis",
        default="redis://127.0.0.1:6379/0",
        help="with --proxies 2: the Redis the proxies share (keys under a prefix of the "
        "demo's own, deleted after)",
    )
    parser.set_defaults(func=_demo)
    register_scope(subparsers)
