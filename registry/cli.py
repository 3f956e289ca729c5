"""`openstackoid registry add|remove|list|show|import` on a SQLite or PostgreSQL store."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from registry.clouds_yaml import load_clouds_yaml
from registry.errors import RegistryError
from registry.model import Cloud
from registry.postgres import PostgresStore
from registry.registry_file import load_registry_file, validate_cloud
from registry.store import SqliteStore, Store
from registry.yaml_io import load_yaml

DEFAULT_DB = Path.home() / ".local/share/openstackoid/registry.sqlite"
BATCH = 500
console = Console()


async def _open_store(args: argparse.Namespace) -> Store:
    if args.dsn:
        return await PostgresStore(args.dsn).open()
    return SqliteStore(args.db or os.environ.get("OPENSTACKOID_REGISTRY") or DEFAULT_DB)


def _read_clouds(path: Path) -> list[Cloud]:
    """A clouds.yaml (has `clouds:` as a mapping) or a registry file (a list)."""
    document = load_yaml(path.read_text()) or {}
    if isinstance(document.get("clouds"), dict):
        return load_clouds_yaml(path)
    return load_registry_file(path)


async def _import(store: Store, args: argparse.Namespace) -> int:
    clouds = _read_clouds(Path(args.file))
    with Progress(console=console) as progress:
        task = progress.add_task(f"importing {len(clouds)} clouds", total=len(clouds))
        for start in range(0, len(clouds), BATCH):
            batch = clouds[start : start + BATCH]
            await store.upsert_many(batch)
            progress.advance(task, len(batch))
    console.print(f"imported {len(clouds)} clouds")
    return 0


async def _add(store: Store, args: argparse.Namespace) -> int:
    data: dict[str, Any] = {"name": args.name, "auth_url": args.auth_url}
    if args.region:
        data["region_name"] = args.region
    if args.label:
        data["labels"] = dict(item.split("=", 1) for item in args.label)
    if args.group:
        data["groups"] = args.group
    await store.upsert(validate_cloud(data))
    console.print(f"added {args.name}")
    return 0


async def _remove(store: Store, args: argparse.Namespace) -> int:
    if not await store.delete(args.name):
        console.print(f"[red]no cloud {args.name!r}")
        return 1
    console.print(f"removed {args.name}")
    return 0


async def _list(store: Store, args: argparse.Namespace) -> int:
    table = Table("Name", "Auth URL", "Region", "Labels", "Groups")
    for cloud in await store.load_all():
        labels = ",".join(f"{k}={v}" for k, v in cloud.labels.items())
        table.add_row(
            cloud.name,
            cloud.auth_url,
            cloud.region_name or "",
            labels,
            ",".join(sorted(cloud.groups)),
        )
    console.print(table)
    return 0


async def _show(store: Store, args: argparse.Namespace) -> int:
    cloud = await store.get(args.name)
    if cloud is None:
        console.print(f"[red]no cloud {args.name!r}")
        return 1
    print(json.dumps(cloud.to_dict(), indent=2))
    return 0


def _runner(action: Callable[[Store, argparse.Namespace], Awaitable[int]]) -> Callable[..., int]:
    def run(args: argparse.Namespace) -> int:
        async def main() -> int:
            try:
                store = await _open_store(args)
            except RegistryError as exc:  # e.g. the PostgreSQL store does not answer
                console.print(f"[red]{exc}")
                return 1
            try:
                return await action(store, args)
            except RegistryError as exc:
                console.print(f"[red]{exc}")
                return 1
            finally:
                await store.close()

        return asyncio.run(main())

    return run


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("registry", help="the clouds the proxy can reach")
    parser.add_argument(
        "--db", help=f"SQLite file (default $OPENSTACKOID_REGISTRY or {DEFAULT_DB})"
    )
    parser.add_argument("--dsn", help="PostgreSQL DSN of a fleet's shared registry")
    commands = parser.add_subparsers(dest="registry_command", required=True)
    add = commands.add_parser("add", help="add or replace one cloud")
    add.add_argument("name")
    add.add_argument("--auth-url", required=True)
    add.add_argument("--region")
    add.add_argument("--label", action="append", help="key=value (repeatable)")
    add.add_argument("--group", action="append", help="group name (repeatable)")
    add.set_defaults(func=_runner(_add))
    remove = commands.add_parser("remove", help="remove one cloud")
    remove.add_argument("name")
    remove.set_defaults(func=_runner(_remove))
    commands.add_parser("list", help="list clouds").set_defaults(func=_runner(_list))
    show = commands.add_parser("show", help="show one cloud (no secrets)")
    show.add_argument("name")
    show.set_defaults(func=_runner(_show))
    imp = commands.add_parser("import", help="import a clouds.yaml or a registry file")
    imp.add_argument("file")
    imp.set_defaults(func=_runner(_import))
