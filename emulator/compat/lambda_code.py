"""Run a custom resource's own Lambda code (Python runtimes) inside the emulator's process.

moto 5.2.5 would run the provider Lambda in Docker; here the function's code zip, as the
CDK CLI uploaded it from the cloud assembly, is unpacked and its handler called with the
CloudFormation event. Both ways a handler can answer work:

- it returns ``{"PhysicalResourceId": ..., "Data": {...}}`` (a CDK ``Provider`` framework
  ``onEvent`` handler: when the service token is the framework's own Lambda, the user's
  function named in its ``USER_ON_EVENT_FUNCTION_ARN`` runs, and ``USER_IS_COMPLETE_FUNCTION_ARN``
  is polled until complete);
- it sends the cfn-response ``PUT`` to the event's ``ResponseURL``, which points at the
  emulator (``/_emulator/custom-resource-responses/<request id>``).

The handler's AWS SDK calls go to the emulator: the server sets ``AWS_ENDPOINT_URL`` and test
credentials for its whole process before it serves.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
import tempfile
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from moto.awslambda.utils import get_backend as lambda_backend

_responses: dict[str, dict[str, Any]] = {}
_responses_lock = threading.Lock()
# One handler at a time: a handler sees its function's variables in os.environ.
_run_lock = threading.Lock()

IS_COMPLETE_ATTEMPTS = 60
IS_COMPLETE_INTERVAL_SECONDS = 1.0


class HandlerFailed(RuntimeError):
    """The handler raised, answered FAILED, or never answered; the message is the reason."""


def deliver(request_id: str, body: dict[str, Any]) -> None:
    """Record a cfn-response body PUT to ``ResponseURL`` (called by the HTTP endpoint)."""
    if "Status" not in body:
        raise KeyError("a custom resource response needs a Status (SUCCESS or FAILED)")
    with _responses_lock:
        _responses[request_id] = body


def _take_response(request_id: str) -> dict[str, Any] | None:
    with _responses_lock:
        return _responses.pop(request_id, None)


def response_url(request_id: str) -> str:
    """Where a handler run in-process sends its cfn-response."""
    port = os.environ.get("MOTO_PORT", "5000")
    return f"http://127.0.0.1:{port}/_emulator/custom-resource-responses/{request_id}"


def _function(account_id: str, region: str, name_or_arn: str) -> Any:
    try:
        return lambda_backend(account_id, region).get_function(name_or_arn)
    except Exception as error:
        raise HandlerFailed(f"Lambda function {name_or_arn} not found: {error}") from error


@contextlib.contextmanager
def _unpacked(code: bytes) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="emulator-lambda-") as folder:
        with zipfile.ZipFile(io.BytesIO(code)) as archive:
            archive.extractall(folder)
        yield Path(folder)


@contextlib.contextmanager
def _isolated(folder: Path, variables: dict[str, str]) -> Iterator[None]:
    """The code's folder first on ``sys.path``, its variables in ``os.environ``; both undone
    after, and modules loaded from the folder forgotten (the next function may ship its own).
    """
    saved_env = dict(os.environ)
    sys.path.insert(0, str(folder))
    os.environ.update(variables)
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        os.environ.clear()
        os.environ.update(saved_env)
        for name, module in list(sys.modules.items()):
            origin = getattr(module, "__file__", None) or ""
            if origin.startswith(str(folder)):
                del sys.modules[name]


def _load(folder: Path, handler: str) -> Any:
    """``dir/module.function`` -> the function."""
    module_path, _, function_name = handler.rpartition(".")
    source = folder / (module_path + ".py")
    if not source.is_file():
        source = folder / module_path.replace(".", "/") / "__init__.py"
    spec = importlib.util.spec_from_file_location(module_path.replace("/", "."), source)
    if spec is None or spec.loader is None or not source.is_file():
        raise HandlerFailed(f"handler {handler}: no {module_path}.py in the function's code")
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    try:
        return getattr(module, function_name)
    except AttributeError as error:
        raise HandlerFailed(f"handler {handler}: {module_path} has no {function_name}") from error


def _context(function: Any, request_id: str) -> SimpleNamespace:
    deadline = time.monotonic() + float(getattr(function, "timeout", 3) or 3)
    return SimpleNamespace(
        function_name=function.function_name,
        function_version="$LATEST",
        invoked_function_arn=function.function_arn,
        memory_limit_in_mb=getattr(function, "memory_size", 128),
        aws_request_id=request_id,
        log_group_name=f"/aws/lambda/{function.function_name}",
        log_stream_name=f"emulator/{request_id}",
        get_remaining_time_in_millis=lambda: max(0, int((deadline - time.monotonic()) * 1000)),
    )


def invoke(function: Any, event: dict[str, Any], region: str) -> Any:
    """Call the function's Python handler with ``event``; return what it returns."""
    runtime = str(function.run_time or "")
    if not runtime.startswith("python"):
        raise HandlerFailed(
            f"Lambda function {function.function_name} runs {runtime or 'no runtime'}; the "
            "emulator runs Python handlers only"
        )
    variables = {
        **{k: str(v) for k, v in (function.environment_vars or {}).items()},
        "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }
    request_id = str(event.get("RequestId") or uuid.uuid4())
    with _run_lock, _unpacked(function.code_bytes) as folder, _isolated(folder, variables):
        handler = _load(folder, str(function.handler))
        return _within_timeout(function, handler, event, _context(function, request_id))


TIMEOUT_ALLOWANCE_SECONDS = 10.0
"""Added to a function's ``Timeout``: the emulator's one process, on a busy laptop, is slower
than a Lambda sandbox (a first boto3 import alone can take seconds)."""


def _timeout_seconds(function: Any) -> float:
    return float(getattr(function, "timeout", 3) or 3)


def _within_timeout(function: Any, handler: Any, event: dict[str, Any], context: Any) -> Any:
    """Run the handler in a thread of its own for at most the function's ``Timeout``, as Lambda
    does: a handler waiting on something that never answers (a server that accepts and stays
    silent) fails the custom resource, naming the function and the line it waits on, instead
    of holding the deploy (and ``make local``) forever. Python cannot stop a thread: a timed-out
    handler's thread is abandoned (where Lambda would stop its sandbox) and may finish later."""
    outcome: dict[str, Any] = {}

    def call() -> None:
        try:
            outcome["value"] = handler(event, context)
        except Exception as error:
            outcome["error"] = error

    seconds = _timeout_seconds(function)
    thread = threading.Thread(target=call, name=f"lambda {function.function_name}", daemon=True)
    thread.start()
    thread.join(seconds + TIMEOUT_ALLOWANCE_SECONDS)
    if thread.is_alive():
        raise HandlerFailed(
            f"Lambda function {function.function_name} timed out: it did not finish within its "
            f"Timeout of {seconds:.0f} s (+{TIMEOUT_ALLOWANCE_SECONDS:.0f} s the emulator "
            f"allows), still waiting {_waiting_at(thread)}"
        )
    if "error" in outcome:
        error = outcome["error"]
        raise HandlerFailed(f"{type(error).__name__}: {error}") from error
    return outcome.get("value")


def _waiting_at(thread: threading.Thread) -> str:
    """Where a running thread is: its innermost Python frames, innermost first."""
    frame = sys._current_frames().get(thread.ident or -1)
    if frame is None:
        return "(its thread ended meanwhile)"
    frames = traceback.extract_stack(frame)[-2:][::-1]
    return ", called from ".join(
        f"at {Path(f.filename).name}:{f.lineno} in {f.name} (`{(f.line or '').strip()}`)"
        for f in frames
    )


def run(
    account_id: str, region: str, service_token: str, event: dict[str, Any]
) -> tuple[str | None, dict[str, Any], str]:
    """Answer a custom resource event with the service token's Lambda code.

    Returns (physical ID or None, data, name of the function that ran).
    """
    function = _function(account_id, region, service_token)
    on_event = (function.environment_vars or {}).get("USER_ON_EVENT_FUNCTION_ARN")
    is_complete = (function.environment_vars or {}).get("USER_IS_COMPLETE_FUNCTION_ARN")
    if on_event:
        function = _function(account_id, region, on_event)
    result = invoke(function, event, region)
    sent = _take_response(event["RequestId"])
    if sent is not None:
        if sent["Status"] != "SUCCESS":
            raise HandlerFailed(str(sent.get("Reason") or "the handler answered FAILED"))
        return sent.get("PhysicalResourceId"), dict(sent.get("Data") or {}), function.function_name
    if not isinstance(result, dict):
        if on_event is None:
            raise HandlerFailed(
                f"{function.function_name} neither returned a response nor sent one to ResponseURL"
            )
        result = {}
    if is_complete:
        result = _until_complete(
            _function(account_id, region, is_complete), {**event, **result}, region
        )
    return result.get("PhysicalResourceId"), dict(result.get("Data") or {}), function.function_name


def _until_complete(function: Any, event: dict[str, Any], region: str) -> dict[str, Any]:
    """Poll the provider framework's ``isComplete`` handler, as the framework's state machine
    does."""
    for _ in range(IS_COMPLETE_ATTEMPTS):
        answer = invoke(function, event, region) or {}
        if answer.get("IsComplete"):
            return {**event, "Data": {**(event.get("Data") or {}), **(answer.get("Data") or {})}}
        time.sleep(IS_COMPLETE_INTERVAL_SECONDS)
    raise HandlerFailed(
        f"{function.function_name}: not complete after {IS_COMPLETE_ATTEMPTS} attempts"
    )
