"""No token in any log, whatever a client sends.

aiohttp logs a request it cannot parse with its traceback, and the traceback quotes the
offending line: `X-Auth-Token: <token>\\x7f` put the token in the log (issue 15). Its
records are kept, without the request's bytes.
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

_LOGGERS = ("aiohttp.server", "aiohttp.web")


class HideRequestLines(logging.Filter):
    """A record of aiohttp's server about a request it could not parse keeps its level and
    the kind of error: no arguments, no traceback, nothing quoted from the request. Other
    records (a bug's traceback) are left whole."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg = (
                f"a request that does not parse ({type(error).__name__}, status "
                f"{error.code}): its bytes are not logged, they may hold a token"
            )
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def hide_request_lines() -> None:
    """Install the filter on aiohttp's server loggers, once per process."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, HideRequestLines) for f in logger.filters):
            logger.addFilter(HideRequestLines())
