"""Fingerprints of what decides a result: file contents and the packages installed beside a tool.

Standard library only. The review keys its cache of BASE's assembly with them; the app's scanner
cache (ecs_playground_app/gate_cache.py) uses the same functions.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path


def sha256(data: bytes) -> str:
    """Hex sha256 of the bytes."""
    return hashlib.sha256(data).hexdigest()


def files_fingerprint(paths: Iterable[Path]) -> dict[str, str]:
    """{path: sha256 of its content, or 'absent'}: config files a scanner would read."""
    return {str(p): sha256(p.read_bytes()) if p.is_file() else "absent" for p in paths}


def installed_packages(site_packages: Iterable[Path]) -> list[str]:
    """'name-version' of every distribution in these site-packages folders (read from the
    *.dist-info folder names: no import, a directory listing)."""
    found: set[str] = set()
    for folder in site_packages:
        if folder.is_dir():
            found.update(entry.name.removesuffix(".dist-info") for entry in os.scandir(folder)
                         if entry.name.endswith(".dist-info"))
    return sorted(found)
