"""Bounded load test of one service, run as the image runs it, on loopback only.

    python -m tests.services.loadtest [--service location|user] [--requests N]
                                      [--concurrency C] [--seed N] [--max-seconds S]

It creates a fresh database on the test MySQL server (see ``MYSQL_TEST_*`` in
``service_harness``), starts the real service process, seeds records, sends
exactly N requests per endpoint (``/health`` and the JSON list) with C in
flight, prints requests/s, p50, p99 and errors per endpoint, stops the
service with SIGTERM, drops the database, and exits 1 on any error (a
non-200 answer, a failed request, the deadline, or an unclean exit).
The client (a minimal asyncio HTTP/1.1 keep-alive client, one connection per
in-flight request) shares the machine, so the numbers include its cost.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pymysql

from tests.services.service_harness import (
    MySQL,
    running_service,
    sample_record,
    unique_database_name,
)

API = {"location": "/api/cities", "user": "/api/users"}


@dataclass
class Result:
    """Latencies and failures of one endpoint."""

    path: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0

    def percentile(self, fraction: float) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))
        return ordered[rank] * 1000

    def row(self) -> str:
        """One line of the report."""
        total = len(self.latencies) + self.errors
        rate = total / self.elapsed if self.elapsed else 0.0
        return (
            f"{self.path:<14} {total:>8} {rate:>10.1f} {self.percentile(0.50):>9.2f}"
            f" {self.percentile(0.99):>9.2f} {self.errors:>7}"
        )


class Connection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams.

    It costs far less CPU than a full client, so on a small machine the
    numbers say more about the service than about the load generator.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, path: str) -> int:
        """GET *path*; return the status after reading the whole body."""
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        lines = head.split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        await reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection") == "close":
            self.close()
        return int(lines[0].split()[1])

    def close(self) -> None:
        """Drop the connection; the next request opens a new one."""
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def hammer(
    base_url: str, path: str, requests: int, concurrency: int, deadline: float
) -> Result:
    """Send exactly *requests* GETs, *concurrency* in flight; anything but 200 is an error."""
    url = httpx.URL(base_url)
    host, port = url.host, url.port or 80
    result = Result(path)
    remaining = iter(range(requests))

    async def worker() -> None:
        connection = Connection(host, port)
        for _ in remaining:
            started = time.perf_counter()
            try:
                timeout = max(0.0, min(10.0, deadline - time.monotonic()))
                ok = await asyncio.wait_for(connection.get(path), timeout) == 200
            except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError):
                connection.close()
                ok = False
            if ok:
                result.latencies.append(time.perf_counter() - started)
            else:
                result.errors += 1
        connection.close()

    warm_up = Connection(host, port)
    for _ in range(min(20, requests)):  # not counted
        await warm_up.get(path)
    warm_up.close()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - started
    return result


def seed(base_url: str, service: str, count: int) -> int:
    """Create *count* records; return how many failed."""
    failures = 0
    with httpx.Client(base_url=base_url, timeout=10) as client:
        for _ in range(count):
            failures += client.post(API[service], json=sample_record(service)).status_code != 201
    return failures


def run(args: argparse.Namespace) -> int:
    """The whole load test; returns the exit status."""
    mysql = MySQL()
    try:
        mysql.execute("SELECT 1")
    except pymysql.err.Error as exc:
        print(f"MySQL unreachable at {mysql.host}:{mysql.port}: {exc}", file=sys.stderr)
        return 2
    database = mysql.create_database(unique_database_name("ecs_svc_load"))
    try:
        with (
            tempfile.TemporaryDirectory() as logs,
            running_service(args.service, mysql, database, Path(logs)) as process,
        ):
            seed_failures = seed(process.url, args.service, args.seed)
            deadline = time.monotonic() + args.max_seconds
            results = [
                asyncio.run(hammer(process.url, path, args.requests, args.concurrency, deadline))
                for path in ("/health", API[args.service])
            ]
            status = process.stop()
    finally:
        mysql.drop_database(database)
    report(args, results, seed_failures, status)
    failed = seed_failures or status != 0 or any(r.errors for r in results)
    return 1 if failed else 0


def report(
    args: argparse.Namespace, results: list[Result], seed_failures: int, status: int
) -> None:
    """Print the per-endpoint table."""
    print(f"{args.service}: {args.requests} requests per endpoint, concurrency {args.concurrency}")
    header = ("endpoint", "requests", "req/s", "p50 ms", "p99 ms", "errors")
    print("{:<14} {:>8} {:>10} {:>9} {:>9} {:>7}".format(*header))
    for result in results:
        print(result.row())
    print(f"seed failures: {seed_failures}, service exit status: {status}")


def main() -> int:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", choices=sorted(API), default="location")
    parser.add_argument("--requests", type=int, default=2000, help="per endpoint (default 2000)")
    parser.add_argument("--concurrency", type=int, default=16, help="in flight (default 16)")
    parser.add_argument("--seed", type=int, default=50, help="records created first (default 50)")
    parser.add_argument("--max-seconds", type=float, default=120, help="overall deadline")
    args = parser.parse_args()
    bounded = 0 < args.requests <= 100_000 and 0 < args.concurrency <= 256
    if not (bounded and 0 <= args.seed <= 10_000 and 0 < args.max_seconds <= 600):
        parser.error("requests 1..100000, concurrency 1..256, seed 0..10000, max-seconds 1..600")
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
