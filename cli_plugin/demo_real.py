"""`openstackoid demo --real` (`make demo-real`): the seed scenario on real OpenStack.

cloud-1 runs real Keystone, Glance, Nova, Placement and Neutron; cloud-999 real Keystone and
Glance. The user, through the proxy, boots a VM in cloud-1 from cloud-999's image. Nova of
cloud-1 reaches Glance through the proxy only because its operator config says so (``[glance]
endpoint_override``); each step prints the log lines of the services that prove each hop.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import shlex
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from openstackoid.cli_plugin.demo import client_clouds_yaml
from openstackoid.proxy import ProxyConfig, running_proxy
from openstackoid.registry import Registry, RuleBook, load_clouds_yaml
from openstackoid.registry.grant import grant, grant_rule
from openstackoid.testbed.cli_runner import run_openstack
from openstackoid.testbed.real import RealTestbed
from openstackoid.testbed.real.access_log import read_access_log
from openstackoid.testbed.real.evidence import NOVA_IMAGE_AGENT, ImageHop, image_hop
from openstackoid.testbed.real.process import free_port

COMPUTE_CLOUD = "cloud-1"
IMAGE_CLOUD = "cloud-999"
SEED_SCOPE = f"{{keystone: {COMPUTE_CLOUD}; glance: {IMAGE_CLOUD}}}"
SEED_RULE = "cloud-1-reads-cloud-999"
"""The operator's mapping rule (the default is deny): cloud-1's users read cloud-999's images
through an application credential created there with the `reader` role only."""
SEED_ROLES = frozenset({"reader"})
"""The roles of that application credential: what Nova's image call carries at cloud-999."""
PROXY_LOG_LINES = 1000

console = Console()


class DemoFailed(Exception):
    """A step's command failed or its check did not hold."""


@dataclass(frozen=True)
class RealFederation:
    """The real clouds, the proxy in front of them and the user's clouds.yaml."""

    bed: RealTestbed
    proxy_url: str
    clouds_yaml: Path
    """The operator's: every cloud directly."""
    user_yaml: Path
    """The user's: one cloud, the proxy."""
    proxy_access: collections.deque[dict[str, Any]]
    """The proxy's access log lines (openstackoid.access), newest last."""
    rules: RuleBook
    """The proxy's mapping rules, live: a test may take the seed rule away."""


class _Collect(logging.Handler):
    def __init__(self, into: collections.deque[dict[str, Any]]) -> None:
        super().__init__()
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(json.loads(record.getMessage()))


@asynccontextmanager
async def real_clouds(
    workdir: Path, image_service_url: str | None, progress: bool = False
) -> AsyncIterator[tuple[RealTestbed, Path]]:
    """cloud-1 (compute) and cloud-999 (image only), running; the operator's clouds.yaml.
    `image_service_url` goes into cloud-1's nova.conf (``[glance] endpoint_override``)."""
    bed = RealTestbed(
        [COMPUTE_CLOUD, IMAGE_CLOUD], compute=[COMPUTE_CLOUD], image_service_url=image_service_url
    )
    await bed.start(progress=progress)
    try:
        yield bed, bed.write_clouds_yaml(workdir / "clouds.yaml")
    finally:
        await bed.stop()


