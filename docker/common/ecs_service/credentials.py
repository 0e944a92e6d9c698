"""The database password, re-read from Secrets Manager after a rotation.

ECS injects ``DB_PWD`` once, when a task starts.  After a single-user rotation
the running task's open connections keep working, but every new one is refused
(MySQL error 1045).  When ``DB_SECRET_ARN`` is set, :class:`Credentials` then
reads the secret again (botocore, with the task role's credentials) and the
caller retries once with what it got.  Reads are rate-limited (at most one per
``DB_SECRET_REFETCH_SECONDS``) so a password that is simply wrong does not hammer
the API; the password never reaches a log line.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

SecretReader = Callable[[str], str]
"""Returns the ``SecretString`` of the secret with the given ARN."""


_client: Any = None
_client_lock = threading.Lock()


def read_secret_string(secret_arn: str) -> str:
    """``GetSecretValue`` through botocore (credentials and endpoint from the environment).

    Short timeouts and one retry: this runs while a connection attempt waits.
    """
    global _client
    with _client_lock:
        if _client is None:
            import botocore.config  # type: ignore[import-untyped]  # only with DB_SECRET_ARN
            import botocore.session  # type: ignore[import-untyped]

            parts = secret_arn.split(":")
            _client = botocore.session.get_session().create_client(
                "secretsmanager",
                region_name=parts[3] if len(parts) >= 7 and parts[3] else None,
                config=botocore.config.Config(
                    connect_timeout=2, read_timeout=5, retries={"max_attempts": 2}
                ),
            )
        client = _client
    return str(client.get_secret_value(SecretId=secret_arn)["SecretString"])


class Credentials:
    """The user and password new connections use; thread-safe."""

    def __init__(
        self,
        user: str,
        password: str,
        secret_arn: str | None = None,
        refetch_seconds: float = 30.0,
        reader: SecretReader = read_secret_string,
    ) -> None:
        self._user = user
        self._password = password
        self._secret_arn = secret_arn
        self._refetch_seconds = refetch_seconds
        self._reader = reader
        self._last_fetch: float | None = None
        self._lock = threading.Lock()  # guards user/password: held only briefly
        self._fetch_lock = threading.Lock()  # one read at a time, outside _lock

    @property
    def current(self) -> tuple[str, str]:
        """``(user, password)`` for the next connection."""
        with self._lock:
            return self._user, self._password

    def refresh(self, refused: tuple[str, str]) -> bool:
        """After *refused* was denied: re-read the secret if allowed; True if it changed.

        Another thread may already have refreshed (then True without a read);
        otherwise at most one read per ``refetch_seconds``.
        """
        if self._secret_arn is None:
            return False
        with self._fetch_lock:
            if self.current != refused:
                return True  # another thread re-read it meanwhile
            now = time.monotonic()
            if self._last_fetch is not None and now - self._last_fetch < self._refetch_seconds:
                return False
            self._last_fetch = now
            try:
                secret = json.loads(self._reader(self._secret_arn))
                user, password = str(secret["username"]), str(secret["password"])
            except Exception as exc:  # any failure means "keep what we have"
                logger.error(
                    "cannot re-read the database credentials; retrying later",
                    extra={"fields": {"secret_arn": self._secret_arn,
                                      "error": type(exc).__name__,
                                      # AWS's message (denied, not found); never the secret's text
                                      "reason": str(exc)[:300]
                                      if type(exc).__module__.startswith("botocore") else None,
                                      "retry_after_s": self._refetch_seconds}},
                )
                return False
            with self._lock:
                changed = (user, password) != (self._user, self._password)
                self._user, self._password = user, password
        logger.warning(
            "database refused the password; re-read the credentials from Secrets Manager",
            extra={"fields": {"secret_arn": self._secret_arn, "user": user, "changed": changed}},
        )
        return changed
