"""The scope as one URL path segment, and without braces for clouds.yaml.

A client whose auth_url is `http://PROXY/scope/<segment>/identity/v3` carries its scope in
every URL the proxy hands back, so clients with no openstackoid code in them (plain
openstacksdk, gophercloud, curl, Ansible) are scoped too. The segment is the brace-free form
of the language with its spaces dropped, percent-encoded where a path segment needs it
(RFC 3986 pchar): `identity:cloud-1;image:cloud-2|cloud-3` is
`identity:cloud-1;image:cloud-2%7Ccloud-3`.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from openstackoid.scope_dsl.ast import Scope
from openstackoid.scope_dsl.errors import ScopeSyntaxError
from openstackoid.scope_dsl.parser import parse_scope

# RFC 3986 sub-delims, ':' and '@' may stand unencoded in a path segment.
_SEGMENT_SAFE = "!$&'()*+,;=:@~"


def brace_free(scope: Scope) -> str:
    """`identity: cloud-1; image: cloud-2`: the same scope, safe from str.format."""
    return "; ".join(str(entry) for entry in scope.entries)


def to_url_segment(scope: Scope) -> str:
    """The scope as one path segment; parse_url_segment gives the same scope back."""
    compact = ";".join(f"{e.service_type}:{str(e.expr).replace(' ', '')}" for e in scope.entries)
    return quote(compact, safe=_SEGMENT_SAFE)


def parse_url_segment(segment: str) -> Scope:
    """A path segment as the client sent it (percent-encoding kept) to a Scope.
    Raises ScopeSyntaxError, whose caret points into the decoded text."""
    try:
        text = unquote(segment, errors="strict")
    except UnicodeDecodeError as exc:
        raise ScopeSyntaxError(
            "the scope in the URL is not percent-encoded UTF-8", segment, 1, 1
        ) from exc
    return parse_scope(text)