@asynccontextmanager
async def real_federation(
    workdir: Path, progress: bool = False, nova_via_proxy: bool = True
) -> AsyncIterator[RealFederation]:
    """cloud-1 (compute) and cloud-999 (image only) behind a proxy, Nova's Glance = the proxy.

    The proxy's port is chosen first: it goes into cloud-1's nova.conf before Nova starts.
    """
    host = "127.0.0.1"
    port = free_port(host)
    proxy_url = f"http://{host}:{port}"
    lines: collections.deque[dict[str, Any]] = collections.deque(maxlen=PROXY_LOG_LINES)
    handler = _Collect(lines)
    access = logging.getLogger("openstackoid.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    image_service_url = f"{proxy_url}/image" if nova_via_proxy else None
    try:
        async with real_clouds(workdir, image_service_url, progress) as (bed, clouds_yaml):
            registry = Registry(load_clouds_yaml(clouds_yaml))
            rules = await seed_rules(registry)
            config = ProxyConfig(access_log=True, public_url=proxy_url)
            async with running_proxy(config, registry, host, port, rules=rules):
                user_yaml = client_clouds_yaml(proxy_url, workdir / "user.yaml")
                yield RealFederation(bed, proxy_url, clouds_yaml, user_yaml, lines, rules)
    finally:
        access.removeHandler(handler)


async def seed_rules(registry: Registry) -> RuleBook:
    """What the operator registers so cloud-1's users (and Nova acting for them) may read
    cloud-999's images, and nothing more."""
    rule = grant_rule(SEED_RULE, [COMPUTE_CLOUD], ["admin", "member"], [IMAGE_CLOUD])
    return RuleBook([rule], await grant(rule, [registry.get(IMAGE_CLOUD)], sorted(SEED_ROLES)))


async def openstack(clouds_yaml: Path, cloud: str, *args: str) -> str:
    """`openstack --os-cloud CLOUD ARGS`; its stdout, or DemoFailed with its stderr."""
    code, out, err = await run_openstack("--os-cloud", cloud, *args, clouds_yaml=clouds_yaml)
    if code != 0:
        raise DemoFailed(f"openstack {shlex.join(args)} failed: {err.strip()}")
    return out


def check(condition: bool, message: str) -> None:
    console.print(("[green]✓ " if condition else "[red]✗ ") + message)
    if not condition:
        raise DemoFailed(f"check failed: {message}")


def show_lines(title: str, lines: list[str]) -> None:
    console.print(f"[bold]{title}[/bold]")
    for line in lines or ["(nothing)"]:
        console.print(f"  {line}", highlight=False, soft_wrap=True, markup=False)


async def step(fed: RealFederation, title: str, *args: str) -> tuple[str, list[dict[str, Any]]]:
    """Run one CLI command through the proxy; its output and the proxy's lines meanwhile."""
    console.rule(title)
    console.print(f"$ openstack {shlex.join(args)}", style="bold", highlight=False, markup=False)
    seen = len(fed.proxy_access)
    out = await openstack(fed.user_yaml, "openstackoid", *args)
    console.print(out.strip()[:2000], highlight=False, markup=False)
    lines = list(fed.proxy_access)[seen:]
    show_lines(
        "proxy access log (what reached the proxy, and the cloud it went to):",
        [proxy_line(line) for line in lines],
    )
    return out, lines


async def step_json(fed: RealFederation, title: str, *args: str) -> Any:
    out, _ = await step(fed, title, *args, "-f", "json")
    return json.loads(out)


def proxy_line(line: dict[str, Any]) -> str:
    request_id = line.get("cloud_request_id") or "-"
    return f"{line['method']} {line['path']} -> {line['clouds']} {line['status']}  {request_id}"


def nova_calls_through_proxy(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The proxy's lines of Nova's own calls during a server create: Nova passes the create's
    request id on (X-OpenStack-Request-ID), and Glance answers with it."""
    created = next(
        (line for line in lines if line["method"] == "POST" and line["path"].endswith("/servers")),
        None,
    )
    if created is None or not created.get("cloud_request_id"):
        return []
    return [
        line
        for line in lines
        if line is not created and line.get("cloud_request_id") == created["cloud_request_id"]
    ]


def explain_hop(bed: RealTestbed, hop: ImageHop) -> None:
    show_lines(
        f"{IMAGE_CLOUD} Glance access log, Nova's image call ({NOVA_IMAGE_AGENT}):",
        [entry.line for entry in hop.nova_calls],
    )
    issued = [
        entry.line
        for entry in read_access_log(bed.access_log(IMAGE_CLOUD, "keystone"))
        if entry.issued_token in hop.proxy_tokens
    ]
    show_lines(f"{IMAGE_CLOUD} Keystone access log, the token it issued to the proxy:", issued)
    nova = [
        entry.line
        for entry in read_access_log(bed.access_log(COMPUTE_CLOUD, "nova-api"))
        if entry.method == "POST" and entry.path.endswith("/servers")
    ]
    show_lines(f"{COMPUTE_CLOUD} Nova access log, the user's server create:", nova)
    show_lines(
        f"{COMPUTE_CLOUD} Glance access log, GETs of the image:",
        [entry.line for entry in hop.own_glance_calls],
    )
    check(
        hop.nova_reached_image_cloud, f"Nova's GET /v2/images/{hop.image_id} reached {IMAGE_CLOUD}"
    )
    check(
        hop.with_proxy_token_only,
        f"it came with the token {IMAGE_CLOUD}'s Keystone issued to the proxy "
        f"(not the user's {COMPUTE_CLOUD} token, no X-Service-Token of Nova)",
    )
    check(
        hop.with_roles_only(SEED_ROLES),
        f"with the user's mapped identity at {IMAGE_CLOUD}: the operator's rule "
        f"{SEED_RULE!r}, roles {', '.join(sorted(SEED_ROLES))} only (never admin)",
    )
    check(hop.own_glance_untouched, f"{COMPUTE_CLOUD}'s own Glance never saw the image call")


async def scenario(fed: RealFederation) -> None:
    bed = fed.bed
    console.print(
        f"{COMPUTE_CLOUD}: real Keystone, Glance, Nova, Placement, Neutron; "
        f"{IMAGE_CLOUD}: real Keystone and Glance; proxy at {fed.proxy_url}"
    )
    console.print(
        f"{COMPUTE_CLOUD}'s nova.conf: [glance] endpoint_override = {bed.image_service_url}",
        highlight=False,
        markup=False,
    )
    image_id = bed.cloud(IMAGE_CLOUD).image_id
    out, lines = await step(
        fed,
        f"A VM in {COMPUTE_CLOUD} from the image held by {IMAGE_CLOUD}",
        *("server", "create", "--image", "cirros", "--flavor", "m1.small", "--nic", "none"),
        *("--scope", SEED_SCOPE, "--wait", "-f", "json", "cirros1"),
    )
    created = json.loads(out)
    check(created["status"] == "ACTIVE", f"the server is ACTIVE in {COMPUTE_CLOUD}'s real Nova")
    check(image_id in str(created["image"]), f"it was built from {IMAGE_CLOUD}'s image {image_id}")
    nova = nova_calls_through_proxy(lines)
    show_lines(
        "Nova's own calls through the proxy (same request id as the server create):",
        [proxy_line(line) for line in nova],
    )
    check(
        any(line["path"] == f"/image/v2/images/{image_id}" for line in nova)
        and all(line["clouds"] == IMAGE_CLOUD for line in nova),
        f"Nova asked the proxy for the image and the proxy sent it to {IMAGE_CLOUD}",
    )
    explain_hop(bed, image_hop(bed, COMPUTE_CLOUD, IMAGE_CLOUD, image_id))
    scoped = ("--os-scope", SEED_SCOPE)
    shown = await step_json(fed, "server show", *scoped, "server", "show", "cirros1")
    check(shown["status"] == "ACTIVE", "server show: ACTIVE")
    listed = await step_json(fed, "server list", *scoped, "server", "list")
    check([s["Name"] for s in listed] == ["cirros1"], "server list: cirros1")
    await step(fed, "server delete", *scoped, "server", "delete", "--wait", "cirros1")
    listed = await step_json(fed, "server list", *scoped, "server", "list")
    check(listed == [], "server list: empty after the delete")


async def demo() -> None:
    started = time.monotonic()
    console.print("starting real clouds (about a minute or two; Nova's databases are migrated)")
    with tempfile.TemporaryDirectory(prefix="openstackoid-demo-real-") as workdir:
        async with real_federation(Path(workdir), progress=True) as fed:
            console.print(f"clouds up in {time.monotonic() - started:.0f} s")
            await scenario(fed)
    console.rule(f"[green]demo passed in {time.monotonic() - started:.0f} s")


def run() -> int:
    try:
        asyncio.run(demo())
    except DemoFailed as exc:
        console.print(f"[red]demo failed: {exc}")
        return 1
    return 0
