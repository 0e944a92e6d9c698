"""Print the README's configuration table: `python -m ecs_playground.config_table`."""

import json
from pathlib import Path

from .config import markdown_table

if __name__ == "__main__":
    print(markdown_table(json.loads(Path("cdk.json").read_text())["context"]))
