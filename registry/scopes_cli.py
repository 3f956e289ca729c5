"""`openstackoid registry scope add|remove|list|show`: named scopes in the SQLite or
PostgreSQL store the proxy reads (a running fleet follows PostgreSQL changes at once)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from openstackoid.cli import CommandError, HelpFormatter
from openstackoid.registry.errors import RegistryError
from openstackoid.registry.named_scope_postgres import PostgresNamedScopeStore
from openstackoid.registry.named_scope_store import NamedScopeStore, SqliteNamedScopeStore
from openstackoid.registry.named_scopes import named_scope
from openstackoid.scope_dsl import brace_free, to_url_segment

console = Console()
Action = Callable[[NamedScopeStore, argparse.Namespace], Awaitable[int]]


async def _open(args: argparse.Namespace, default_db: Path) -> NamedScopeStore:
    if args.dsn:
        return await PostgresNamedScopeStore(args.dsn).open()
    path = Path(args.db or os.environ.get("OPENSTACKOID_REGISTRY") or default_db)
    if args.scope_command != "add" and not path.exists():  # a typo in --db creates nothing
        raise CommandError(f"no registry at {path}: name an existing one with --db")
    return SqliteNamedScopeStore(path)


async def _add(store: NamedScopeStore, args: argparse.Namespace) -> int:
    named = named_scope(args.name, args.scope, args.description or "")
    await store.upsert_scope(named)
    console.print(f"added scope {named.name} = {brace_free(named.scope)}")
    return 0


async def _remove(store: NamedScopeStore, args: argparse.Namespace) -> int:
    if not await store.delete_scope(args.name):
        console.print(f"[red]no named scope {args.name!r}")
        return 1
    console.print(f"removed scope {args.name}")
    return 0


async def _list(store: NamedScopeStore, args: argparse.Namespace) -> int:
    table = Table("Name", "Scope (clouds.yaml form)", "URL segment", "Description")
    for named in await store.load_scopes():
        table.add_row(
            named.name, brace_free(named.scope), to_url_segment(named.scope), named.description
        )
    console.print(table)
    return 0


async def _show(store: NamedScopeStore, args: argparse.Namespace) -> int:
    for named in await store.load_scopes():
        if named.name == args.name:
            shown = {**named.to_dict(), "url_segment": to_url_segment(named.scope)}
            print(json.dumps(shown, indent=2))
            return 0
    console.print(f"[red]no named scope {args.name!r}")
    return 1


def _tell(exc: Exception) -> None:
    # Unwrapped and unstyled: a scope error's caret line must stay under its text.
    print(f"error: {exc}", file=sys.stderr)


def _runner(action: Action, default_db: Path) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        async def main() -> int:
            try:
                store = await _open(args, default_db)
            except (RegistryError, CommandError) as exc:
                _tell(exc)
                return 1
            try:
                return await action(store, args)
            except RegistryError as exc:
                _tell(exc)
                return 1
            finally:
                await store.close()

        return asyncio.run(main())

    return run


def register_scope_commands(commands: Any, default_db: Path) -> None:
    """`scope` under `openstackoid registry` (which holds --db and --dsn)."""
    parser = commands.add_parser(
        "scope",
        help="named scopes: fed-c2 = keystone: c1; glance: c2",
        formatter_class=HelpFormatter,
    )
    scope_commands = parser.add_subparsers(dest="scope_command", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = scope_commands.add_parser(
            name, help=text, description=text, formatter_class=HelpFormatter
        )
        return sub

    add = command("add", "add or replace a named scope")
    add.add_argument("name", help="letters, digits, '.', '_', '-' (at most 64)")
    add.add_argument("scope", help='e.g. "keystone: cloud-1; glance: cloud-2"')
    add.add_argument("--description", help="what the scope is for (default: none)")
    add.set_defaults(func=_runner(_add, default_db))
    remove = command("remove", "remove a named scope")
    remove.add_argument("name", help="the named scope")
    remove.set_defaults(func=_runner(_remove, default_db))
    command("list", "list named scopes").set_defaults(func=_runner(_list, default_db))
    show = command("show", "show one named scope")
    show.add_argument("name", help="the named scope")
    show.set_defaults(func=_runner(_show, default_db))
