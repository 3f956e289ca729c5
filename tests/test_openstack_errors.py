"""OpenStack's error body, as keystoneauth reads it, and who may import it."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import requests
from keystoneauth1 import exceptions

from openstackoid.openstack_errors import openstack_error

ROOT = Path(__file__).parent.parent


def _body(status: int, title: str | None, message: str) -> dict[str, object]:
    response = openstack_error(status, title, message)
    assert response.body is not None and response.content_type == "application/json"
    return dict(json.loads(bytes(response.body)))  # type: ignore[arg-type]


def test_the_shape_openstack_services_answer() -> None:
    assert _body(413, "Request Entity Too Large", "too big") == {
        "error": {"code": 413, "title": "Request Entity Too Large", "message": "too big"}
    }


def test_no_title_is_the_status_phrase() -> None:
    assert _body(503, None, "down")["error"] == {
        "code": 503,
        "title": "Service Unavailable",
        "message": "down",
    }


def test_the_request_id_header_only_when_given() -> None:
    assert openstack_error(400, None, "x", "req-1").headers["X-Openstack-Request-Id"] == "req-1"
    assert "X-Openstack-Request-Id" not in openstack_error(400, None, "x").headers


@pytest.mark.parametrize("status", [400, 401, 404, 503])
def test_keystoneauth_reads_the_message_and_request_id(status: int) -> None:
    """What `openstack` prints comes from keystoneauth's from_response: it must find both."""
    answer = openstack_error(status, None, "the reason", "req-7")
    assert answer.body is not None
    raw = requests.Response()
    raw.status_code = status
    raw.headers.update({**answer.headers, "Content-Type": "application/json"})
    raw._content = bytes(answer.body)  # type: ignore[arg-type]
    error = exceptions.from_response(raw, "GET", "http://proxy/x")
    assert error.http_status == status
    assert error.message == f"the reason (HTTP {status}) (Request-ID: req-7)"  # as printed
    assert error.request_id == "req-7"


def _package(module: str) -> str:
    """The package a module belongs to: `openstackoid.proxy.app` is the proxy's."""
    parts = module.split(".")
    return parts[1] if parts[0] == "openstackoid" and len(parts) > 1 else parts[0]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {_package(alias.name) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(_package(node.module))
    return found


@pytest.mark.parametrize(
    ("source", "forbidden"),
    [
        (
            "openstackoid/openstack_errors.py",
            {"proxy", "registry", "scope_dsl", "cli_plugin", "testbed"},
        ),
        ("registry", {"proxy", "cli_plugin", "testbed"}),
        ("scope_dsl", {"proxy", "registry", "cli_plugin", "testbed"}),
    ],
)
def test_the_layering_holds(source: str, forbidden: set[str]) -> None:
    """The error body lives beside the packages so the registry need not import the proxy."""
    path = ROOT / source
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    wrong = {str(f.relative_to(ROOT)): _imports(f) & forbidden for f in files}
    assert not {f: names for f, names in wrong.items() if names}
