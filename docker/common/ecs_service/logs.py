"""Structured logging: one JSON object per line on stdout.

Application code logs through :mod:`logging`; structured values go in
``extra={"fields": {...}}``.  :class:`AccessLogMiddleware` writes exactly one
line per HTTP request (uvicorn's own access log is switched off).
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_logger = logging.getLogger("ecs_service.access")
error_logger = logging.getLogger("ecs_service.errors")

_GENERIC_500 = b'{"error":"internal_error","message":"Internal server error"}'


class JsonFormatter(logging.Formatter):
    """Render a record as a single JSON line."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as compact JSON (exceptions as a ``traceback`` string)."""
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "service": self._service,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["traceback"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(service: str, level: str) -> None:
    """Send every logger (uvicorn's included) through one JSON handler on stdout."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class AccessLogMiddleware:
    """Outermost ASGI middleware: logs each request and is the last line of defence.

    An exception that escapes the application is logged with its traceback
    (to the log only) and, if no response has started, answered with a
    generic JSON 500.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state: dict[str, Any] = {"status": None, "bytes": 0}

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
            elif message["type"] == "http.response.body":
                state["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        except Exception:
            error_logger.exception("unhandled error", extra={"fields": {"path": scope.get("path")}})
            if state["status"] is None:
                await _send_generic_500(send_and_record)
        finally:
            self._log(scope, state, started)

    @staticmethod
    def _log(scope: Scope, state: dict[str, Any], started: float) -> None:
        client = scope.get("client")
        fields = {
            "type": "access",
            "method": scope.get("method"),
            "path": scope.get("path"),
            "status": state["status"],
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "bytes": state["bytes"],
            "client": client[0] if client else None,
            "user_agent": _header(scope, b"user-agent"),
            "request_id": _header(scope, b"x-amzn-trace-id") or uuid.uuid4().hex,
        }
        access_logger.info("request", extra={"fields": fields})


async def _send_generic_500(send: Send) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_GENERIC_500)).encode()),
    ]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": _GENERIC_500})
