import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.errors import BadRequest
from proxy.pagination import DONE, decode_marker, encode_marker, next_link


@given(st.dictionaries(st.text(min_size=1, max_size=20), st.one_of(st.none(), st.text())))
def test_markers_round_trip(markers: dict[str, str | None]) -> None:
    assert decode_marker(encode_marker(markers)) == markers


@pytest.mark.parametrize("bad", ["abc", "osoid.!!!", "osoid." + "e30"[:-1], "osoid.WzFd"])
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
