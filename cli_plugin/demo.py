"""`make demo`: 1,000 simulated clouds behind the proxy, driven by the real openstack CLI.

Each step prints the command and its output, then checks what the clouds saw: a step
passes only if the testbed's request logs prove the routing, not just an exit code 0.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from openstackoid.proxy import ProxyConfig, running_proxy
from openstackoid.registry import (
    Registry,
    RuleBook,
    TargetCredential,
    load_clouds_yaml,
    rule_from_data,
)
from openstackoid.testbed import Faults, Testbed
from openstackoid.testbed.cli_runner import run_openstack
from openstackoid.testbed.clouds_yaml import CloudLike
from openstackoid.testbed.model import PASSWORD, PROJECT_NAME, USERNAME

console = Console()


@dataclass(frozen=True)
class Step:
    title: str
    args: tuple[str, ...]


def client_clouds_yaml(proxy_url: str, path: Path, login: CloudLike | None = None) -> Path:
    """The user's clouds.yaml: one cloud, the proxy; the user is `login`'s admin (each
    simulated cloud has its own password), else the real testbed's bootstrap admin."""
    cloud = {
        "auth": {
            "auth_url": f"{proxy_url}/identity/v3",
            "username": login.username if login else USERNAME,
            "password": login.password if login else PASSWORD,
            "project_name": login.project_name if login else PROJECT_NAME,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        "region_name": "RegionOne",
        "identity_api_version": 3,
    }
    path.write_text(yaml.safe_dump({"clouds": {"openstackoid": cloud}}))
    return path


async def run_step(clouds_yaml: Path, step: Step) -> Any:
    console.rule(step.title)
    console.print(f"$ openstack {shlex.join(step.args)}", style="bold")
    code, out, err = await run_openstack(
        *step.args, "-f", "json", clouds_yaml=clouds_yaml, env={"OS_CLOUD": "openstackoid"}
    )
    if code != 0:
        console.print(err, style="red")
        raise SystemExit(f"step failed: {step.title}")
    result = json.loads(out)
    console.print_json(out)
    return result


def check(condition: bool, message: str) -> None:
    console.print(("[green]✓ " if condition else "[red]✗ ") + message)
    if not condition:
        raise SystemExit(f"check failed: {message}")


DENIED_CLOUD = "cloud-4"
"""No rule lets anyone of another cloud act there: the demo's refused call."""


def demo_rules(registry: Registry) -> RuleBook:
    """The demo operator's mapping rules (docs/identity.md): admins of any cloud act as the
    `demo-admin` credential registered at each cloud, except at DENIED_CLOUD."""
    rules = [
        {"name": "keep-out", "priority": 10, "match": {"issuer": "*"}, "targets": DENIED_CLOUD,
         "deny": True},
        {"name": "admins-everywhere", "match": {"issuer": "*", "roles": "admin"}, "targets": "*",
         "credential": "demo-admin", "allow_admin": True},
    ]  # fmt: skip
    credentials = [
        TargetCredential(cloud.name, "demo-admin", cloud.credentials)
        for cloud in registry
        if cloud.credentials is not None
    ]
    return RuleBook([rule_from_data(r) for r in rules], credentials)


async def demo(clouds: int, workdir: Path) -> None:
    started = time.monotonic()
    image_cloud = f"cloud-{min(999, clouds)}"
    bed = Testbed(clouds=clouds)
    try:
        await bed.start(progress=True)
        registry = Registry(load_clouds_yaml(bed.write_clouds_yaml(workdir / "fleet.yaml")))
        console.print(f"{clouds} clouds up in {time.monotonic() - started:.1f} s")
        config = ProxyConfig(default_scope="{*: cloud-1}")
        async with running_proxy(config, registry, rules=demo_rules(registry)) as proxy_url:
            console.print(f"proxy at {proxy_url} (default scope {config.default_scope})")
            bed.image_service_url = f"{proxy_url}/image"  # Nova reaches Glance via the proxy
            clouds_yaml = client_clouds_yaml(
                proxy_url, workdir / "clouds.yaml", bed.cloud("cloud-1")
            )
            await scenario(bed, clouds_yaml, image_cloud)
    finally:
        await bed.stop()
    console.rule(f"[green]demo passed in {time.monotonic() - started:.1f} s")


async def scenario(bed: Testbed, clouds_yaml: Path, image_cloud: str) -> None:
    seed_scope = f"{{keystone: cloud-1; glance: {image_cloud}}}"
    server = await run_step(
        clouds_yaml,
        Step(
            f"A VM in cloud-1 from the image held by {image_cloud}",
            (
                "server",
                "create",
                "--image",
                "cirros",
                "--flavor",
                "m1.small",
                "--scope",
                seed_scope,
                "--wait",
                "cirros1",
            ),
        ),
    )
    image_id = bed.cloud(image_cloud).image_id
    check(image_id in str(server["image"]), f"the server uses {image_cloud}'s image {image_id}")
    created = [r for r in bed.requests("cloud-1") if r.method == "POST" and "servers" in r.path]
    check(len(created) == 1, "cloud-1's Nova created the server")
    asked = [r for r in bed.requests(image_cloud) if r.path == f"/image/v2/images/{image_id}"]
    check(bool(asked), f"{image_cloud}'s Glance was asked for the image")
    check(
        not any(r.path.startswith("/image/v2") for r in bed.requests("cloud-1")),
        "cloud-1's own Glance was never used",
    )

    images = await run_step(
        clouds_yaml,
        Step(
            "Fan-out: both clouds' images",
            ("image", "list", "--scope", "{glance: cloud-1 & cloud-2}"),
        ),
    )
    expected = {bed.cloud("cloud-1").image_id, bed.cloud("cloud-2").image_id}
    check({i["ID"] for i in images} == expected, "image list merges cloud-1 and cloud-2")

    await bed.set_faults("cloud-2", Faults(outage=True))
    console.print("cloud-2 is now down (its port is closed)")
    images = await run_step(
        clouds_yaml,
        Step(
            "Failover: cloud-2 is down", ("image", "list", "--scope", "{glance: cloud-2 | cloud-3}")
        ),
    )
    check(
        [i["ID"] for i in images] == [bed.cloud("cloud-3").image_id],
        "cloud-3 answered for the failed cloud-2",
    )
    await denied_step(bed, clouds_yaml)


async def denied_step(bed: Testbed, clouds_yaml: Path) -> None:
    """Identity across clouds: no mapping rule lets cloud-1's admin act at DENIED_CLOUD."""
    scope = f"{{keystone: cloud-1; glance: {DENIED_CLOUD}}}"
    args = ("image", "list", "--scope", scope)
    console.rule(f"Denied: no mapping rule lets cloud-1's users act at {DENIED_CLOUD}")
    console.print(f"$ openstack {shlex.join(args)}", style="bold")
    before = len(bed.requests(DENIED_CLOUD))
    code, _, err = await run_openstack(
        *args, clouds_yaml=clouds_yaml, env={"OS_CLOUD": "openstackoid"}
    )
    console.print(err.strip(), style="yellow")
    check(code != 0 and "403" in err, "the proxy refused with 403, naming issuer, user and cloud")
    # Only the client's anonymous version discovery (GET /image, public) got through.
    seen = bed.requests(DENIED_CLOUD)[before:]
    check(
        not any(r.has_token or r.path != "/image" for r in seen),
        f"{DENIED_CLOUD} received no API call and no token",
    )


def run(clouds: int = 1000) -> int:
    # The work directory holds every cloud's password (fleet.yaml): it goes whatever the
    # end, Ctrl-C and SIGTERM included (SIGTERM is turned into the KeyboardInterrupt that
    # asyncio.run answers by cancelling the demo, whose finally blocks stop the clouds).
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with tempfile.TemporaryDirectory(prefix="openstackoid-demo-") as workdir:
            asyncio.run(demo(clouds, Path(workdir)))
    except SystemExit as exc:
        console.print(f"[red]demo failed: {exc}")
        return 1
    except KeyboardInterrupt:
        console.print("[red]demo interrupted")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(run())
