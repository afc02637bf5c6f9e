"""Logs: uvicorn's human format by default, for our loggers too (without it a line at INFO
from commpulse went nowhere, and a warning reached stderr bare); one JSON object a line
when COMMPULSE_LOG_FORMAT=json, each carrying the request id and the token's name.

`RequestIds` gives every HTTP request and websocket an id (the client's `X-Request-ID`
when it is sane, else a new one), answers it in `X-Request-ID`, and keeps it in a context
variable (schema.errors.REQUEST_ID, which error logging reads too) for every line logged
while the request is handled; the token's name joins it once the caller is identified.
Websocket operations run in tasks that inherit both.
"""

import copy
import itertools
import json
import logging
import re
import uuid
from collections.abc import Awaitable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.config import LOGGING_CONFIG

from schema.errors import REQUEST_ID

TOKEN: ContextVar[str | None] = ContextVar("token", default=None)
SANE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
OURS = ("commpulse", "server", "store", "schema")  # every logger of ours is under one of these

HUMAN: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
HUMAN["formatters"]["commpulse"] = {
    "()": "uvicorn.logging.DefaultFormatter",
    "fmt": "%(levelprefix)s %(name)s: %(message)s",
}
HUMAN["handlers"]["commpulse"] = {
    "formatter": "commpulse",
    "class": "logging.StreamHandler",
    "stream": "ext://sys.stderr",
}
HUMAN["loggers"] |= {
    name: {"handlers": ["commpulse"], "level": "INFO", "propagate": False} for name in OURS
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": REQUEST_ID.get(),
            "token": TOKEN.get(),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def config(log_format: str) -> dict[str, Any]:
    """uvicorn's log_config for COMMPULSE_LOG_FORMAT."""
    if log_format != "json":
        return HUMAN
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    quiet = {"handlers": ["stderr"], "level": "INFO", "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "server.logs.JsonFormatter"}},
        "handlers": {"stderr": handler},
        "loggers": {"uvicorn": quiet, "uvicorn.error": {"level": "INFO"}, "uvicorn.access": quiet},
        "root": {"handlers": ["stderr"], "level": "INFO"},
    }


# A request id costs one counter step, not a uuid4 (a read of the OS's randomness) per
# request: 32 hex digits, a random half per process and a counted half, unique across
# instances without asking the OS each time.
_PROCESS = uuid.uuid4().hex[:16]
_counted = itertools.count(1)


def _new_id() -> str:
    return f"{_PROCESS}{next(_counted):016x}"


class RequestIds:
    """Every request's id: the one cost of logging on the hot path, since errors and the
    JSON log name it and the answer carries it; nothing of ours is logged for a request that
    goes well (uvicorn's access log is uvicorn's, `--no-access-log` turns it off)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # not a coroutine function: it hands on the app's call, and keeps no frame of its
        # own on a websocket for the connection's life (server/http.py, HttpOnly)
        if scope["type"] not in ("http", "websocket"):
            return self.app(scope, receive, send)
        given = next((v for k, v in scope.get("headers") or [] if k == b"x-request-id"), b"")
        text = given.decode("latin-1")
        request_id = text if SANE.fullmatch(text) else _new_id()
        REQUEST_ID.set(request_id)  # in the caller's context, which the app runs in
        TOKEN.set(None)
        if scope["type"] == "websocket":  # no response headers to add
            return self.app(scope, receive, send)

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["x-request-id"] = request_id
            await send(message)

        return self.app(scope, receive, answer)
