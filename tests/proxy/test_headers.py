"""Which headers cross the proxy, and which tokens go when the identity is swapped."""

from multidict import CIMultiDict, CIMultiDictProxy

from openstackoid.proxy.headers import downstream_response_headers, upstream_request_headers


def _incoming(**headers: str) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict({k.replace("_", "-"): v for k, v in headers.items()}))


def test_hop_by_hop_headers_stay_behind() -> None:
    incoming = _incoming(
        Connection="close", Host="proxy", Transfer_Encoding="chunked", Expect="100-continue"
    )
    sent = upstream_request_headers(incoming, None, keep_length=False)
    assert not set(sent) & {"Connection", "Host", "Transfer-Encoding", "Expect"}
    answer = downstream_response_headers(_incoming(Keep_Alive="5", Content_Type="a/b"))
    assert list(answer.items()) == [("Content-Type", "a/b")]


def test_the_callers_token_passes_as_is() -> None:
    incoming = _incoming(X_Auth_Token="user", X_Service_Token="svc", Content_Length="3")
    sent = upstream_request_headers(incoming, "user", keep_length=True)
    assert (sent["X-Auth-Token"], sent["X-Service-Token"], sent["Content-Length"]) == (
        "user",
        "svc",
        "3",
    )


def test_a_swapped_token_takes_the_callers_other_tokens_away() -> None:
    incoming = _incoming(X_Auth_Token="user", X_Service_Token="svc", X_Subject_Token="user")
    sent = upstream_request_headers(incoming, "proxy", keep_length=False)
    assert sent["X-Auth-Token"] == "proxy"
    assert "X-Service-Token" not in sent and "X-Subject-Token" not in sent
    assert "X-Auth-Token" not in upstream_request_headers(incoming, None, keep_length=False)
