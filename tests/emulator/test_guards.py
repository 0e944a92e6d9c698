"""``make local`` never hangs, never lies, and runs one at a time (issue 20, points 7-9).

- Every request of the driver has a timeout and a message naming what did not answer: a server
  that accepts connections and never answers (a plain socket, or the emulator stopped with
  SIGSTOP: the kernel still accepts for it) ends each call, ``status`` and ``up`` in bounded time.
- Two ``up`` on one state directory: the second is refused at once, naming the first's pid; the
  lock dies with its holder, ``kill -9`` included.
- ``status`` believes no state file blindly: a stale, foreign, 0 or negative pid never makes it
  say that no emulator runs while one does.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import HTTPClientError

from emulator import (
    ACCOUNT_ID,
    ANSWER_TIMEOUT_VARIABLE,
    REGION,
    cdk,
    driver,
    process,
    report,
    runlock,
    summary,
)
from emulator.compat import lambda_code
from tests.emulator.conftest import REPO, Session, requires_cli, small_app

ANSWER_SECONDS = 1
"""The answer timeout these tests set (EMULATOR_ANSWER_TIMEOUT_SECONDS)."""
BOUND_SECONDS = 30
"""What 'bounded' means here: the defaults (botocore: 60 s x 5 attempts; no timeout on the
notes or the health probe; none on the CLI) waited minutes, or forever."""


def _within(seconds: float, call: Callable[[], Any]) -> Any:
    """``call()``'s result (or its exception), failing the test if it has not returned after
    ``seconds``: a wait that never ends fails by name instead of hanging the suite."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as error:  # handed to the test's thread
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still waiting after {seconds:.0f}s: it would wait forever"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@pytest.fixture
def silent_server() -> Iterator[str]:
    """An endpoint on 127.0.0.1 that accepts every connection and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


@pytest.fixture
def short_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short answer timeouts, and the health probe every half second (not every 5 s)."""
    monkeypatch.setenv(ANSWER_TIMEOUT_VARIABLE, str(ANSWER_SECONDS))
    monkeypatch.setattr(process.Health, "PROBE_INTERVAL_SECONDS", 0.5)


def _ask_cloudformation(endpoint: str) -> Any:
    return report.client(endpoint, "cloudformation").describe_stacks()


def _ask_notes(endpoint: str) -> Any:
    return summary.notes_since(endpoint, 0)


def _ask_health(endpoint: str) -> Any:
    found = process.unanswered(process.Emulator(4242, 1, endpoint, Path("log")))
    assert found is not None
    raise TimeoutError(found)


@pytest.mark.parametrize(
    "ask", [_ask_cloudformation, _ask_notes, _ask_health], ids=["boto3", "notes", "health"]
)
@pytest.mark.usefixtures("short_answers")
def test_every_request_to_a_silent_server_ends_naming_it(
    silent_server: str, ask: Callable[[str], Any]
) -> None:
    with pytest.raises((OSError, HTTPClientError, BotoConnectionError)) as raised:
        _within(BOUND_SECONDS, lambda: ask(silent_server))
    port = silent_server.rsplit(":", 1)[1]
    assert port in str(raised.value) or "timed out" in str(raised.value), raised.value


_SILENT_HANDLER = """
import socket
def handler(event, context):
    server = socket.create_connection(("127.0.0.1", int(event["Port"])))
    return server.recv(1)
"""


