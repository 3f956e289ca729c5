"""`openstackoid testbed up|fault`."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from aiohttp import web
from rich.console import Console

DEFAULT_CONTROL_PORT = 8780


async def _up(args: argparse.Namespace) -> int:
    console = Console()
    if args.real:
        try:
            from testbed.real import RealTestbed  # type: ignore[import-not-found, unused-ignore]
        except ImportError as exc:
            console.print(f"[red]real mode is not available here: {exc}")
            return 1
        bed: Any = RealTestbed(clouds=args.clouds)
    else:
        from testbed.bed import Testbed

        bed = Testbed(
            clouds=args.clouds,
            shared_identity=args.shared_identity,
            image_service_url=args.image_service_url,
            port_base=args.port_base,
        )
        bed.network_service_url = args.network_service_url
    try:
        await bed.start(progress=True)
    except Exception as exc:  # RealTestbedError: missing venv, a service that would not start
        console.print(f"[red]{exc}")
        return 1
    path = bed.write_clouds_yaml(args.clouds_yaml)
    console.print(f"{args.clouds} clouds up; clouds.yaml: {path}")
    runner: web.AppRunner | None = None
    if not args.real:  # real Keystone/Glance have no fault injection
        from testbed.control import make_control_app

        runner = web.AppRunner(make_control_app(bed), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", args.control_port).start()
        console.print(f"control API: http://127.0.0.1:{args.control_port}")
    console.print("Ctrl-C to stop")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    if runner is not None:
        await runner.cleanup()
    await bed.stop()
    return 0


def _fault(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {}
    for key in ("latency", "error_rate", "slow_body"):
        if getattr(args, key) is not None:
            body[key] = getattr(args, key)
    if args.outage is not None:
        body["outage"] = args.outage
    for flag in ("reset_mid_body", "garbage"):
        if getattr(args, flag) is not None:
            body[flag] = getattr(args, flag)
    request = urllib.request.Request(
        f"{args.control_url}/faults/{args.cloud}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            print(response.read().decode())
    except urllib.error.HTTPError as exc:
        print(exc.read().decode())
        return 1
    return 0


def register(subparsers: Any) -> None:
    testbed = subparsers.add_parser("testbed", help="simulated OpenStack clouds")
    commands = testbed.add_subparsers(dest="testbed_command", required=True)
    up = commands.add_parser("up", help="run N simulated clouds until interrupted")
    up.add_argument("--clouds", type=int, default=3)
    up.add_argument("--port-base", type=int, default=0, help="first port (0: any free ports)")
    up.add_argument("--shared-identity", action="store_true")
    up.add_argument("--image-service-url", help="where Nova checks images (e.g. the proxy)")
    up.add_argument("--network-service-url", help="where Nova checks networks (e.g. the proxy)")
    up.add_argument("--clouds-yaml", type=Path, default=Path(".testbed/clouds.yaml"))
    up.add_argument("--control-port", type=int, default=DEFAULT_CONTROL_PORT)
    up.add_argument("--real", action="store_true", help="real Keystone and Glance from PyPI")
    up.set_defaults(func=lambda args: asyncio.run(_up(args)))
    fault = commands.add_parser("fault", help="change a running testbed cloud's faults")
    fault.add_argument("cloud")
    fault.add_argument("--latency", type=float)
    fault.add_argument("--error-rate", type=float)
    fault.add_argument("--slow-body", type=float)
    fault.add_argument("--outage", action=argparse.BooleanOptionalAction)
    fault.add_argument("--reset-mid-body", action=argparse.BooleanOptionalAction)
    fault.add_argument(
        "--garbage", action=argparse.BooleanOptionalAction, help="answer bytes that are not HTTP"
    )
    fault.add_argument("--control-url", default=f"http://127.0.0.1:{DEFAULT_CONTROL_PORT}")
    fault.set_defaults(func=_fault)
