"""HTTP API, pages and logs of both services, against the real processes."""

from __future__ import annotations

import json
import socket
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.services.service_harness import HTTP, MySQL, ServiceProcess
from tests.services.service_harness import sample_record as sample

API = {"location": "/api/cities", "user": "/api/users"}
TITLE = {"location": "Location Service", "user": "User Service"}


INVALID = {
    "location": (
        {"name": "", "country_code": "de", "population": -1},
        {"name", "country_code", "population"},
    ),
    "user": ({"username": "A", "email": "not-an-email", "age": 3}, {"username", "email", "age"}),
}


def post(process: ServiceProcess, body: Any, **kwargs: Any) -> httpx.Response:
    """POST a JSON body to the service's collection."""
    return HTTP.post(process.url + API[process.service], json=body, timeout=10, **kwargs)


def get(process: ServiceProcess, path: str, **kwargs: Any) -> httpx.Response:
    """GET a path of the service."""
    return HTTP.get(process.url + path, timeout=10, **kwargs)


def assert_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    """The response is a JSON error of the given status and code, without internals."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["error"] == error
    assert isinstance(body["message"], str)
    assert "Traceback" not in response.text and "pymysql" not in response.text.lower()
    return body


def test_create_get_and_list(service: ServiceProcess) -> None:
    record = sample(service.service)
    created = post(service, record)
    assert created.status_code == 201, created.text
    body = created.json()
    assert {k: body[k] for k in record} == record
    assert isinstance(body["id"], int) and body["created_at"].endswith("Z")
    assert created.headers["location"] == f"{API[service.service]}/{body['id']}"

    fetched = get(service, created.headers["location"])
    assert fetched.status_code == 200 and fetched.json() == body

    listed = get(service, API[service.service], params={"after": body["id"] - 1, "limit": 1})
    assert listed.status_code == 200 and listed.json()["items"] == [body]


def test_pagination_follows_the_cursor(service: ServiceProcess) -> None:
    ids = [post(service, sample(service.service)).json()["id"] for _ in range(3)]
    first = get(service, API[service.service], params={"after": ids[0] - 1, "limit": 2}).json()
    assert [item["id"] for item in first["items"]] == ids[:2]
    assert first["limit"] == 2 and first["next_after"] == ids[1]
    second = get(service, first["next"]).json()
    assert second["items"][0]["id"] == ids[2]
    default = get(service, API[service.service]).json()
    default_ids = [item["id"] for item in default["items"]]
    assert default["limit"] == 20 and 3 <= len(default_ids) <= 20, "records exist: a non-empty page"
    assert default_ids == sorted(set(default_ids)), "strictly ascending ids"
    assert (default["next_after"] is None) is (len(default_ids) < 20)


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=101", "limit=abc", "limit=1e3", "order=id"],
)
def test_list_rejects_bad_query(service: ServiceProcess, query: str) -> None:
    assert_error(get(service, f"{API[service.service]}?{query}"), 400, "bad_request")


@pytest.mark.parametrize("suffix", ["/123456789012", "/abc", "/1.0"])
def test_unknown_id_is_404(service: ServiceProcess, suffix: str) -> None:
    assert_error(get(service, API[service.service] + suffix), 404, "not_found")


def test_invalid_record_is_422_naming_each_field(service: ServiceProcess) -> None:
    body, fields = INVALID[service.service]
    problems = assert_error(post(service, body), 422, "validation_error")["problems"]
    assert {p["field"] for p in problems} == fields


@pytest.mark.parametrize(
    ("content", "content_type", "status", "error"),
    [
        (b"{not json", "application/json", 400, "bad_request"),
        (b'{"population": NaN}', "application/json", 400, "bad_request"),
        (b"[]", "application/json", 422, "validation_error"),
        (b"null", "application/json", 422, "validation_error"),
        (b'{"name": "x"}', "text/plain", 415, "unsupported_media_type"),
        (b'{"name": "' + b"x" * 20000 + b'"}', "application/json", 413, "content_too_large"),
    ],
)
def test_malformed_bodies(
    service: ServiceProcess, content: bytes, content_type: str, status: int, error: str
) -> None:
    response = HTTP.post(
        service.url + API[service.service],
        content=content,
        headers={"content-type": content_type},
        timeout=10,
    )
    assert_error(response, status, error)


def test_wrong_types_are_422(location_service: ServiceProcess) -> None:
    for bad in ({"population": True}, {"population": 1.5}, {"name": 5}, {"name": "\ud800"}):
        body = json.dumps(
            {**sample("location"), **bad}
        )  # ASCII-escaped, so a lone surrogate passes
        response = HTTP.post(
            location_service.url + API["location"],
            content=body,
            headers={"content-type": "application/json; charset=utf-8"},
            timeout=10,
        )
        problems = assert_error(response, 422, "validation_error")["problems"]
        assert [p["field"] for p in problems] == list(bad), problems


def test_unicode_round_trips(location_service: ServiceProcess) -> None:
    record = {**sample("location"), "name": "Zürich 😀 <script>"}
    created = post(location_service, record)
    assert created.status_code == 201 and created.json()["name"] == record["name"]


def test_duplicate_unique_field_is_409(user_service: ServiceProcess) -> None:
    record = sample("user")
    assert post(user_service, record).status_code == 201
    assert_error(post(user_service, record), 409, "conflict")


def test_method_not_allowed(service: ServiceProcess) -> None:
    response = HTTP.delete(service.url + API[service.service], timeout=10)
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


def test_unknown_path_is_json_404(service: ServiceProcess) -> None:
    assert_error(get(service, "/nope"), 404, "not_found")


def test_health_passes(service: ServiceProcess) -> None:
    for path in ("/health", "/health.php"):
        response = get(service, path)
        assert (response.status_code, response.text) == (200, "PASS")
        assert response.headers["content-type"].startswith("text/plain")


def test_home_page_names_its_own_service(service: ServiceProcess) -> None:
    for path in ("/", "/home.php"):
        response = get(service, path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["content-security-policy"] == "default-src 'none'"
        assert f"<title>{TITLE[service.service]}</title>" in response.text
        assert socket.gethostname() in response.text
    others = set(TITLE.values()) - {TITLE[service.service]}
    assert not any(title in response.text for title in others)


def test_legacy_php_list_pages(service: ServiceProcess) -> None:
    created = post(service, sample(service.service))
    assert created.status_code == 201, created.text
    own = get(service, f"/{service.service}.php", params={"after": created.json()["id"] - 1})
    assert own.status_code == 200 and own.json()["items"] == [created.json()]
    other = "user" if service.service == "location" else "location"
    assert_error(get(service, f"/{other}.php"), 404, "not_found")


def _access_records(process: ServiceProcess, path: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 3
    while True:
        records = [r for r in process.log_records() if r.get("path") == path]
        if records or time.monotonic() > deadline:
            return records
        time.sleep(0.05)


def test_one_json_access_line_per_request(service: ServiceProcess) -> None:
    path = f"{API[service.service]}/{uuid.uuid4().int % 10**12}"
    get(service, path, headers={"user-agent": "pytest-log-check"})
    records = _access_records(service, path)
    assert len(records) == 1, records
    line = records[0]
    assert line["type"] == "access" and line["method"] == "GET" and line["status"] == 404
    assert (
        isinstance(line["duration_ms"], (int, float)) and line["user_agent"] == "pytest-log-check"
    )
    assert line["service"] == service.service and line["level"] == "INFO"
    # uvicorn's own access log ("GET /path HTTP/1.1" 404) must not duplicate it
    assert service.log_text().count(path) == 1


# ---------------------------------------------------------------- numeric inputs

HUGE = "9" * 5000  # int() of more than 4300 digits raises ValueError
UINT64_MAX = 2**64 - 1


def client_errors_only(process: ServiceProcess, since: int, user_agent: str) -> dict[str, Any]:
    """The access line of the request sent with *user_agent*; nothing after *since* is an error."""
    access = process.wait_for_record(
        lambda r: r.get("type") == "access" and r.get("user_agent") == user_agent,
        since=since,
        timeout=5,
    )
    later = process.log_records()[since:]
    errors = [r for r in later if r["level"] in ("ERROR", "CRITICAL") or "traceback" in r]
    assert not errors, errors
    return access


# (what, path and query; {api} is the service's collection), status, error
PATH_AND_QUERY_NUMBERS = [
    ("id of 5000 digits", "{api}/" + HUGE, 404, "not_found"),
    ("id of 5000 digits, negative", "{api}/-" + HUGE, 404, "not_found"),
    ("id of 26 digits", "{api}/" + "9" * 26, 404, "not_found"),
    ("id UINT64_MAX + 1", f"{{api}}/{UINT64_MAX + 1}", 404, "not_found"),
    ("id UINT64_MAX", f"{{api}}/{UINT64_MAX}", 404, "not_found"),
    ("id of 21 characters with leading zeros", "{api}/" + "0" * 20 + "1", 404, "not_found"),
    ("id -1", "{api}/-1", 404, "not_found"),
    ("id superscript two", "{api}/\u00b2", 404, "not_found"),
    ("id Arabic-Indic three", "{api}/\u0663", 404, "not_found"),
    ("after of 5000 digits", "{api}?after=" + HUGE, 400, "bad_request"),
    ("after UINT64_MAX + 1", f"{{api}}?after={UINT64_MAX + 1}", 400, "bad_request"),
    ("after of 23 digits", "{api}?after=99999999999999999999999", 400, "bad_request"),
    ("after -1", "{api}?after=-1", 400, "bad_request"),
    ("after superscript two", "{api}?after=\u00b2", 400, "bad_request"),
    ("limit of 5000 digits", "{api}?limit=" + HUGE, 400, "bad_request"),
    ("limit Arabic-Indic three", "{api}?limit=\u0663", 400, "bad_request"),
    ("legacy page, after of 5000 digits", "{legacy}?after=" + HUGE, 400, "bad_request"),
    ("after UINT64_MAX, the last id: empty page", f"{{api}}?after={UINT64_MAX}", 200, ""),
]


@pytest.mark.parametrize(
    ("target", "status", "error"),
    [row[1:] for row in PATH_AND_QUERY_NUMBERS],
    ids=[row[0] for row in PATH_AND_QUERY_NUMBERS],
)
def test_numbers_in_paths_and_queries_are_4xx_whatever_their_size(
    service: ServiceProcess, target: str, status: int, error: str
) -> None:
    mark, agent = service.log_mark(), f"numbers-{uuid.uuid4().hex}"
    path = target.format(api=API[service.service], legacy=f"/{service.service}.php")
    response = get(service, path, headers={"user-agent": agent})
    if error:
        body = assert_error(response, status, error)
        assert len(body["message"]) < 200, "a client's huge number is not echoed in full"
    else:
        assert response.status_code == status and response.json()["items"] == []
    assert client_errors_only(service, mark, agent)["status"] == status


# (what, JSON body text for the location service), the fields the 422 names
BODY_NUMBERS = [
    ("integer field, 5000 digits", '"population": ' + HUGE, ["population"]),
    ("integer field, 5000 digits, negative", '"population": -' + HUGE, ["population"]),
    ("integer field, UINT64_MAX + 1", f'"population": {UINT64_MAX + 1}', ["population"]),
    ("integer field, 1e5000 (a float: infinity)", '"population": 1e5000', ["population"]),
    ("string field given 5000 digits", '"district": ' + HUGE, ["district"]),
    ("unknown field given 5000 digits", '"id": ' + HUGE, ["id"]),
]


@pytest.mark.parametrize(
    ("member", "fields"),
    [row[1:] for row in BODY_NUMBERS],
    ids=[row[0] for row in BODY_NUMBERS],
)
def test_numbers_in_bodies_are_422_naming_the_field(
    location_service: ServiceProcess, member: str, fields: list[str]
) -> None:
    mark, agent = location_service.log_mark(), f"numbers-{uuid.uuid4().hex}"
    content = '{"name": "Porto", "country_code": "PRT", ' + member + "}"
    response = HTTP.post(
        location_service.url + API["location"],
        content=content.encode(),
        headers={"content-type": "application/json", "user-agent": agent},
        timeout=10,
    )
    problems = assert_error(response, 422, "validation_error")["problems"]
    assert [p["field"] for p in problems] == fields, problems
    assert client_errors_only(location_service, mark, agent)["status"] == 422


def raw_request(process: ServiceProcess, head: bytes, body: bytes = b"") -> bytes:
    """Send bytes on a fresh connection; return everything the service answers."""
    with socket.create_connection(("127.0.0.1", process.port), timeout=5) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    ("digits", "status"),
    [(20, b"413"), (5000, b"400")],  # over 20 digits, h11 refuses it before the application
)
def test_content_length_of_many_digits_is_4xx(
    location_service: ServiceProcess, digits: int, status: bytes
) -> None:
    mark = location_service.log_mark()
    head = (
        b"POST /api/cities HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + b"9" * digits + b"\r\n\r\n"
    )
    answer = raw_request(location_service, head, b"{}")
    assert answer.split(b" ", 2)[1] == status, answer[:200]
    time.sleep(0.2)  # give a line that should not exist time to appear
    later = location_service.log_records()[mark:]
    assert not [r for r in later if r["level"] == "ERROR" or "traceback" in r], later
    assert not [r for r in later if r.get("type") == "access" and r["status"] >= 500]


# ---------------------------------------------------------------- redirects

HOSTILE_HEADERS = {
    "host": "evil.example",
    "x-forwarded-host": "evil.example",
    "x-forwarded-proto": "https",
}

# (what, path sent; {api} and {legacy} as above), Location expected (None: a JSON 404)
TRAILING_SLASHES = [
    ("collection", "{api}/", "{api}"),
    ("collection with a query", "{api}/?limit=2&after=0", "{api}?limit=2&after=0"),
    ("one record", "{api}/1/", "{api}/1"),
    ("health, two slashes", "/health//", "/health"),
    ("legacy page", "{legacy}/", "{legacy}"),
    ("a host as the path", "//evil.example/", None),
    ("an encoded host as the path", "/%2F%2Fevil.example/", None),
    ("a path that does not exist either way", "/nope/", None),
]


@pytest.mark.parametrize(
    ("sent", "location"),
    [row[1:] for row in TRAILING_SLASHES],
    ids=[row[0] for row in TRAILING_SLASHES],
)
def test_trailing_slash_redirect_is_relative_whatever_the_host_header(
    service: ServiceProcess, sent: str, location: str | None
) -> None:
    names = {"api": API[service.service], "legacy": f"/{service.service}.php"}
    response = get(service, sent.format(**names), headers=HOSTILE_HEADERS)
    if location is None:
        assert_error(response, 404, "not_found")
        assert "location" not in response.headers
        return
    assert response.status_code == 307
    assert response.headers["location"] == location.format(**names)
    followed = get(service, sent.format(**names), follow_redirects=True)
    assert followed.url.host == "127.0.0.1" and followed.status_code in (200, 404)


# ---------------------------------------------------------------- client disconnects


def test_client_disconnect_mid_body_is_not_a_server_error(
    location_service: ServiceProcess,
) -> None:
    mark, agent = location_service.log_mark(), f"gone-{uuid.uuid4().hex}"
    head = (
        b"POST /api/cities HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"User-Agent: " + agent.encode() + b"\r\nContent-Length: 100\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", location_service.port), timeout=5) as sock:
        sock.sendall(head + b'{"name": "Por')  # 13 of the 100 bytes announced
        time.sleep(0.3)  # the service is now waiting for the rest
    access = client_errors_only(location_service, mark, agent)
    assert access["status"] == 499, "logged as the client closing, never as a 5xx"
    later = location_service.log_records()[mark:]
    message = "client disconnected before sending the whole request"
    gone = [r for r in later if r["message"] == message]
    assert len(gone) == 1 and gone[0]["level"] == "INFO" and gone[0]["path"] == "/api/cities"
    assert not [r for r in later if r["level"] == "WARNING"], later


def test_client_disconnect_while_the_database_is_busy_is_not_a_server_error(
    location_service: ServiceProcess, mysql: MySQL, session_database: str
) -> None:
    mark, agent = location_service.log_mark(), f"gone-{uuid.uuid4().hex}"
    locker = mysql.connect(session_database)
    try:
        with locker.cursor() as cur:
            cur.execute("LOCK TABLES `City` WRITE")  # the service's SELECT waits
        request = f"GET /api/cities HTTP/1.1\r\nHost: t\r\nUser-Agent: {agent}\r\n\r\n"
        with socket.create_connection(("127.0.0.1", location_service.port), timeout=5) as sock:
            sock.sendall(request.encode())
            mysql.wait_for_query(session_database, "SELECT %City%")
    finally:
        locker.close()  # releases the lock: the query ends, with nobody left to answer
    access = client_errors_only(location_service, mark, agent)
    assert access["status"] < 500