def test_lambda_code_waiting_on_a_silent_server_times_out_naming_the_line(
    silent_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A custom resource's handler (e.g. the database users provisioner) waiting on a server that
    never answers fails at its function's Timeout instead of holding the deploy forever."""
    monkeypatch.setattr(lambda_code, "TIMEOUT_ALLOWANCE_SECONDS", 0.0)
    (tmp_path / "index.py").write_text(_SILENT_HANDLER)
    function = SimpleNamespace(function_name="Provisioner", timeout=1)
    monkeypatch.setitem(sys.modules, "index", None)  # the module _load adds: gone after the test
    handler = lambda_code._load(tmp_path, "index.handler")
    event = {"Port": silent_server.rsplit(":", 1)[1]}
    with pytest.raises(lambda_code.HandlerFailed) as failed:
        _within(BOUND_SECONDS, lambda: lambda_code._within_timeout(function, handler, event, None))
    assert "Lambda function Provisioner timed out: it did not finish within its Timeout of 1 s" in (
        str(failed.value)
    )
    assert "at index.py:5 in handler (`return server.recv(1)`)" in str(failed.value)


@contextlib.contextmanager
def _stopped(emulator: process.Emulator) -> Iterator[None]:
    """The emulator frozen (SIGSTOP): it still accepts connections, answers nothing."""
    os.kill(emulator.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(emulator.pid, signal.SIGCONT)


@pytest.fixture
def own_emulator(session: Session) -> process.Emulator:
    """The session's running emulator, frozen (each test lets it go on) and lied about (each
    test restores its state file): one emulator start less than one of this module's own."""
    return session.emulator


def _state_dir(emulator: process.Emulator) -> Path:
    return emulator.log.parent


def _emulator_command(state_dir: Path, *args: str, env: dict[str, str] | None = None
                      ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emulator", "--state-dir", str(state_dir), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=BOUND_SECONDS * 2,
        check=False,
        env={**os.environ, **(env or {})},
    )


@requires_cli
def test_up_into_a_wedged_emulator_ends_naming_it(
    own_emulator: process.Emulator, tmp_path: Path
) -> None:
    app = small_app(tmp_path, "WedgedProbe", {"Topic": {"Type": "AWS::SNS::Topic"}})
    state_dir = _state_dir(own_emulator)
    with _stopped(own_emulator):
        started = time.monotonic()
        result = _emulator_command(
            state_dir, "up", "--app-dir", str(app),
            env={ANSWER_TIMEOUT_VARIABLE: str(ANSWER_SECONDS)},
        )
        seconds = time.monotonic() - started
    assert result.returncode == 1, result.stdout + result.stderr
    assert seconds < BOUND_SECONDS, f"up waited {seconds:.0f}s for a wedged emulator"
    assert (
        f"the emulator (pid {own_emulator.pid}) on {own_emulator.endpoint} did not answer"
    ) in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.usefixtures("short_answers")
def test_status_of_a_wedged_emulator_says_it_cannot_tell(own_emulator: process.Emulator) -> None:
    said: list[str] = []
    with _stopped(own_emulator):
        code = _within(BOUND_SECONDS, lambda: driver.status(_state_dir(own_emulator), said.append))
    assert code == 1
    (line,) = said
    assert f"cannot tell what runs: the emulator (pid {own_emulator.pid}) runs, but " in line
    assert f"{own_emulator.endpoint}/_emulator/health did not answer within" in line


@requires_cli
@pytest.mark.usefixtures("short_answers")
def test_cli_step_is_stopped_when_the_emulator_stops_answering(
    own_emulator: process.Emulator, tmp_path: Path
) -> None:
    said: list[str] = []
    bootstrap = ["bootstrap", f"aws://{ACCOUNT_ID}/{REGION}"]
    with _stopped(own_emulator), pytest.raises(driver.DriverError) as raised:
        _within(
            BOUND_SECONDS,
            lambda: driver._step("bootstrap", bootstrap, own_emulator, tmp_path, said.append),
        )
    assert f"/_emulator/health did not answer within {ANSWER_SECONDS}s" in str(raised.value)
    assert "while 'cdk bootstrap' was running; stopped the CLI" in str(raised.value)


@requires_cli
def test_cli_that_never_finishes_is_stopped_at_its_timeout(tmp_path: Path) -> None:
    (tmp_path / "cdk.json").write_text(
        json.dumps({"app": f"{sys.executable} -c 'import time; time.sleep(600)'"})
    )
    result = _within(
        BOUND_SECONDS,
        lambda: cdk.run(["synth", "--quiet"], "http://127.0.0.1:9", tmp_path, timeout=3),
    )
    assert result.stopped == "'cdk synth' did not finish within 3s"
    assert result.returncode != 0
    assert result.seconds < BOUND_SECONDS


# --- one run at a time -------------------------------------------------------------------------

_HOLD = """
import sys, time
from pathlib import Path
from emulator import runlock
with runlock.held(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(120)
"""


def test_run_lock_names_its_holder_and_dies_with_it_even_by_kill_9(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(runlock.Busy) as busy, runlock.held(tmp_path):
            pass
        assert busy.value.holder == holder.pid
        assert f"another `make local` is running (pid {holder.pid})" in str(busy.value)
    finally:
        holder.kill()  # SIGKILL: no cleanup of its own runs
        holder.wait()
    with runlock.held(tmp_path) as path:
        assert path.read_text() == f"{os.getpid()}\n"


# long: two whole `up`s at once (~4.6 s of CPU); make test keeps the run lock itself
# (test_run_lock_names_its_holder_and_dies_with_it_even_by_kill_9)
@pytest.mark.long
@requires_cli
def test_second_up_is_refused_while_the_first_runs(session: Session, tmp_path: Path) -> None:
    app = small_app(tmp_path, "LockProbe", {"Topic": {"Type": "AWS::SNS::Topic"}})
    running = session.emulator
    first = session.start_up(app)
    assert first.stdout is not None
    first_lines = [first.stdout.readline()]  # its first line: it holds the lock by then
    second = session.up("--app-dir", str(app), output=False, timeout=BOUND_SECONDS)
    rest, errors = first.communicate(timeout=300)
    first_output = "".join(first_lines) + rest
    assert second.returncode == 1, second.stdout + second.stderr
    assert f"another `make local` is running (pid {first.pid})" in second.stderr
    assert second.stdout == "", "the refused run did something before it was refused"
    assert first.returncode == 0, first_output + errors
    assert "no longer described" not in first_output
    assert session.emulator == running, "the second run touched the first one's emulator"


# --- status tells the truth or says it cannot tell ---------------------------------------------


def _stale_pid() -> int:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


@pytest.mark.parametrize(
    "pid", [_stale_pid, lambda: 1, lambda: 0, lambda: -1, os.getpid],
    ids=["stale", "init", "zero", "negative", "not-ours"],
)
def test_status_with_a_wrong_pid_never_says_none_runs(
    own_emulator: process.Emulator, pid: Callable[[], int]
) -> None:
    state_dir = _state_dir(own_emulator)
    state_file = state_dir / process.STATE_NAME
    saved = state_file.read_text()
    data = json.loads(saved)
    state_file.write_text(json.dumps({**data, "pid": pid()}))
    said: list[str] = []
    try:
        code = driver.status(state_dir, said.append)
    finally:
        state_file.write_text(saved)
    assert code == 1
    (line,) = said
    assert "no emulator is running" not in line, line
    assert f"pid {own_emulator.pid} runs" in line, line
    said.clear()
    assert driver.status(state_dir, said.append) == 0, said
    assert said[0] == "$ aws ecs describe-clusters"


def _database_users_resources(secret: str) -> dict[str, Any]:
    """A master secret and the provisioner's custom resource, as the platform stack has them."""
    return {
        "Master": {"Type": "AWS::SecretsManager::Secret", "Properties": {
            "SecretString": json.dumps({"username": f"m{secret}", "password": "pw-" + secret})}},
        "Users": {"Type": "Custom::DatabaseUsers", "Properties": {
            "ServiceToken": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:provider",
            "MasterSecretArn": {"Ref": "Master"}, "Endpoint": "db.internal", "Port": "3306",
            "DropSchemas": "false", "Services": [],
        }},
    }


@requires_cli
@pytest.mark.long
def test_a_mysql_server_that_never_answers_fails_make_local_naming_it(
    silent_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20, point 7, end to end: `make local` with MYSQL_TEST_PORT at something that accepts
    connections and never speaks MySQL hung forever after synthesis; now the deploy fails in
    bounded time and says which server did not answer."""
    port = silent_server.rsplit(":", 1)[1]
    monkeypatch.setenv("MYSQL_TEST_HOST", "127.0.0.1")
    monkeypatch.setenv("MYSQL_TEST_PORT", port)
    state_dir = tmp_path / "state"
    process.start(state_dir)  # the server reads MYSQL_TEST_* from its environment
    try:
        app = small_app(tmp_path / "app", "SilentMySQL", _database_users_resources(port))
        started = time.monotonic()
        result = _emulator_command(state_dir, "up", "--app-dir", str(app))
        seconds = time.monotonic() - started
    finally:
        process.stop(state_dir, grace=1)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert seconds < BOUND_SECONDS * 2, f"up waited {seconds:.0f}s for a silent MySQL server"
    assert (f"the local MySQL server at 127.0.0.1:{port} (MYSQL_TEST_HOST/MYSQL_TEST_PORT) "
            "did not answer within") in output, output
    assert "Traceback" not in result.stderr, result.stderr
