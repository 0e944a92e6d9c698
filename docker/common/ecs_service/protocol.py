"""uvicorn's h11 protocol with a bound on the time a request's head may take.

uvicorn bounds only the wait *between* requests (``timeout_keep_alive``, armed
after a response). A connection that never sends a byte, or one that sends its
request line and headers a byte at a time, stays open for as long as the
client likes, each holding a socket and a file descriptor (slowloris). This
protocol adds two bounds, the split nginx and Apache make:

* **idle**: a new connection that has not sent a byte is closed after the
  keep-alive timeout, the same bound as an idle connection between two
  requests. It is longer than the load balancer's idle timeout (60 s by
  default) on purpose: a classic ELB or ALB may open a connection before it
  has a request for it, and AWS's guidance is that the balancer, not the
  target, closes idle connections, otherwise a request sent on a connection
  the target is closing fails with a 502/504.
* **head**: once the first byte of a request has arrived, its whole head
  (request line and headers) must arrive within the head timeout. A load
  balancer sends a head in one piece; only a broken or hostile client
  takes longer. The client is told ``408 Request Timeout`` (with
  ``Connection: close``) and the connection is closed.

The body is not covered here: the application reads it with a size limit.
"""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger("ecs_service")

_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 16\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"Request Timeout\n"
)


class HeadTimeoutH11Protocol(H11Protocol):
    """:class:`H11Protocol` that closes connections whose request head is late.

    Use :func:`head_timeout_protocol` to get a class with the bound set;
    the idle bound is uvicorn's ``timeout_keep_alive``.
    """

    head_timeout_s: float = 10.0
    """Most seconds from a request's first byte to the end of its head."""

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the idle bound: uvicorn arms it only after a first response."""
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def data_received(self, data: bytes) -> None:
        """Feed h11, then start or stop the head clock."""
        super().data_received(data)
        self._watch_head()

    def on_response_complete(self) -> None:
        """After a response, a pipelined request may already be half here."""
        super().on_response_complete()
        self._watch_head()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the head clock with the connection."""
        self._stop_head_clock()
        super().connection_lost(exc)

    def _watch_head(self) -> None:
        # A head is on its way when h11 waits for a request and holds part of one.
        pending, _closed = self.conn.trailing_data
        waiting = (
            self.conn.their_state is h11.IDLE
            and bool(pending)
            and not self.transport.is_closing()
        )
        if not waiting:
            self._stop_head_clock()
        elif self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _stop_head_clock(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        pending, _closed = self.conn.trailing_data
        client = self.client[0] if self.client else None
        logger.info(
            "request head not received in time; closing the connection",
            extra={
                "fields": {
                    "client": client,
                    "head_timeout_s": self.head_timeout_s,
                    "bytes_received": len(pending),
                }
            },
        )
        # h11 cannot answer a request it has not parsed: the 408 is written as is.
        self.transport.write(_REQUEST_TIMEOUT)
        self._unset_keepalive_if_required()
        self.transport.close()


def head_timeout_protocol(head_timeout_s: float) -> type[HeadTimeoutH11Protocol]:
    """The protocol class for uvicorn's ``http`` setting, with *head_timeout_s* set."""
    return type(
        "HeadTimeoutH11Protocol",
        (HeadTimeoutH11Protocol,),
        {"head_timeout_s": head_timeout_s, "__module__": __name__},
    )
