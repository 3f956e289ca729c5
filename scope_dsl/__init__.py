"""The openstackoid scope language: which cloud serves which OpenStack service.

>>> str(parse_scope("{keystone: cloud-1; glance: cloud-999}"))
'{identity: cloud-1; image: cloud-999}'
"""

from openstackoid.scope_dsl.ast import (
    DEFAULT_SERVICE,
    AllOf,
    AnyOf,
    CloudExpr,
    CloudGlob,
    CloudRef,
    GroupSelector,
    LabelSelector,
    Scope,
    ScopeEntry,
    Selector,
)
from openstackoid.scope_dsl.errors import ScopeError, ScopeLimitExceeded, ScopeSyntaxError
from openstackoid.scope_dsl.limits import MAX_SCOPE_DEPTH, MAX_SCOPE_LENGTH, MAX_SCOPE_TERMS
from openstackoid.scope_dsl.parser import parse_scope
from openstackoid.scope_dsl.services import official_service_type
from openstackoid.scope_dsl.url_form import brace_free, parse_url_segment, to_url_segment

canonical_service_type = official_service_type

__all__ = [
    "DEFAULT_SERVICE",
    "MAX_SCOPE_DEPTH",
    "MAX_SCOPE_LENGTH",
    "MAX_SCOPE_TERMS",
    "AllOf",
    "AnyOf",
    "CloudExpr",
    "CloudGlob",
    "CloudRef",
    "GroupSelector",
    "LabelSelector",
    "Scope",
    "ScopeEntry",
    "ScopeError",
    "ScopeLimitExceeded",
    "ScopeSyntaxError",
    "Selector",
    "canonical_service_type",
    "brace_free",
    "official_service_type",
    "parse_scope",
    "parse_url_segment",
    "to_url_segment",
]
