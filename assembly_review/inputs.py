"""What the review itself executes, compared between BASE and the working tree.

Synthesizing a change runs that change's code: cdk.json's ``app`` (and ``build``) command, and what
installs and drives it (the Makefile, the requirements, the pinned CDK CLI). A change there can
make the review say anything (an ``app`` that prints BASE's templates yields "no changes"), so the
report names such a change on its first screen, before any verdict is trusted.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CDK_JSON = "cdk.json"
COMMAND_KEYS = ("app", "build")
"""cdk.json keys whose value the CDK CLI runs as a command."""
FILES = ("Makefile", "requirements*.txt", "package.json", "package-lock.json", "pyproject.toml")
"""Files (git pathspecs at the repository's top) that install or drive the synth."""


@dataclass(frozen=True)
class InputChange:
    """One changed input of the synth: a file, or a cdk.json command (before -> after)."""

    path: str
    key: str | None = None
    before: str | None = None
    after: str | None = None

    def text(self) -> str:
        """Markdown, e.g. "`cdk.json` `app`: `python3 app.py` → `sh x.sh`"."""
        if self.key is None:
            return f"`{self.path}`"

        def shown(value: str | None) -> str:
            return "_(absent)_" if value is None else "`" + value.replace("`", "'") + "`"

        return f"`{self.path}` `{self.key}`: {shown(self.before)} → {shown(self.after)}"


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=False)


def _commands(text: str | None) -> dict[str, str | None]:
    try:
        settings: Any = json.loads(text) if text is not None else {}
    except json.JSONDecodeError:
        settings = {"app": "(cdk.json is not valid JSON)"}
    if not isinstance(settings, dict):
        settings = {}
    return {key: (None if settings.get(key) is None else str(settings.get(key)))
            for key in COMMAND_KEYS}


def changed_inputs(repo: Path, commit: str) -> list[InputChange]:
    """The synth inputs that differ between BASE's commit and the working tree of repo (tracked
    changes, committed or not, and new untracked files)."""
    changes: list[InputChange] = []
    shown = _git(repo, "show", f"{commit}:{CDK_JSON}")
    before = _commands(shown.stdout if shown.returncode == 0 else None)
    current = repo / CDK_JSON
    after = _commands(current.read_text(errors="replace") if current.exists() else None)
    for key in COMMAND_KEYS:
        if before[key] != after[key]:
            changes.append(InputChange(CDK_JSON, key, before[key], after[key]))
    pathspecs = [f":(top,glob){pattern}" for pattern in FILES]
    names: set[str] = set()
    for args in (("diff", "--name-only", commit, "--", *pathspecs),
                 ("ls-files", "--others", "--exclude-standard", "--", *pathspecs)):
        result = _git(repo, *args)
        names |= {line for line in result.stdout.splitlines() if line.strip()}
    changes += [InputChange(name) for name in sorted(names)]
    return changes
