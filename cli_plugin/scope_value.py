"""Scope values as they arrive from argparse, env and clouds.yaml, checked by scope_dsl."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from openstackoid.scope_dsl import Scope, ScopeSyntaxError, parse_scope


@dataclass(frozen=True)
class ScopeOption:
    """A parsed --os-scope. Not a str on purpose: openstack.config runs str.format on string
    config values, and a scope's braces would crash it."""

    text: str
    scope: Scope

    def __str__(self) -> str:
        return str(self.scope)


def scope_argument(text: str) -> ScopeOption:
    """argparse `type=`: a bad scope exits with code 2 and the caret, before any request."""
    try:
        return ScopeOption(text, parse_scope(text))
    except ScopeSyntaxError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class ScopeAction(argparse.Action):
    """--os-scope / --scope: a bad scope exits with code 2 and the message alone.

    argparse's own `type=` errors print the whole global usage first (~65 lines of OSC
    options) and bury the caret; this prints what other argparse errors end with.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        where = f"argument {option_string}"
        setattr(namespace, self.dest, checked_scope(parser, str(values), where))


def checked_scope(parser: argparse.ArgumentParser, text: str, where: str) -> ScopeOption:
    """The scope in `text`, or exit 2 with `prog: error: WHERE: message`."""
    try:
        return scope_argument(text)
    except argparse.ArgumentTypeError as exc:
        parser.exit(2, f"{parser.prog}: error: {where}: {exc}\n")


def scope_from_config(value: Any) -> Scope | None:
    """A scope from a config value: a ScopeOption, DSL/JSON text, or a clouds.yaml mapping."""
    if value is None or value == "":
        return None
    if isinstance(value, ScopeOption):
        return value.scope
    if isinstance(value, Scope):
        return value
    if isinstance(value, Mapping):
        # clouds.yaml `scope: {identity: cloud-1, image: cloud-2}` is the JSON form.
        return parse_scope(json.dumps({str(k): str(v) for k, v in value.items()}))
    return parse_scope(str(value))
