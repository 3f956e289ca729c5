import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openstackoid.proxy.errors import BadRequest
from openstackoid.proxy.pagination import (
    DONE,
    MAX_DEPTH,
    Position,
    decode_marker,
    encode_marker,
    next_link,
)

positions = st.recursive(
    st.one_of(st.none(), st.text()),
    lambda inner: st.one_of(
        st.dictionaries(st.text(max_size=20), inner, max_size=4),
        st.tuples(st.text(max_size=20), inner),
    ),
    max_leaves=12,
)


@given(positions)
def test_markers_round_trip(position: Position) -> None:
    assert decode_marker(encode_marker(position)) == position


def _forged(data: object) -> str:
    return "osoid." + base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def _nested(depth: int) -> object:
    """["m", ["m", ... null]]: a group within a group, `depth` times."""
    return None if depth == 0 else ["m", _nested(depth - 1)]


def test_markers_nest_as_deep_as_scopes_may() -> None:
    assert decode_marker(_forged(_nested(MAX_DEPTH))) is not None


@pytest.mark.parametrize(
    "bad",
    [
        "abc",
        "osoid.!!!",
        "osoid." + "e30"[:-1],
        "osoid.WzFd",
        _forged({"cloud-1": 5}),
        _forged(["cloud-1", "a", "b"]),
        _forged([3, "a"]),
        _forged(_nested(MAX_DEPTH + 2)),
    ],
)
def test_foreign_or_damaged_markers_are_400(bad: str) -> None:
    with pytest.raises(BadRequest):
        decode_marker(bad)


def test_next_link_keeps_the_query() -> None:
    link = next_link(
        "/v2/images",
        {"limit": "2", "marker": "old", "status": "active"},
        {"cloud-1": "a", "cloud-2": DONE},
    )
    assert link.startswith("/v2/images?limit=2&status=active&marker=osoid.")
