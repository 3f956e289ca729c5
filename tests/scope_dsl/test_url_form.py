"""The brace-free and URL forms of a scope: same scope back, safe where they travel."""

import string
from urllib.parse import quote

import pytest
from hypothesis import given, settings

from openstackoid.scope_dsl import (
    ScopeSyntaxError,
    brace_free,
    parse_scope,
    parse_url_segment,
    to_url_segment,
)
from tests.scope_dsl.test_properties import scopes

# RFC 3986 pchar: unreserved, sub-delims, ':' '@', and '%' for percent-encoding.
PCHAR = set(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@%")


@given(scopes)
@settings(max_examples=300)
def test_a_url_segment_gives_the_same_scope_back(scope) -> None:
    segment = to_url_segment(scope)
    assert set(segment) <= PCHAR
    assert "/" not in segment and "?" not in segment and "#" not in segment
    assert parse_url_segment(segment) == scope


@given(scopes)
@settings(max_examples=300)
def test_the_brace_free_form_survives_str_format_and_parses_back(scope) -> None:
    text = brace_free(scope)
    assert text.format(scope="x") == text  # what openstack.config does to strings
    assert parse_scope(text) == scope


def test_the_seed_scope_in_a_url() -> None:
    scope = parse_scope("{keystone: cloud-1; glance: cloud-2 | cloud-3}")
    assert to_url_segment(scope) == "identity:cloud-1;image:cloud-2%7Ccloud-3"
    assert brace_free(scope) == "identity: cloud-1; image: cloud-2 | cloud-3"


def test_a_client_may_encode_more_than_needed() -> None:
    text = "keystone: cloud-1; glance: cloud-2"
    assert parse_url_segment(quote(text, safe="")) == parse_scope("{" + text + "}")


def test_a_bad_url_scope_is_a_syntax_error_with_a_caret() -> None:
    with pytest.raises(ScopeSyntaxError) as caught:
        parse_url_segment("glance:clod-2%7C")
    assert "expected a cloud after the operator" in str(caught.value)
    assert "glance:clod-2|" in caught.value.caret


def test_bytes_that_are_not_utf8_are_a_syntax_error() -> None:
    with pytest.raises(ScopeSyntaxError, match="percent-encoded UTF-8"):
        parse_url_segment("image:%ff")


def test_brace_free_errors_name_the_mistake() -> None:
    with pytest.raises(ScopeSyntaxError, match="expected a service after ';'"):
        parse_scope("keystone: cloud-1;")
