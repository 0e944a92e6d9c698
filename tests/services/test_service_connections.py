"""Connections that hold a socket without sending a request are closed in bounded time.

Real sockets against the real service process, with short bounds configured
(HTTP_IDLE_TIMEOUT_SECONDS, HTTP_HEAD_TIMEOUT_SECONDS) so the tests take seconds.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services.service_harness import MySQL, ServiceProcess, running_service

IDLE_S = 3
HEAD_S = 1
"""The shortest bounds the settings take (whole seconds, 1 at least) with the keep-alive test's
pauses (HEAD_S + 1) between them."""
SLACK_S = 1.5  # a loaded machine's scheduling delay; far below the bounds' old "forever"


@pytest.fixture(scope="module")
def bounded_service(
    mysql: MySQL, session_database: str, log_dir: Path
) -> Iterator[ServiceProcess]:
    """The location service with short idle and head bounds."""
    env = {"HTTP_IDLE_TIMEOUT_SECONDS": str(IDLE_S), "HTTP_HEAD_TIMEOUT_SECONDS": str(HEAD_S)}
    with running_service("location", mysql, session_database, log_dir, **env) as process:
        yield process


def _connect(service: ServiceProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", service.port), timeout=IDLE_S + 10)
    sock.settimeout(IDLE_S + 10)
    return sock


def _read_until_closed(sock: socket.socket, within: float) -> bytes:
    """Everything the server sends until it closes the connection (a reset counts as closed)."""
    received = b""
    sock.settimeout(within)
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return received
        except TimeoutError:
            raise AssertionError(f"the connection is still open; received {received!r}") from None
        if not chunk:
            return received
        received += chunk


def _read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length body."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-response: {received!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_connection_that_never_sends_a_byte_is_closed_after_the_idle_bound(
    bounded_service: ServiceProcess,
) -> None:
    # given a client that connects and says nothing
    with _connect(bounded_service) as sock:
        opened = time.monotonic()

        # when it waits
        answer = _read_until_closed(sock, within=IDLE_S + 2 * SLACK_S)

        # then the service closes it, silently, once the idle bound has passed
        waited = time.monotonic() - opened
    assert answer == b""
    assert IDLE_S - 0.5 <= waited <= IDLE_S + SLACK_S, waited


def test_a_header_dripped_byte_by_byte_is_cut_off_after_the_head_bound(
    bounded_service: ServiceProcess,
) -> None:
    # given a client that sends its request line, then a header byte every 0.3 s
    # (each byte would restart an idle timer: only a bound on the whole head stops it)
    mark = bounded_service.log_mark()
    with _connect(bounded_service) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        for byte in b"X-Slow: " + b"a" * 100:
            readable, _, _ = select.select([sock], [], [], 0.3)
            if readable or time.monotonic() - started > HEAD_S + 3 * SLACK_S:
                break  # the server answered (or never will: the assertions below say so)
            sock.sendall(bytes([byte]))
        answer = _read_until_closed(sock, within=SLACK_S)
        closed_after = time.monotonic() - started

    # then it is told 408 and the connection is closed once the head bound has passed
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
    assert b"connection: close" in answer.lower()
    assert HEAD_S - 0.5 <= closed_after <= HEAD_S + SLACK_S, closed_after
    record = bounded_service.wait_for_record(
        lambda r: r["message"].startswith("request head not received in time"), since=mark
    )
    assert record["level"] == "INFO" and record["head_timeout_s"] == HEAD_S
    assert record["client"] == "127.0.0.1" and record["bytes_received"] > 30


def test_a_keep_alive_client_is_unaffected(bounded_service: ServiceProcess) -> None:
    # given a client on one connection that pauses between requests longer than the head
    # bound (but less than the idle bound), and sends one head in two pieces within it
    request = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    with _connect(bounded_service) as sock:
        sock.sendall(request)
        first = _read_response(sock)
        time.sleep(HEAD_S + 1)
        sock.sendall(request[:20])
        time.sleep(HEAD_S / 2)
        sock.sendall(request[20:])
        second = _read_response(sock)
        time.sleep(HEAD_S + 1)
        sock.sendall(request)
        third = _read_response(sock)

    # then every request is answered on the same connection
    for response in (first, second, third):
        assert response.startswith(b"HTTP/1.1 200 "), response
