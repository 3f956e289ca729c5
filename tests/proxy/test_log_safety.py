"""aiohttp's records of requests that do not parse lose the request's bytes; others stay."""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import BadHttpMessage

from openstackoid.proxy.log_safety import HideRequestLines

TOKEN = "gAAAAAB-secret"


def _record(error: BaseException) -> logging.LogRecord:
    try:
        raise error
    except BaseException as exc:
        return logging.LogRecord(
            "aiohttp.server",
            logging.ERROR,
            __file__,
            1,
            "Error handling request from %s",
            ("127.0.0.1",),
            (type(exc), exc, exc.__traceback__),
        )


def test_an_unparsable_request_is_logged_without_its_bytes() -> None:
    record = _record(BadHttpMessage(f"Invalid header value char: b'X-Auth-Token: {TOKEN}'"))
    assert HideRequestLines().filter(record)
    text = logging.Formatter().format(record)
    assert TOKEN not in text and "BadHttpMessage" in text and "400" in text


def test_a_bug_keeps_its_traceback() -> None:
    record = _record(ValueError("a bug"))
    HideRequestLines().filter(record)
    assert "Traceback" in logging.Formatter().format(record)
