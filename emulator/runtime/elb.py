"""Classic ELBs that route and health-check for real.

Each listener of a classic load balancer listens on ``127.0.0.1`` (its own ``LoadBalancerPort``
when free, else any free port: the URL is printed) and forwards to the registered instances that
are InService, round-robin: HTTP per request (with ``X-Forwarded-For``/``-Port``/``-Proto``),
TCP per connection. An instance is reached at its container instance's loopback address (see
``tasks``) and the listener's ``InstancePort``. With none InService the listener answers 503, as
an ELB does.

The ``HealthCheck`` (target ``HTTP:port/path``, ``TCP:port``; interval, timeout, healthy and
unhealthy thresholds) runs against every registered instance: a new one is OutOfService
("Instance registration is still in progress.") until HealthyThreshold consecutive checks pass,
then InService until UnhealthyThreshold consecutive checks fail. ``DescribeInstanceHealth``
answers from that state. A deregistered instance gets no new requests; with connection draining
its requests in flight finish (up to the draining timeout) before ECS stops its task.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import itertools
import logging
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator import ACCOUNT_ID, REGION
from emulator.runtime import clock

LOG = logging.getLogger("emulator.elb")
IN_SERVICE = "InService"
OUT_OF_SERVICE = "OutOfService"
REGISTERING = "Instance registration is still in progress."
FAILED = (
    "Instance has failed at least the UnhealthyThreshold number of health checks consecutively."
)
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
}


@dataclass
class Target:
    """A registered instance and what the health check knows about it."""

    instance_id: str
    address: str | None
    state: str = OUT_OF_SERVICE
    reason_code: str = "ELB"
    description: str = REGISTERING
    passes: int = 0
    failures: int = 0
    in_flight: int = 0
    registered: bool = True
    checker: threading.Thread | None = None


@dataclass
class Listener:
    """One listener: where it listens locally and where it forwards."""

    load_balancer_port: int
    instance_port: int
    protocol: str
    port: int = 0
    server: socketserver.BaseServer | None = None


@dataclass
class Balancer:
    """One classic ELB at work."""

    name: str
    listeners: list[Listener] = field(default_factory=list)
    targets: dict[str, Target] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    turn: itertools.count[int] = field(default_factory=itertools.count)
    closed: threading.Event = field(default_factory=threading.Event)

    def pick(self) -> Target | None:
        """The next InService, still registered instance (round-robin); None if there is none."""
        with self.lock:
            ready = sorted(
                (t for t in self.targets.values() if t.registered and t.state == IN_SERVICE),
                key=lambda t: t.instance_id,
            )
            if not ready:
                return None
            target = ready[next(self.turn) % len(ready)]
            target.in_flight += 1
            return target

    def done(self, target: Target) -> None:
        """A forwarded request or connection has ended."""
        with self.lock:
            target.in_flight -= 1


_BALANCERS: dict[str, Balancer] = {}
_GUARD = threading.Lock()
Resolver = Callable[[str], "str | None"]
"""EC2 instance ID -> its loopback address (None: no container instance stands for it)."""


def _moto_elb(name: str) -> Any:
    from moto.elb.models import elb_backends

    return elb_backends[ACCOUNT_ID][REGION].load_balancers.get(name)


def balancers() -> dict[str, Balancer]:
    """The running load balancers, by name."""
    with _GUARD:
        return dict(_BALANCERS)


def sync(resolve: Resolver) -> None:
    """Start listeners for new load balancers, stop deleted ones, follow registrations."""
    from moto.elb.models import elb_backends

    models = elb_backends[ACCOUNT_ID][REGION].load_balancers
    with _GUARD:
        for name in [n for n in _BALANCERS if n not in models]:
            _close(_BALANCERS.pop(name))
        for name, model in models.items():
            if name not in _BALANCERS:
                _BALANCERS[name] = _open(name, model)
            _follow(_BALANCERS[name], model, resolve)


def shutdown() -> None:
    """Close every listener (the emulator is stopping)."""
    with _GUARD:
        for balancer in _BALANCERS.values():
            _close(balancer)
        _BALANCERS.clear()


def _open(name: str, model: Any) -> Balancer:
    balancer = Balancer(name)
    for listener in model.listeners:
        entry = Listener(
            int(listener.load_balancer_port), int(listener.instance_port), listener.protocol
        )
        server = _server(balancer, entry)
        entry.server = server
        entry.port = int(server.server_address[1])  # type: ignore[index]
        threading.Thread(target=server.serve_forever, daemon=True, name=f"elb-{name}").start()
        balancer.listeners.append(entry)
    return balancer


def _close(balancer: Balancer) -> None:
    balancer.closed.set()
    for listener in balancer.listeners:
        if listener.server is not None:
            listener.server.shutdown()
            listener.server.server_close()


def _follow(balancer: Balancer, model: Any, resolve: Resolver) -> None:
    registered = set(model.instance_ids)
    with balancer.lock:
        for instance_id in registered:
            target = balancer.targets.get(instance_id)
            if target is None or not target.registered:
                target = Target(instance_id, resolve(instance_id))
                balancer.targets[instance_id] = target
                target.checker = threading.Thread(
                    target=_check_loop,
                    args=(balancer, target),
                    daemon=True,
                    name=f"health-{balancer.name}-{instance_id}",
                )
                target.checker.start()
            elif target.address is None:
                target.address = resolve(instance_id)
        for instance_id, target in list(balancer.targets.items()):
            if instance_id not in registered and target.registered:
                target.registered = False
            if not target.registered and target.in_flight == 0:
                balancer.targets.pop(instance_id, None)


# ---------------------------------------------------------------- health checks


def _check(target_spec: str, address: str | None, timeout: float) -> bool:
    protocol, _, rest = target_spec.partition(":")
    port_text, slash, path = rest.partition("/")
    if address is None:
        return False
    port = int(port_text)
    if protocol.upper() in ("TCP", "SSL"):
        try:
            with socket.create_connection((address, port), timeout=timeout):
                return True
        except OSError:
            return False
    connection = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        connection.request(
            "GET", slash + path or "/", headers={"User-Agent": "ELB-HealthChecker/1.0"}
        )
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def _check_loop(balancer: Balancer, target: Target) -> None:
    while target.registered and not balancer.closed.is_set():
        model = _moto_elb(balancer.name)
        check = getattr(model, "health_check", None)
        if model is None or check is None:
            return
        passed = _check(str(check.target), target.address, float(check.timeout))
        with balancer.lock:
            if passed:
                target.passes, target.failures = target.passes + 1, 0
                if target.state != IN_SERVICE and target.passes >= int(check.healthy_threshold):
                    target.state, target.reason_code, target.description = IN_SERVICE, "N/A", "N/A"
            else:
                target.passes, target.failures = 0, target.failures + 1
                if target.failures >= int(check.unhealthy_threshold):
                    target.state, target.reason_code, target.description = (
                        OUT_OF_SERVICE,
                        "Instance",
                        FAILED,
                    )
        balancer.closed.wait(clock.seconds(float(check.interval)))


def instance_health(name: str, instance_id: str) -> Target | None:
    """The health-check state of a registered instance (None: not known to the runtime)."""
    balancer = balancers().get(name)
    if balancer is None:
        return None
    with balancer.lock:
        target = balancer.targets.get(instance_id)
        return None if target is None or not target.registered else target


def describe() -> dict[str, Any]:
    """What ``GET /_emulator/load-balancers`` answers: each ELB's local URLs and health."""
    found = {}
    for name, balancer in sorted(balancers().items()):
        with balancer.lock:
            found[name] = {
                "listeners": [
                    {
                        "loadBalancerPort": listener.load_balancer_port,
                        "instancePort": listener.instance_port,
                        "protocol": listener.protocol,
                        "url": f"{listener.protocol.lower()}://127.0.0.1:{listener.port}"
                        if listener.protocol in ("HTTP", "HTTPS")
                        else f"127.0.0.1:{listener.port}",
                    }
                    for listener in balancer.listeners
                ],
                "inService": sorted(
                    t.instance_id
                    for t in balancer.targets.values()
                    if t.registered and t.state == IN_SERVICE
                ),
                "registered": sorted(
                    t.instance_id for t in balancer.targets.values() if t.registered
                ),
            }
    return {"timeScale": clock.scale(), "loadBalancers": found}


