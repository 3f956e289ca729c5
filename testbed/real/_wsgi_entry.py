"""The module gunicorn loads inside .venv-real to serve one real OpenStack service.

It runs in the real services' venv, so it uses the standard library only. Keystone (and Nova,
Placement, Neutron) parse ``sys.argv`` with oslo.config when imported, and gunicorn's own
options would make them fail: the arguments are dropped before the service's WSGI module is
imported.

With ``OPENSTACKOID_ACCESS_LOG`` set, each request is written there as one JSON line, the way
an operator's access log would record it: the request as the service received it (tokens as
sha256 digests, never in clear), the identity the service's auth middleware resolved, and the
answer's status. The service itself is untouched: this is the WSGI server's side.
"""

import hashlib
import importlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

sys.argv = sys.argv[:1]
_module, _, _attribute = os.environ["OPENSTACKOID_WSGI_APP"].partition(":")
_service = getattr(importlib.import_module(_module), _attribute)

if "sqlalchemy.orm" in sys.modules:
    # Neutron's ORM relationships are declared across modules its API loads lazily: the
    # first GET /v2.0/ports fails ("Port has no attribute port_forwardings") unless every
    # mapper is configured before serving, as neutron-server's own start-up does.
    importlib.import_module("sqlalchemy.orm").configure_mappers()

_LOG_PATH = os.environ.get("OPENSTACKOID_ACCESS_LOG")
_LOG_LOCK = threading.Lock()
_TOKEN_DIGEST_CHARS = 16
_IDENTITY_KEYS = {
    "user_id": "HTTP_X_USER_ID",
    "user_name": "HTTP_X_USER_NAME",
    "project_id": "HTTP_X_PROJECT_ID",
    "roles": "HTTP_X_ROLES",
    "service_user_name": "HTTP_X_SERVICE_USER_NAME",
}


def _digest(token: str | None) -> str | None:
    if not token:
        return None
    return hashlib.sha256(token.encode()).hexdigest()[:_TOKEN_DIGEST_CHARS]


def _logged(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The service, with one access-log line per request written when its answer starts."""
    asked = {
        "method": environ.get("REQUEST_METHOD"),
        "path": environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""),
        "user_agent": environ.get("HTTP_USER_AGENT"),
        "request_id": environ.get("HTTP_X_OPENSTACK_REQUEST_ID"),
        "token": _digest(environ.get("HTTP_X_AUTH_TOKEN")),
        "service_token": _digest(environ.get("HTTP_X_SERVICE_TOKEN")),
        "scope_header": environ.get("HTTP_X_SCOPE"),
    }

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        issued = next((v for k, v in headers if k.lower() == "x-subject-token"), None)
        entry = {
            "time": time.time(),
            **asked,
            "status": int(status.split(" ", 1)[0]),
            "issued_token": _digest(issued) if asked["method"] == "POST" else None,
            # keystonemiddleware wrote what the token stands for into this same environ.
            **{key: environ.get(name) for key, name in _IDENTITY_KEYS.items()},
        }
        line = json.dumps(entry) + "\n"
        with _LOG_LOCK, open(str(_LOG_PATH), "a") as log:
            log.write(line)
        return start_response(status, headers, exc_info)

    answer: Iterable[bytes] = _service(environ, start)
    return answer


application = _logged if _LOG_PATH else _service
