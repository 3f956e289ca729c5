"""No token in any log, whatever a client sends.

aiohttp logs a request it cannot parse with its traceback, and the traceback quotes the
offending line: `X-Auth-Token: <token>\\x7f` put the token in the log (issue 15). Its
records are kept, without the request's bytes.
"""

from __future__ import annotations

import logging

_LOGGERS = ("aiohttp.server", "aiohttp.web")


class HideRequestLines(logging.Filter):
    """A record of aiohttp's server keeps its level, its fixed message and the kind of its
    exception: no arguments, no traceback, nothing quoted from the request."""

    def filter(self, record: logging.LogRecord) -> bool:
        fixed = record.msg if isinstance(record.msg, str) else "aiohttp server error"
        if record.exc_info and record.exc_info[1] is not None:
            fixed = f"{fixed} ({type(record.exc_info[1]).__name__})"
        record.msg = fixed  # printed as it is: without arguments nothing is %-formatted
        record.args = None
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


def hide_request_lines() -> None:
    """Install the filter on aiohttp's server loggers, once per process."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, HideRequestLines) for f in logger.filters):
            logger.addFilter(HideRequestLines())