def deregistered(name: str, instance_id: str) -> None:
    """Stop sending new requests to an instance at once (the API call has deregistered it)."""
    balancer = balancers().get(name)
    if balancer is not None:
        with balancer.lock:
            target = balancer.targets.get(instance_id)
            if target is not None:
                target.registered = False


def drain(name: str, instance_id: str) -> None:
    """Wait until a deregistered instance has no request in flight, at most the load balancer's
    connection-draining timeout (scaled; no wait when draining is disabled)."""
    model = _moto_elb(name)
    balancer = balancers().get(name)
    if model is None or balancer is None:
        return
    draining = model.attributes.get("connection_draining") or {}
    # the CloudFormation shim stores Enabled/Timeout; the API lower-case keys
    if not draining.get("Enabled", draining.get("enabled")):
        return
    timeout = draining.get("Timeout", draining.get("timeout", 300))
    deadline = time.monotonic() + clock.seconds(float(timeout))
    while time.monotonic() < deadline:
        with balancer.lock:
            target = balancer.targets.get(instance_id)
            if target is None or target.in_flight == 0:
                return
        time.sleep(0.02)


# ---------------------------------------------------------------- forwarding


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _server(balancer: Balancer, listener: Listener) -> socketserver.BaseServer:
    """The listener's server on its own port when free, else on any free port."""
    http_like = listener.protocol in ("HTTP", "HTTPS")
    handler = (_http_handler if http_like else _tcp_handler)(balancer, listener)
    server_cls = _HTTPServer if http_like else _TCPServer
    try:
        return server_cls(("127.0.0.1", listener.load_balancer_port), handler)
    except OSError:
        return server_cls(("127.0.0.1", 0), handler)


