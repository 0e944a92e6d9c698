"""The ASGI application: routes, handlers and error mapping.

Routes (``{api}`` is ``/api/<resource>`` from the definition, e.g. ``/api/cities``):

| method | path                  | answer                                             |
| ------ | --------------------- | -------------------------------------------------- |
| GET    | ``/``, ``/home.php``  | HTML page: service name, host name, time (UTC)     |
| GET    | ``/health``, ``/health.php`` | ``PASS`` (200) or ``FAIL`` (503), text/plain |
| GET    | ``{api}``, ``/<name>.php`` | ``{"items": [...], "limit", "next_after", "next"}`` |
| GET    | ``{api}/<id>``        | one record, or 404                                 |
| POST   | ``{api}``             | create from a JSON object; 201 + ``Location``      |

Errors are JSON ``{"error": code, "message": text}``: 400 bad query or
malformed JSON, 404 (an id that is not a stored record's, however long),
405, 409 duplicate of a unique field, 413 body over 16 KiB, 415 not
``application/json``, 422 invalid record (with a ``problems`` list), 503
database unavailable or schema not usable, 500 anything unexpected (details
go to the log only).  A path that exists only with (or without) a trailing
slash is redirected (307) with a relative ``Location``.  A client that
disconnects before its request body arrived is logged at INFO with status 499.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeVar
from urllib.parse import quote as quote_url

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ecs_service.db import ConnectionPool, DatabaseUnavailable, DictConnection, DuplicateEntry
from ecs_service.definition import UINT64_MAX, ServiceDefinition
from ecs_service.logs import AccessLogMiddleware
from ecs_service.pages import render_home
from ecs_service.repository import Repository
from ecs_service.schema import SchemaKeeper, schema_problem
from ecs_service.settings import Settings
from ecs_service.validation import (
    BadRequest,
    ValidationFailed,
    json_integer,
    parse_decimal,
    parse_page,
    validate_record,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BODY_BYTES = 16 * 1024
# What the access log records for a request whose client went away before the
# response (nginx's "client closed request"); nothing is sent, nobody is there.
CLIENT_CLOSED_REQUEST = 499
_NO_STORE = {"Cache-Control": "no-store"}
_PAGE_HEADERS = {
    **_NO_STORE,
    "Content-Security-Policy": "default-src 'none'",
    "X-Content-Type-Options": "nosniff",
}


def shown(text: str, limit: int = 40) -> str:
    """*text* for a message, cut to *limit* characters (a client chose it, maybe huge)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def error_response(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    """The JSON body every error shares."""
    return JSONResponse(
        {"error": error, "message": message, **extra}, status_code=status, headers=_NO_STORE
    )


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refusing (413) anything over *limit* bytes without buffering it."""
    too_large = HTTPException(413, "Content Too Large")
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and parse_decimal(declared, 0, limit) is None:
        raise too_large  # digits, yet not 0..limit: larger (whatever their count)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode_json(body: bytes) -> Any:
    """Strict JSON decoding (no NaN/Infinity, huge integers clamped); raises :class:`BadRequest`."""
    try:
        return json.loads(body, parse_constant=_reject_constant, parse_int=json_integer)
    except (ValueError, RecursionError) as exc:
        raise BadRequest("the body is not valid JSON") from exc


class Handlers:
    """Request handlers bound to one service's definition and database."""

    def __init__(
        self, definition: ServiceDefinition, pool: ConnectionPool, keeper: SchemaKeeper
    ) -> None:
        self.definition = definition
        self.pool = pool
        self.keeper = keeper
        self.repository = Repository(definition)

    async def db(self, work: Callable[[DictConnection], T]) -> T:
        """Run *work* with a pooled connection in a worker thread."""
        return await run_in_threadpool(self.pool.run, work)

    async def home(self, request: Request) -> Response:
        """The tutorial's home page."""
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        page = render_home(
            self.definition.title, socket.gethostname(), now, self.definition.api_path
        )
        return HTMLResponse(page, headers=_PAGE_HEADERS)

    async def health(self, request: Request) -> Response:
        """PASS when the database answers and the table is usable (see :func:`schema_problem`)."""
        fail = PlainTextResponse("FAIL", status_code=503, headers=_NO_STORE)
        try:
            problem = await self.db(lambda conn: schema_problem(conn, self.definition))
        except DatabaseUnavailable as exc:
            problem = str(exc)
        except Exception:
            logger.exception("health check failed")
            self.keeper.invalidate("unexpected error in the health check")
            return fail
        if problem is not None:
            logger.warning("health check failed", extra={"fields": {"reason": problem}})
            self.keeper.invalidate(problem)
            return fail
        return PlainTextResponse("PASS", headers=_NO_STORE)

    async def list_records(self, request: Request) -> Response:
        """One page of records, oldest first, with a cursor to the next page."""
        page = parse_page(request.query_params)
        items = await self.db(lambda conn: self.repository.list_page(conn, page))
        next_after = items[-1]["id"] if len(items) == page.limit else None
        next_url = (
            f"{self.definition.api_path}?limit={page.limit}&after={next_after}"
            if next_after is not None
            else None
        )
        return JSONResponse(
            {"items": items, "limit": page.limit, "next_after": next_after, "next": next_url}
        )

    async def get_record(self, request: Request) -> Response:
        """One record by id; any other path segment (not an id, out of range) is a 404."""
        raw: str = request.path_params["record_id"]
        record_id = parse_decimal(raw, 0, UINT64_MAX)
        record = None
        if record_id is not None:
            record = await self.db(lambda conn: self.repository.get(conn, record_id))
        if record is None:
            return error_response(404, "not_found", f"no record with id {shown(raw)}")
        return JSONResponse(record)

    async def create_record(self, request: Request) -> Response:
        """Insert a record from a JSON object."""
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            return error_response(
                415, "unsupported_media_type", "send the record as application/json"
            )
        values = validate_record(self.definition, decode_json(await read_body(request)))
        record = await self.db(lambda conn: self.repository.create(conn, values))
        location = f"{self.definition.api_path}/{record['id']}"
        return JSONResponse(record, status_code=201, headers={"Location": location})

    def routes(self) -> list[Route]:
        """Every route of the service, the tutorial's ``.php`` pages included."""
        d = self.definition
        return [
            Route("/", self.home, methods=["GET"]),
            Route("/home.php", self.home, methods=["GET"]),
            Route("/health", self.health, methods=["GET"]),
            Route("/health.php", self.health, methods=["GET"]),
            Route(d.api_path, self.list_records, methods=["GET"]),
            Route(d.api_path, self.create_record, methods=["POST"]),
            Route(d.api_path + "/{record_id}", self.get_record, methods=["GET"]),
            Route(d.legacy_list_path, self.list_records, methods=["GET"]),
        ]

    def exception_handlers(self) -> dict[Any, Callable[[Request, Any], Any]]:
        """Map exceptions to JSON answers; the catch-all never leaks details."""

        async def unavailable(request: Request, exc: DatabaseUnavailable) -> Response:
            logger.warning("database unavailable", extra={"fields": {"reason": str(exc)}})
            if exc.schema_missing:
                self.keeper.invalidate(str(exc))
            return error_response(
                503, "unavailable", "the database is unavailable, try again later"
            )

        async def invalid(request: Request, exc: ValidationFailed) -> Response:
            problems = [{"field": p.field, "message": p.message} for p in exc.problems]
            return error_response(
                422, "validation_error", "the record is invalid", problems=problems
            )

        async def bad_request(request: Request, exc: BadRequest) -> Response:
            return error_response(400, "bad_request", str(exc))

        async def duplicate(request: Request, exc: DuplicateEntry) -> Response:
            return error_response(409, "conflict", "a record with the same unique value exists")

        async def http_error(request: Request, exc: HTTPException) -> Response:
            code = exc.detail.lower().replace(" ", "_")
            response = error_response(exc.status_code, code, exc.detail)
            response.headers.update(exc.headers or {})
            return response

        async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
            # Not a server error: the client closed the connection while sending its body.
            logger.info(
                "client disconnected before sending the whole request",
                extra={"fields": {"method": request.method, "path": request.scope["path"]}},
            )
            return Response(status_code=CLIENT_CLOSED_REQUEST)  # for the access log only

        async def internal(request: Request, exc: Exception) -> Response:
            return error_response(500, "internal_error", "Internal server error")

        return {
            ClientDisconnect: client_gone,
            DatabaseUnavailable: unavailable,
            ValidationFailed: invalid,
            BadRequest: bad_request,
            DuplicateEntry: duplicate,
            HTTPException: http_error,
            Exception: internal,
        }


class SlashRedirect:
    """The router's fallback: redirect to the path with its trailing slash toggled, if that exists.

    Starlette's own redirect builds an absolute URL from the request's
    ``Host`` header, so the client (or whoever forged the header) chooses the
    host it points to.  This one answers 307 with a relative ``Location``
    (path and query only), which the client resolves against the URL it
    used; a target starting with ``//`` (a host, for a browser) is never
    produced.  Anything else raises the 404 the application answers in JSON.
    """

    def __init__(self, routes: list[BaseRoute]) -> None:
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Redirect or raise 404."""
        path: str = scope["path"]
        other = path.rstrip("/") if path.endswith("/") else path + "/"
        if other.startswith("/") and not other.startswith("//"):
            target = {**scope, "path": other}
            if any(route.matches(target)[0] is not Match.NONE for route in self.routes):
                query = bytes(scope.get("query_string", b"")).decode("latin-1")
                location = quote_url(other) + (f"?{query}" if query else "")
                response = RedirectResponse(location, status_code=307, headers=_NO_STORE)
                await response(scope, receive, send)
                return
        raise HTTPException(404)


def create_app(definition: ServiceDefinition, settings: Settings) -> ASGIApp:
    """Build the service's ASGI application (wrapped in the access log)."""
    pool = ConnectionPool(settings.database)
    keeper = SchemaKeeper(pool, settings.database.name, definition)
    handlers = Handlers(definition, pool, keeper)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(keeper.run(), name="schema-keeper")
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            pool.close()

    app = Starlette(
        routes=handlers.routes(),
        exception_handlers=handlers.exception_handlers(),
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # it redirects to the Host header's host
    app.router.default = SlashRedirect(app.router.routes)
    return AccessLogMiddleware(app)
