"""`openstackoid testbed up|fault`."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from rich.console import Console

from openstackoid.cli import CommandError, HelpFormatter
from openstackoid.testbed.ports import listen

STATE_DIR = Path(".testbed")
CONTROL_URL_FILE = "control.url"
"""Where `testbed up` notes its control API's URL for `testbed fault` (in --state-dir)."""


def _control_socket(port: int) -> socket.socket:
    """The control API's socket, bound before any cloud starts or clouds.yaml is written."""
    try:
        return listen("127.0.0.1", port)
    except OSError as exc:
        raise CommandError(
            f"control port {port} on 127.0.0.1 is taken ({exc.strerror}): pass another "
            "--control-port, or 0 for any free port"
        ) from None


async def _up(args: argparse.Namespace) -> int:
    console = Console()
    control = None if args.real else _control_socket(args.control_port)
    if args.real:
        try:
            from openstackoid.testbed.real import RealTestbed  # type: ignore[import-not-found, unused-ignore]
        except ImportError as exc:
            console.print(f"[red]real mode is not available here: {exc}")
            return 1
        bed: Any = RealTestbed(clouds=args.clouds)
    else:
        from openstackoid.testbed.bed import Testbed

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
    control_file = args.state_dir / CONTROL_URL_FILE
    if control is not None:  # real Keystone/Glance have no fault injection
        from openstackoid.testbed.control import make_control_app

        runner = web.AppRunner(make_control_app(bed), access_log=None)
        await runner.setup()
        await web.SockSite(runner, control).start()
        url = f"http://127.0.0.1:{control.getsockname()[1]}"
        args.state_dir.mkdir(parents=True, exist_ok=True)
        control_file.write_text(url + "\n")
        console.print(f"control API: {url} (noted in {control_file} for `testbed fault`)")
    console.print("Ctrl-C to stop")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    if runner is not None:
        control_file.unlink(missing_ok=True)
        await runner.cleanup()
    await bed.stop()
    return 0


def _control_url(args: argparse.Namespace) -> str:
    given: str | None = args.control_url
    if given:
        return given.rstrip("/")
    noted = Path(args.state_dir) / CONTROL_URL_FILE
    try:
        return noted.read_text().strip()
    except FileNotFoundError:
        raise CommandError(
            f"no running testbed: {noted} not found; start `openstackoid testbed up` in this "
            "directory, or pass --control-url"
        ) from None


def _client_yaml(args: argparse.Namespace) -> int:
    """The user's clouds.yaml: one cloud, the proxy, logging in as `--login`'s admin with the
    password the testbed wrote for that cloud."""
    try:
        fleet = yaml.safe_load(args.fleet.read_text()) or {}
        entry = fleet["clouds"][args.login]
    except OSError as exc:
        raise CommandError(f"cannot read {args.fleet}: {exc.strerror}") from None
    except (KeyError, TypeError, yaml.YAMLError):
        raise CommandError(f"{args.fleet} has no cloud {args.login!r}") from None
    auth = {**entry["auth"], "auth_url": f"{args.proxy.rstrip('/')}/identity/v3"}
    cloud = {"auth": auth, "region_name": entry.get("region_name", "RegionOne")}
    cloud["identity_api_version"] = 3
    args.out.write_text(yaml.safe_dump({"clouds": {"openstackoid": cloud}}, sort_keys=False))
    print(f"wrote {args.out}: cloud 'openstackoid' logs in at {args.login} through the proxy")
    return 0


def _fault(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {}
    for key in ("latency", "error_rate", "slow_body"):
        if getattr(args, key) is not None:
            body[key] = getattr(args, key)
    for flag in ("outage", "reset_mid_body", "garbage"):
        if getattr(args, flag) is not None:
            body[flag] = getattr(args, flag)
    url = _control_url(args)
    request = urllib.request.Request(
        f"{url}/faults/{args.cloud}",
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
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CommandError(
            f"no testbed control API at {url} ({reason}): is `openstackoid testbed up` running?"
        ) from None
    return 0


def register(subparsers: Any) -> None:
    testbed = subparsers.add_parser(
        "testbed", help="simulated OpenStack clouds", formatter_class=HelpFormatter
    )
    commands = testbed.add_subparsers(dest="testbed_command", required=True)
    up = commands.add_parser(
        "up", help="run N simulated clouds until interrupted", formatter_class=HelpFormatter
    )
    up.add_argument("--clouds", type=int, default=3, help="how many clouds (cloud-1..cloud-N)")
    up.add_argument("--port-base", type=int, default=0, help="first port (0: any free ports)")
    up.add_argument(
        "--shared-identity", action="store_true", help="one Keystone user base for all clouds"
    )
    up.add_argument(
        "--image-service-url",
        help="where Nova checks images, e.g. the proxy's http://HOST:PORT/image "
        "(default: each cloud's own Glance)",
    )
    up.add_argument(
        "--network-service-url",
        help="where Nova checks networks, e.g. the proxy's http://HOST:PORT/network "
        "(default: each cloud's own Neutron)",
    )
    up.add_argument(
        "--clouds-yaml",
        type=Path,
        default=STATE_DIR / "clouds.yaml",
        help="clouds.yaml to write for the proxy",
    )
    up.add_argument(
        "--control-port", type=int, default=0, help="fault-injection API port (0: any free port)"
    )
    up.add_argument(
        "--state-dir", type=Path, default=STATE_DIR, help="where the control URL is noted"
    )
    up.add_argument("--real", action="store_true", help="real Keystone and Glance from PyPI")
    up.set_defaults(func=lambda args: asyncio.run(_up(args)))
    client = commands.add_parser(
        "client-yaml",
        help="write the user's clouds.yaml: the proxy, logging in as one testbed cloud's admin",
        formatter_class=HelpFormatter,
    )
    client.add_argument(
        "--fleet", type=Path, required=True, help="the clouds.yaml `up` wrote (required)"
    )
    client.add_argument("--login", default="cloud-1", help="the cloud whose admin logs in")
    client.add_argument(
        "--proxy", required=True, help="the proxy's URL, e.g. http://HOST:PORT (required)"
    )
    client.add_argument("--out", type=Path, default=Path("clouds.yaml"), help="where to write it")
    client.set_defaults(func=_client_yaml)
    fault = commands.add_parser(
        "fault", help="change a running testbed cloud's faults", formatter_class=HelpFormatter
    )
    fault.add_argument("cloud", help="cloud name, e.g. cloud-2")
    fault.add_argument("--latency", type=float, help="seconds added to each answer (default: kept)")
    fault.add_argument(
        "--error-rate", type=float, help="share of requests answered 500 (default: kept)"
    )
    fault.add_argument(
        "--slow-body", type=float, help="seconds to trickle each body (default: kept)"
    )
    fault.add_argument(
        "--outage",
        action=argparse.BooleanOptionalAction,
        help="close the cloud's port (default: kept)",
    )
    fault.add_argument(
        "--reset-mid-body",
        action=argparse.BooleanOptionalAction,
        help="cut connections mid-body (default: kept)",
    )
    fault.add_argument(
        "--garbage",
        action=argparse.BooleanOptionalAction,
        help="answer bytes that are not HTTP (default: kept)",
    )
    fault.add_argument(
        "--control-url",
        help="the testbed's control API (default: the one noted in --state-dir)",
    )
    fault.add_argument(
        "--state-dir", type=Path, default=STATE_DIR, help="where `testbed up` noted its URL"
    )
    fault.set_defaults(func=_fault)