def _http_handler(
    balancer: Balancer, listener: Listener
) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "awselb/2.0"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed ACK

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            target = balancer.pick()
            if target is None or target.address is None:
                if target is not None:
                    balancer.done(target)
                self._answer(503, b"Service Unavailable: Back-end server is at capacity\n")
                return
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                headers["X-Forwarded-For"] = self.client_address[0]
                headers["X-Forwarded-Port"] = str(listener.load_balancer_port)
                headers["X-Forwarded-Proto"] = listener.protocol.lower()
                headers["Connection"] = "close"
                upstream = http.client.HTTPConnection(
                    target.address, listener.instance_port, timeout=60
                )
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    payload = response.read()
                    self.send_response_only(response.status, response.reason)
                    for key, value in response.getheaders():
                        if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                finally:
                    upstream.close()
            except (OSError, http.client.HTTPException):
                self._answer(502, b"Bad Gateway\n")
            finally:
                balancer.done(target)

        def _answer(self, status: int, text: bytes) -> None:
            self.send_response_only(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _forward

    return Handler


def _tcp_handler(balancer: Balancer, listener: Listener) -> type[socketserver.BaseRequestHandler]:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            target = balancer.pick()
            if target is None:
                return
            try:
                if target.address is None:
                    return
                with socket.create_connection((target.address, listener.instance_port), 10) as up:
                    pump = threading.Thread(target=_pipe, args=(up, self.request), daemon=True)
                    pump.start()
                    _pipe(self.request, up)
                    pump.join()
            except OSError:
                return
            finally:
                balancer.done(target)

    return Handler


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


# ---------------------------------------------------------------- the API


def describe_instance_health(self: Any, lb_name: str, instances: list[dict[str, str]]) -> Any:
    """``DescribeInstanceHealth`` from the health checks (moto: InService when running)."""
    answered = _original_describe_instance_health(self, lb_name, instances)
    runs = lb_name in balancers()
    for entry in answered:
        target = instance_health(lb_name, entry["InstanceId"])
        if target is not None:
            entry.update(
                State=target.state, ReasonCode=target.reason_code, Description=target.description
            )
        elif runs:  # registered since the runtime's last look: no check has passed yet
            entry.update(State=OUT_OF_SERVICE, ReasonCode="ELB", Description=REGISTERING)
    return answered


def describe_instance_health_response(self: Any) -> Any:
    """moto's response wrote ``N/A`` for every reason and description."""
    from moto.core.responses import ActionResult

    lb_name = self._get_param("LoadBalancerName")
    found = self.elb_backend.describe_instance_health(lb_name, self._get_param("Instances", []))
    return ActionResult(
        {
            "InstanceStates": [
                {
                    "InstanceId": i["InstanceId"],
                    "State": i["State"],
                    "ReasonCode": i.get("ReasonCode", "N/A"),
                    "Description": i.get("Description", "N/A"),
                }
                for i in found
            ]
        }
    )


def _original(self: Any, lb_name: str, instances: list[dict[str, str]]) -> Any:
    raise NotImplementedError


_original_describe_instance_health = _original


def apply() -> None:
    """Answer ``DescribeInstanceHealth`` from the health checks."""
    global _original_describe_instance_health
    from moto.elb import models, responses

    _original_describe_instance_health = models.ELBBackend.describe_instance_health
    models.ELBBackend.describe_instance_health = describe_instance_health  # type: ignore[method-assign]
    responses.ELBResponse.describe_instance_health = describe_instance_health_response  # type: ignore[method-assign]
