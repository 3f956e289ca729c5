"""`openstackoid registry add|remove|list|show|import` on a SQLite or PostgreSQL store."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from openstackoid.cli import CommandError, HelpFormatter
from openstackoid.registry.clouds_yaml import load_clouds_yaml
from openstackoid.registry.errors import RegistryError
from openstackoid.registry.model import Cloud
from openstackoid.registry.postgres import PostgresStore
from openstackoid.registry.registry_file import load_registry_file, validate_cloud
from openstackoid.registry.rules_cli import (
    grant_command,
    list_rules,
    open_rule_store,
    read_rules,
    store_rules,
)
from openstackoid.registry.scopes_cli import register_scope_commands
from openstackoid.registry.store import SqliteStore, Store
from openstackoid.registry.yaml_io import load_yaml

DEFAULT_DB = Path.home() / ".local/share/openstackoid/registry.sqlite"
BATCH = 500
console = Console()


CREATING_COMMANDS = frozenset({"import", "add"})
"""Only these may create a SQLite registry: a typo in --db must not leave an empty one."""


def _sqlite_path(args: argparse.Namespace) -> Path:
    return Path(args.db or os.environ.get("OPENSTACKOID_REGISTRY") or DEFAULT_DB)


async def _open_store(args: argparse.Namespace) -> Store:
    if args.dsn:
        return await PostgresStore(args.dsn).open()
    path = _sqlite_path(args)
    if args.registry_command not in CREATING_COMMANDS and not path.exists():
        raise CommandError(
            f"no registry at {path}: create one with `openstackoid registry --db {path} "
            "import FILE` or `add`, or name an existing one with --db"
        )
    return SqliteStore(path)


def _read_clouds(path: Path) -> list[Cloud]:
    """A clouds.yaml (has `clouds:` as a mapping) or a registry file (a list)."""
    try:
        document = load_yaml(path.read_text()) or {}
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file") from None
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise CommandError(f"{path} is not YAML: {_one_line(exc)}") from None
    if not isinstance(document, dict):
        raise CommandError(
            f"{path} is neither a clouds.yaml (`clouds:` mapping) nor a registry file "
            "(`clouds:` list)"
        )
    try:
        if isinstance(document.get("clouds"), dict):
            return load_clouds_yaml(path)
        return load_registry_file(path)
    except RegistryError as exc:
        message = str(exc)  # a registry file's errors name it already
        raise CommandError(message if str(path) in message else f"{path}: {message}") from None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


async def _import(store: Store, args: argparse.Namespace) -> int:
    clouds: list[Cloud] = args.clouds
    known = {c.name: c for c in await store.load_all()} | {c.name: c for c in clouds}
    rules = read_rules(Path(args.file), list(known.values()))
    with Progress(console=console) as progress:
        task = progress.add_task(f"importing {len(clouds)} clouds", total=len(clouds))
        for start in range(0, len(clouds), BATCH):
            batch = clouds[start : start + BATCH]
            await store.upsert_many(batch)
            progress.advance(task, len(batch))
    console.print(f"imported {len(clouds)} clouds")
    if rules.rules or rules.credentials:
        rule_store = await open_rule_store(args, DEFAULT_DB)
        try:
            count = await store_rules(rule_store, rules)
        finally:
            await rule_store.close()
        console.print(f"imported {count} mapping rules and target credentials")
    return 0


async def _grant(store: Store, args: argparse.Namespace) -> int:
    rule_store = await open_rule_store(args, DEFAULT_DB)
    try:
        return await grant_command(rule_store, await store.load_all(), args)
    finally:
        await rule_store.close()


async def _rules(store: Store, args: argparse.Namespace) -> int:
    rule_store = await open_rule_store(args, DEFAULT_DB)
    try:
        return await list_rules(rule_store)
    finally:
        await rule_store.close()


async def _add(store: Store, args: argparse.Namespace) -> int:
    data: dict[str, Any] = {"name": args.name, "auth_url": args.auth_url}
    if args.region:
        data["region_name"] = args.region
    if args.label:
        data["labels"] = dict(args.label)
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
        if args.registry_command == "import":
            # Read first: a missing or broken file fails before any registry is created.
            args.clouds = _read_clouds(Path(args.file))

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


def _label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not key=value")
    return key, value


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "registry",
        help="the clouds the proxy can reach",
        description="Manage a SQLite or PostgreSQL registry of clouds. Only import and add "
        "create a SQLite registry; a running proxy re-reads it on SIGHUP.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--db", help=f"SQLite file (default: $OPENSTACKOID_REGISTRY, else {DEFAULT_DB})"
    )
    parser.add_argument(
        "--dsn", help="PostgreSQL DSN of a fleet's shared registry, instead of --db (default: none)"
    )
    commands = parser.add_subparsers(dest="registry_command", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = commands.add_parser(
            name, help=text, description=text, formatter_class=HelpFormatter
        )
        return sub

    add = command("add", "add or replace one cloud")
    add.add_argument("name", help="the cloud's name in scopes")
    add.add_argument("--auth-url", required=True, help="its Keystone URL (required)")
    add.add_argument("--region", help="its region name (default: none)")
    add.add_argument(
        "--label", action="append", type=_label, help="key=value, repeatable (default: none)"
    )
    add.add_argument("--group", action="append", help="group name, repeatable (default: none)")
    add.set_defaults(func=_runner(_add))
    remove = command("remove", "remove one cloud")
    remove.add_argument("name", help="the cloud's name")
    remove.set_defaults(func=_runner(_remove))
    command("list", "list clouds").set_defaults(func=_runner(_list))
    show = command("show", "show one cloud (no secrets)")
    show.add_argument("name", help="the cloud's name")
    show.set_defaults(func=_runner(_show))
    imp = command("import", "import a clouds.yaml or a registry file (creates the registry)")
    imp.add_argument("file", help="clouds.yaml or registry YAML file")
    imp.set_defaults(func=_runner(_import))
    rules = command("rules", "list identity mapping rules and target credentials (no secrets)")
    rules.set_defaults(func=_runner(_rules))
    grant = command(
        "grant",
        "a mapping rule and, at each cloud it targets, an application credential limited to "
        "--role, created by the cloud's registered account",
    )
    grant.add_argument("name", help="the rule's name (and its credentials')")
    grant.add_argument(
        "--issuer", action="append", help="clouds whose callers it maps, repeatable (default: *)"
    )
    grant.add_argument(
        "--match-role", action="append", required=True, help="a role the caller holds (required)"
    )
    grant.add_argument(
        "--target", action="append", required=True, help="cloud or selector, repeatable (required)"
    )
    grant.add_argument(
        "--role",
        action="append",
        required=True,
        help="a role of the credential, repeatable, never admin (required)",
    )
    grant.set_defaults(func=_runner(_grant))
    register_scope_commands(commands, DEFAULT_DB)
