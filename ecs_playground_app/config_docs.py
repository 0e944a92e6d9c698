"""The configuration table of docs/configuration.md, generated from the keys themselves and the
values of a cdk.json: `python -m ecs_playground_app.config_docs` prints it,
`--write docs/configuration.md` puts it between the page's markers (`make regenerate` does); a
test keeps the page in sync."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .keys import ENVIRONMENT_MEANINGS, key_specs


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
    rows += [f"| `{key}` | {_show(context.get(key))} | {meaning} |"
             for key, meaning in ENVIRONMENT_MEANINGS.items()]
    return "\n".join(rows)


START = "<!-- config-table:start"
END = "<!-- config-table:end -->"


def _bounds(document: str) -> tuple[int, int]:
    """Where the table between the markers starts and ends in `document`."""
    start = document.find(START)
    end = document.find(END, max(start, 0))
    if start < 0 or end < 0:
        raise ValueError(f"the document has no table markers: a line starting with '{START}', "
                         f"then a line '{END}'; add them where the table goes")
    return document.index("\n", start) + 1, end


def table_in(document: str) -> str:
    """The configuration table a document (docs/configuration.md) holds between its markers."""
    start, end = _bounds(document)
    return document[start:end].strip()


def with_table(document: str, table: str) -> str:
    """`document` with `table` between its markers (the rest unchanged)."""
    start, end = _bounds(document)
    return f"{document[:start]}{table}\n{document[end:]}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ecs_playground_app.config_docs",
        description="Print the configuration table of a cdk.json, or write it into a document.")
    parser.add_argument("--cdk-json", type=Path, default=Path("cdk.json"),
                        help="the cdk.json whose values the table shows (default: ./cdk.json)")
    parser.add_argument("--write", type=Path, metavar="DOCUMENT",
                        help="replace the table between the markers of DOCUMENT "
                             "(docs/configuration.md)")
    args = parser.parse_args(argv)
    table = markdown_table(json.loads(args.cdk_json.read_text(encoding="utf-8"))["context"])
    if args.write is None:
        print(table)
        return 0
    document = args.write.read_text(encoding="utf-8")
    try:
        updated = with_table(document, table)
    except ValueError as error:
        parser.error(f"{args.write}: {error}")
    if updated != document:
        args.write.write_text(updated, encoding="utf-8")
        print(f"{args.write}: configuration table updated from {args.cdk_json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
