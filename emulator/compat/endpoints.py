"""The emulator's own HTTP endpoints, under ``/_emulator/`` beside moto's API.

- ``GET /_emulator/notes?since=N``: the notes recorded after N (see :mod:`emulator.compat.notes`),
  as ``{"last": M, "notes": [...]}``; the driver marks ``last`` before a deploy and asks
  for what came after.
- ``GET /_emulator/health``: ``{"pid": N}``, the server's process; the driver's probe that the
  emulator still answers, and ``status``'s check that the endpoint is this pid's.
- ``GET /_emulator/load-balancers``: every classic ELB's local listeners and instance health,
  and the time factor (see :mod:`emulator.runtime.elb`).
- ``PUT /_emulator/custom-resource-responses/<request-id>``: the ``ResponseURL`` that a
  custom resource handler run in-process answers to (the cfn-response protocol).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from emulator.compat import lambda_code, notes

PREFIX = "/_emulator/"
RESPONSES = f"{PREFIX}custom-resource-responses/"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _json(start_response: StartResponse, status: str, body: dict[str, Any]) -> list[bytes]:
    payload = json.dumps(body).encode("utf-8")
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    )
    return [payload]


def _notes(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    query = parse_qs(environ.get("QUERY_STRING", ""))
    try:
        mark = int(query.get("since", ["0"])[0])
    except ValueError:
        return _json(start_response, "400 Bad Request", {"error": "since must be an integer"})
    found = notes.since(mark)
    return _json(
        start_response,
        "200 OK",
        {"last": notes.last(), "notes": [n.as_dict() for n in found]},
    )


def _custom_resource_response(
    environ: dict[str, Any], start_response: StartResponse
) -> list[bytes]:
    request_id = environ["PATH_INFO"][len(RESPONSES) :]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    try:
        lambda_code.deliver(request_id, json.loads(body or b"{}"))
    except (ValueError, KeyError) as error:
        return _json(start_response, "400 Bad Request", {"error": str(error)})
    return _json(start_response, "200 OK", {})


def wrap(app: WsgiApp) -> WsgiApp:
    """moto's WSGI app with the ``/_emulator/`` endpoints in front."""

    def dispatch(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == f"{PREFIX}health" and method == "GET":
            return _json(start_response, "200 OK", {"pid": os.getpid()})
        if path == f"{PREFIX}notes" and method == "GET":
            return _notes(environ, start_response)
        if path == f"{PREFIX}load-balancers" and method == "GET":
            from emulator.runtime import elb

            return _json(start_response, "200 OK", elb.describe())
        if path.startswith(RESPONSES) and method in ("PUT", "POST"):
            return _custom_resource_response(environ, start_response)
        if path.startswith(PREFIX):
            return _json(start_response, "404 Not Found", {"error": f"no endpoint {path}"})
        return app(environ, start_response)

    return dispatch
