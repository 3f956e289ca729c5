"""A response as the proxy reads it: whole, up to a limit, or piece by piece."""

from multidict import CIMultiDict

from proxy.upstream.connection import UpstreamResponse


async def test_an_answer_read_whole() -> None:
    response = UpstreamResponse.complete(200, CIMultiDict({"Content-Length": "5"}), b"hello")
    assert (response.status, response.content_length, response.done) == (200, 5, True)
    assert await response.read(timeout=1.0) == b"hello"


async def test_read_up_to_says_whether_the_body_ended_within_the_limit() -> None:
    response = UpstreamResponse.complete(
        200, CIMultiDict({"Content-Type": "Application/JSON; charset=utf-8"}), b"x" * 10
    )
    assert response.content_type == "application/json"
    assert await response.read_up_to(10, timeout=1.0) == (b"x" * 10, True)
    response = UpstreamResponse.complete(200, CIMultiDict(), b"x" * 10)
    assert await response.read_up_to(9, timeout=1.0) == (b"x" * 10, False)


async def test_pieces_arrive_as_fed_and_release_is_once() -> None:
    released: list[bool] = []
    response = UpstreamResponse.complete(200, CIMultiDict(), b"")
    response = UpstreamResponse(
        response._connection, 200, CIMultiDict(), lambda c, r: released.append(r)
    )
    response.feed(b"a")
    response.feed(b"b")
    response.finish()
    assert [c async for c in response.iter_chunks(timeout=1.0)] == [b"a", b"b"]
    response.release()
    response.release()
    assert released == [True]  # read whole: the connection may serve again
