"""An image's command and environment, read from its Dockerfile, to run it from its build
context as a process.

Only the last stage counts (what the image runs). ``COPY`` sources inside the build context map
the image's paths back onto the context (``/app/common`` -> ``docker/common``); a ``COPY --from``
of another stage (the dependencies' virtualenv) maps onto this interpreter's environment, which
holds the same pinned requirements. ``ARG`` values come from the build arguments, ``${VAR}`` in
``ENV`` from the image's environment so far (``PATH`` from the caller's). ``USER`` is not applied
(tasks run as the user of ``make local``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


class ImageError(ValueError):
    """The Dockerfile says something this runner cannot run (the message says what)."""


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of every line, continuations joined, comments dropped."""
    text = re.sub(r"\\\n\s*", "", dockerfile.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            name, _, rest = stripped.partition(" ")
            found.append((name.upper(), rest.strip()))
    return found


def _substitute(value: str, variables: Mapping[str, str]) -> str:
    return _VAR.sub(lambda m: variables.get(m.group(1) or m.group(2), ""), value)


@dataclass(frozen=True)
class ImageSource:
    """An image built from ``context`` with ``build_args`` (e.g. ``docker/``, ``SERVICE=user``)."""

    context: Path
    """The build context (a directory)."""
    build_args: Mapping[str, str] = field(default_factory=dict)
    """``--build-arg`` values."""
    dockerfile: str = "Dockerfile"
    """The Dockerfile, relative to the context."""

    def _stage(self) -> list[tuple[str, str]]:
        path = self.context / self.dockerfile
        if not path.is_file():
            raise ImageError(f"no Dockerfile at {path}")
        found = instructions(path)
        starts = [i for i, (name, _) in enumerate(found) if name == "FROM"]
        if not starts:
            raise ImageError(f"{path} has no FROM")
        return found[starts[-1] + 1 :]

    def _paths(self) -> dict[str, Path]:
        """Image path -> where it comes from (context folder, or this interpreter's prefix)."""
        args = dict(self.build_args)
        mapped: dict[str, Path] = {}
        for name, rest in self._stage():
            if name == "ARG":
                key, _, default = rest.partition("=")
                args.setdefault(key.strip(), default.strip())
            elif name == "COPY":
                words = [_substitute(w, args) for w in shlex.split(rest)]
                from_stage = any(w.startswith("--from=") for w in words)
                sources = [w for w in words[:-1] if not w.startswith("--")]
                target = words[-1].rstrip("/")
                if len(sources) != 1:
                    continue
                mapped[target] = (
                    Path(sys.prefix) if from_stage else self.context / sources[0].rstrip("/")
                )
        return mapped

    def _map(self, value: str, paths: Mapping[str, Path]) -> str:
        def one(part: str) -> str:
            for target in sorted(paths, key=len, reverse=True):
                if part == target or part.startswith(target + "/"):
                    return str(paths[target]) + part[len(target) :]
            return part

        return ":".join(one(p) for p in value.split(":"))

    def environment(self, host_path: str | None = None) -> dict[str, str]:
        """The image's ``ENV``, its paths mapped (``PATH`` built on ``host_path``)."""
        paths = self._paths()
        env: dict[str, str] = {"PATH": host_path or os.environ.get("PATH", "/usr/bin:/bin")}
        for name, rest in self._stage():
            if name != "ENV":
                continue
            words = shlex.split(rest)
            pairs = (
                [w.partition("=")[::2] for w in words]
                if "=" in words[0]
                else [(words[0], " ".join(words[1:]))]
            )
            for key, value in pairs:
                env[key] = self._map(_substitute(value, env), paths)
        return env

    def command(self, env: Mapping[str, str]) -> list[str]:
        """The exec-form ``CMD`` (after ``ENTRYPOINT``, if any), its program found on ``env``'s
        PATH."""
        found: dict[str, list[str]] = {"ENTRYPOINT": [], "CMD": []}
        for name, rest in self._stage():
            if name in found:
                try:
                    value = json.loads(rest)
                except json.JSONDecodeError:
                    raise ImageError(f"{name} must be in exec form (a JSON list): {rest}") from None
                found[name] = [str(v) for v in value]
        argv = found["ENTRYPOINT"] + found["CMD"]
        if not argv:
            raise ImageError(f"{self.context / self.dockerfile} has no CMD or ENTRYPOINT")
        program = shutil.which(argv[0], path=env.get("PATH"))
        if program is None:
            raise ImageError(f"{argv[0]!r} (the image's command) is not on PATH {env.get('PATH')}")
        return [program, *argv[1:]]
