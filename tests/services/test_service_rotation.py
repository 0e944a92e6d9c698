"""Single-user rotation: running processes pick up the new password from Secrets Manager.

The rotation is simulated the way the hosted rotation function does it: the
service's own user gets a new password (``ALTER USER``) and the secret gets the
same one; the process still holds the old ``DB_PWD`` that ECS injected at task
start.  Secrets Manager is a moto server on 127.0.0.1 (``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import botocore.session
import pytest
from ecs_service import credentials
from ecs_service.definition import load_definition
from ecs_service.settings import SettingsError, load_settings

from tests.services.service_harness import (
    DOCKER_DIR,
    HTTP,
    MySQL,
    ServiceProcess,
    free_port,
    quote_identifier,
    sample_record,
    wait_for_status,
)

StartService = Callable[..., ServiceProcess]
LOCATION = load_definition(DOCKER_DIR / "location" / "service.json")

REGION = "eu-west-1"
REREAD = "database refused the password; re-read the credentials from Secrets Manager"
HOSTS = ("%", "localhost", "127.0.0.1")  # specific hosts beat anonymous ''@localhost


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server on a free loopback port; its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_status(url + "/moto-api/", 200, timeout=30)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def aws_env(endpoint: str) -> dict[str, str]:
    """Test credentials and the emulator's endpoint, never a real account."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }


