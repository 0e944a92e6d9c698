"""The README's configuration table, generated from the keys themselves:
`python -m ecs_playground.platform.config_docs` prints it; a test keeps the README in sync."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .config import key_specs


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        value = list(value)
    return "—" if value is None else f"`{json.dumps(value)}`"


def markdown_table(context: Mapping[str, Any]) -> str:
    """Every key, its value in `context` (else the prop's default), its meaning."""
    services = list(context.get("services", []))
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for key, spec in key_specs(services[:1]).items():
        if services and key.startswith(services[0] + "."):
            suffix = key.split(".", 1)[1]
            values = [context.get(f"{s}.{suffix}") for s in services]
            shown = (", ".join(f"{s}: {_show(v)}" for s, v in zip(services, values, strict=True))
                     if any(v is not None for v in values) else _show(spec.default))
            key = f"<service>.{suffix}"
        else:
            shown = _show(context.get(key, spec.default))
        rows.append(f"| `{key}` | {shown} | {spec.meaning.replace('|', '/')} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table(json.loads(Path("cdk.json").read_text())["context"]))
