"""Process entry point: ``python -m ecs_service`` (the image's CMD).

Runs uvicorn on one asyncio loop.  SIGTERM (ECS stopping the task) or
SIGINT stops accepting connections, lets in-flight requests finish for up to
:data:`DRAIN_TIMEOUT_S` seconds (well inside ECS's 30 s stop timeout), runs
the application's shutdown and exits with status 0.
"""

from __future__ import annotations

import logging
import signal
from types import FrameType

import uvicorn

from ecs_service.definition import DefinitionError, load_definition
from ecs_service.logs import configure_logging
from ecs_service.protocol import head_timeout_protocol
from ecs_service.settings import SettingsError, load_settings
from ecs_service.web import create_app

logger = logging.getLogger("ecs_service")

# Worst case to exit: this drain, then a database call still running in a worker
# thread (read timeout 10 s, migration lock wait 5 s): inside ECS's 30 s stopTimeout.
DRAIN_TIMEOUT_S = 15
EXIT_CONFIG_ERROR = 2


def _absorb_signal(signum: int, frame: FrameType | None) -> None:
    """Fallback handler that uvicorn re-raises into after a graceful stop.

    uvicorn restores the previous handlers when it has shut down and then
    raises the signal it caught again; with the default handler that would
    kill the process with SIGTERM (exit 143) instead of exiting 0.
    """


def build_server() -> uvicorn.Server:
    """Read the definition and environment and build the uvicorn server."""
    definition = load_definition()
    settings = load_settings(definition)
    configure_logging(definition.name, settings.log_level)
    config = uvicorn.Config(
        create_app(definition, settings),
        host=settings.listen_host,
        port=settings.listen_port,
        loop="asyncio",
        http=head_timeout_protocol(settings.head_timeout_s),
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=False,
        timeout_keep_alive=int(settings.idle_timeout_s),
        timeout_graceful_shutdown=DRAIN_TIMEOUT_S,
    )
    fields = {
        "port": settings.listen_port,
        "table": definition.table,
        "api": definition.api_path,
        "db_host": settings.database.host,
        "db_name": settings.database.name,
        "idle_timeout_s": settings.idle_timeout_s,
        "head_timeout_s": settings.head_timeout_s,
    }
    logger.info("starting", extra={"fields": fields})
    return uvicorn.Server(config)


def main() -> int:
    """Run the service until it is told to stop; return the exit status."""
    try:
        server = build_server()
    except (DefinitionError, SettingsError) as exc:
        configure_logging("ecs_service", "INFO")
        logger.error("configuration error", extra={"fields": {"reason": str(exc)}})
        return EXIT_CONFIG_ERROR
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _absorb_signal)
    server.run()
    logger.info("stopped")
    return 0 if server.started else 1