@pytest.fixture
def secretsmanager(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in aws_env(moto_endpoint).items():
        monkeypatch.setenv(key, value)
    return botocore.session.get_session().create_client("secretsmanager", region_name=REGION)


@pytest.fixture
def service_user(mysql: MySQL, fresh_database: str) -> Iterator[tuple[str, str]]:
    """A user owning *fresh_database* only (as the provisioner creates it); dropped at the end."""
    user = f"ecs_rot_{secrets.token_hex(5)}"
    password = secrets.token_hex(12)
    for host in HOSTS:
        mysql.execute("CREATE USER %s@%s IDENTIFIED BY %s", (user, host, password))
        mysql.execute(f"GRANT ALL ON {quote_identifier(fresh_database)}.* TO %s@%s", (user, host))
    try:
        yield user, password
    finally:
        for host in HOSTS:
            mysql.execute("DROP USER IF EXISTS %s@%s", (user, host))


def rotate(mysql: MySQL, user: str) -> str:
    """What the rotation function's setSecret step does: a new password for the user."""
    password = secrets.token_hex(12)
    for host in HOSTS:
        mysql.execute("ALTER USER %s@%s IDENTIFIED BY %s", (user, host, password))
    return password


def put_secret(client: Any, name: str, user: str, password: str) -> str:
    """Create or update the service's secret (what finishSecret makes AWSCURRENT); its ARN."""
    value = json.dumps({"username": user, "password": password})
    with contextlib.suppress(client.exceptions.ResourceNotFoundException):
        client.put_secret_value(SecretId=name, SecretString=value)
        return str(client.describe_secret(SecretId=name)["ARN"])
    return str(client.create_secret(Name=name, SecretString=value)["ARN"])


def kill_connections(mysql: MySQL, user: str) -> None:
    """Drop the user's open connections (idle timeout, failover): the pool must reconnect."""
    for (conn_id,) in mysql.execute(
        "SELECT id FROM information_schema.PROCESSLIST WHERE user = %s", (user,)
    ):
        with contextlib.suppress(Exception):
            mysql.execute(f"KILL {int(conn_id)}")


def rereads(process: ServiceProcess) -> list[dict[str, Any]]:
    return [r for r in process.log_records() if r.get("message") == REREAD]


def test_rotated_password_is_picked_up_without_restart(
    mysql: MySQL, fresh_database: str, service_user: tuple[str, str],
    secretsmanager: Any, moto_endpoint: str, start_service: StartService,
) -> None:
    # given: the password was rotated after the task started (the task holds the old DB_PWD)
    user, old = service_user
    new = rotate(mysql, user)
    arn = put_secret(secretsmanager, f"svc/{user}", user, new)
    # when: the service connects with DB_PWD and is refused
    process = start_service(
        "location", fresh_database, DB_USER=user, DB_PWD=old, DB_SECRET_ARN=arn,
        DB_SECRET_REFETCH_SECONDS="1", **aws_env(moto_endpoint),
    )
    # then: it re-read the secret and serves, same process
    assert HTTP.get(process.url + "/health").status_code == 200
    created = HTTP.post(process.url + "/api/cities", json=sample_record("location"))
    assert created.status_code == 201, created.text
    first = rereads(process)
    assert first and first[0]["level"] == "WARNING" and first[0]["user"] == user

    # when: rotated again while running, and the open connections go away
    time.sleep(1.1)  # past the refetch interval
    newer = rotate(mysql, user)
    put_secret(secretsmanager, f"svc/{user}", user, newer)
    kill_connections(mysql, user)
    pid = process.proc.pid if process.proc else None
    # then: the next requests succeed on new connections, without a restart
    wait_for_status(process.url + "/health", 200, timeout=10, describe=process.log_text)
    assert HTTP.get(f"{process.url}/api/cities/{created.json()['id']}").status_code == 200
    assert process.proc is not None and process.proc.pid == pid and process.proc.poll() is None
    assert len(rereads(process)) > len(first)
    log = process.log_text()
    assert old not in log and new not in log and newer not in log, "a password reached the log"


def test_without_secret_arn_a_rotated_password_stays_refused(
    mysql: MySQL, fresh_database: str, service_user: tuple[str, str],
    secretsmanager: Any, moto_endpoint: str, start_service: StartService,
) -> None:
    # given: rotated, but the task does not know its secret (no DB_SECRET_ARN)
    user, old = service_user
    new = rotate(mysql, user)
    put_secret(secretsmanager, f"svc/{user}", user, new)
    process = start_service(
        "location", fresh_database, wait="listening", DB_USER=user, DB_PWD=old,
        **aws_env(moto_endpoint),
    )
    # then: as before this change: 503, retrying, no re-read
    time.sleep(1.5)
    assert HTTP.get(process.url + "/health").status_code == 503
    assert HTTP.get(process.url + "/api/cities").status_code == 503
    assert not rereads(process)
    # and it recovers by itself once the password it holds works again
    for host in HOSTS:
        mysql.execute("ALTER USER %s@%s IDENTIFIED BY %s", (user, host, old))
    wait_for_status(process.url + "/health", 200, timeout=10, describe=process.log_text)
    assert process.proc is not None and process.proc.poll() is None


def test_a_wrong_password_rereads_at_most_once_per_interval(
    mysql: MySQL, fresh_database: str, service_user: tuple[str, str],
    secretsmanager: Any, moto_endpoint: str, start_service: StartService,
) -> None:
    # given: DB_PWD and the secret are both wrong (not a rotation: a mistake)
    user, _ = service_user
    arn = put_secret(secretsmanager, f"svc/{user}", user, "wrong-in-the-secret-too")
    interval = 1  # the shortest DB_SECRET_REFETCH_SECONDS
    began = time.monotonic()  # every read comes after this, the startup migration's too
    process = start_service(
        "location", fresh_database, wait="listening", DB_USER=user, DB_PWD="wrong",
        DB_SECRET_ARN=arn, DB_SECRET_REFETCH_SECONDS=str(interval), **aws_env(moto_endpoint),
    )
    # when: requests keep arriving for a few seconds (about 20 a second: unbounded, as many reads)
    started = time.monotonic()
    while time.monotonic() - started < 3:
        assert HTTP.get(process.url + "/api/cities").status_code == 503
        time.sleep(0.05)
    elapsed = time.monotonic() - began
    # then: Secrets Manager was read at most once per interval, and the service stays up
    reads = rereads(process)
    assert 1 <= len(reads) <= elapsed // interval + 1, [r["time"] for r in reads]
    assert all(r["changed"] is False for r in reads[1:])
    assert process.proc is not None and process.proc.poll() is None


# ---------------------------------------------------------------- units (no process)


class FakeSecret:
    """A reader that counts its calls; *value* is what the secret holds."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.calls = 0

    def __call__(self, arn: str) -> str:
        self.calls += 1
        return json.dumps({"username": "location", "password": self.password})


def test_refresh_reads_at_most_once_per_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(credentials.time, "monotonic", lambda: clock[0])
    secret = FakeSecret("also-wrong")
    creds = credentials.Credentials("location", "wrong", "arn:x", 30.0, secret)
    assert creds.refresh(("location", "wrong")) is True  # first read: it changed
    for _ in range(50):  # every connection attempt is refused for 29 s
        assert creds.refresh(creds.current) is False
        clock[0] += 29 / 50
    assert secret.calls == 1
    clock[0] += 1.5  # past 30 s since the first read
    assert creds.refresh(creds.current) is False and secret.calls == 2


def test_refresh_after_another_thread_refreshed_does_not_read() -> None:
    secret = FakeSecret("new")
    creds = credentials.Credentials("location", "old", "arn:x", 30.0, secret)
    assert creds.refresh(("location", "old")) and creds.current == ("location", "new")
    assert creds.refresh(("location", "old")) is True and secret.calls == 1


def test_refresh_without_secret_or_on_read_failure_keeps_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert credentials.Credentials("u", "p").refresh(("u", "p")) is False

    def broken(arn: str) -> str:
        return '{"username": "u"}'  # no password

    creds = credentials.Credentials("u", "p", "arn:x", 30.0, broken)
    assert creds.refresh(("u", "p")) is False and creds.current == ("u", "p")
    assert "cannot re-read the database credentials; retrying later" in caplog.text


@pytest.mark.parametrize(("raw", "ok"), [("", 30.0), ("1", 1.0), ("0", None), ("3601", None),
                                          ("\uff15", None), ("-1", None)])
def test_refetch_seconds_setting(raw: str, ok: float | None) -> None:
    env = {"DB_HOST": "h", "DB_USER": "u", "DB_NAME": "d", "DB_SECRET_REFETCH_SECONDS": raw,
           "DB_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:s"}
    if ok is None:
        with pytest.raises(SettingsError, match="DB_SECRET_REFETCH_SECONDS"):
            load_settings(LOCATION, env)
    else:
        database = load_settings(LOCATION, env).database
        assert database.secret_refetch_seconds == ok and database.secret_arn == env["DB_SECRET_ARN"]
        without = load_settings(LOCATION, {**env, "DB_SECRET_ARN": ""}).database
        assert without.secret_arn is None  # empty is unset: today's behaviour
