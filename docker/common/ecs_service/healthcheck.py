"""Container health probe using the standard library only.

``python -m ecs_service.healthcheck`` exits 0 when ``GET /health`` on the
local listener answers 200 within a few seconds, and 1 otherwise: on any
other status (503 while the database is unreachable or the schema is not
usable), a refused connection or a timeout.  It is the image's HEALTHCHECK
and can be the ECS container health check command.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

from ecs_service.definition import DefinitionError, load_definition

TIMEOUT_S = 4.0
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})


def health_url() -> str:
    """Where this container's own service answers."""
    port = os.environ.get("PORT") or str(load_definition().port)
    host = os.environ.get("LISTEN_HOST", "")
    host = "127.0.0.1" if host in _WILDCARDS else host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}/health"


def health_status(url: str) -> int:
    """The HTTP status ``GET url`` answers (urllib raises on 4xx/5xx; that is an answer too)."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


def main() -> int:
    """Probe once; print the outcome for ``docker inspect``."""
    try:
        url = health_url()
        status = health_status(url)
    except (DefinitionError, OSError, ValueError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"unhealthy: {url} answered {status}")
        return 1
    print("healthy")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
