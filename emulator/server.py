"""Run moto's server app, with the compatibility layer applied, on 127.0.0.1.

Started as ``python -m emulator.server --state FILE``; it binds a free port,
writes ``{"pid", "port", "endpoint"}`` to FILE and serves until SIGTERM/SIGINT.
Code that runs inside it (a custom resource's Lambda handler) reaches only the
emulator: the process's AWS variables point at it, with test credentials.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from emulator import sdk_environment

LOOPBACK = "127.0.0.1"


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m emulator.server")
    parser.add_argument("--state", type=Path, required=True, help="JSON state file to write")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument(
        "--lambda-custom-resource",
        action="append",
        default=[],
        metavar="TYPE",
        help="custom resource type answered by its own Lambda code, run in-process (repeatable)",
    )
    return parser.parse_args(argv)


def _contain(port: int) -> None:
    """Point every AWS SDK used in this process at the emulator, with test credentials."""
    for name in [k for k in os.environ if k.startswith(("AWS_", "BOTO_"))]:
        del os.environ[name]
    endpoint = f"http://{LOOPBACK}:{port}"
    os.environ.update(
        {
            **sdk_environment(endpoint),
            "NO_PROXY": ",".join(filter(None, [os.environ.get("NO_PROXY"), LOOPBACK])),
            "no_proxy": ",".join(filter(None, [os.environ.get("no_proxy"), LOOPBACK])),
        }
    )


def _write_state(path: Path, port: int) -> None:
    """Atomically write the pid/port/endpoint state file."""
    state = {"pid": os.getpid(), "port": port, "endpoint": f"http://{LOOPBACK}:{port}"}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state), encoding="utf-8")
    tmp.replace(path)


def share_one_botocore_loader() -> None:
    """Every botocore session of this process reads AWS's data files through one loader.

    moto makes a session whenever it lists a service's regions (three when its EC2 models are
    imported, one per backend of each service it answers), each with a loader of its own, so each
    read and parsed the JSON service models again (the EC2 model is 0.17 s of CPU a time): 0.5 to
    0.7 s of CPU in a server's start alone.
    A loader only caches what it read from botocore's files; the clients of one session already
    share theirs, as these sessions now do.
    """
    from botocore import loaders, session

    if getattr(session.create_loader, "shared", False):
        return
    made: dict[str | None, loaders.Loader] = {}

    def create_loader(search_path_string: str | None = None) -> loaders.Loader:
        if search_path_string not in made:
            made[search_path_string] = loaders.create_loader(search_path_string)
        return made[search_path_string]

    create_loader.shared = True  # type: ignore[attr-defined]
    session.create_loader = create_loader  # the name botocore.session calls


def serve(state_file: Path, port: int = 0, lambda_types: Sequence[str] = ()) -> None:
    """Apply the compatibility layer, serve moto on 127.0.0.1 until signalled."""
    os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "false")
    share_one_botocore_loader()
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from emulator.compat import apply_all, custom_resources, endpoints

    apply_all()
    for resource_type in lambda_types:
        custom_resources.register(resource_type, custom_resources.LambdaCode())
    app = endpoints.wrap(DomainDispatcherApplication(create_backend_app))
    server = make_server(LOOPBACK, port, app, threaded=True, request_handler=MotoRequestHandler)
    bound_port = int(server.server_address[1])
    _contain(bound_port)
    os.environ["MOTO_PORT"] = str(bound_port)

    def _stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    from emulator.runtime import scheduler

    scheduler.configure(state_file.parent, f"http://{LOOPBACK}:{bound_port}")
    _write_state(state_file, bound_port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        scheduler.shutdown()
        server.server_close()


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m emulator.server``."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    serve(args.state, args.port, args.lambda_custom_resource)


if __name__ == "__main__":
    main()
