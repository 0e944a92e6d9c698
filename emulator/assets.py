"""Image assets of a cloud assembly: run from their source by the emulator, never built.

Docker cannot build or pull here, so the CLI must not try: the assembly is deployed from a copy
whose asset manifests list no Docker image (file assets, the templates and Lambda code, are
published as on AWS). The task definitions keep their image URI (the bootstrap repository and
the asset hash, as on AWS); each image's build context is copied to ``.local/images/<hash>`` and
listed in ``.local/images.json`` (image URI -> context, build args, Dockerfile), where the
emulator's task runner finds what to run.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from emulator import ACCOUNT_ID, REGION

IMAGES_FILE = "images.json"
IMAGES_DIR = "images"


@dataclass(frozen=True)
class ImageAsset:
    """One Docker image asset, as the emulator runs it."""

    image: str
    """``REPOSITORY:TAG`` as the task definition names it (after the registry host)."""
    directory: str
    """Its build context, copied under ``.local/images/``."""
    build_args: dict[str, str]
    dockerfile: str
    """Relative to the context."""


def ready_assembly(app_dir: Path) -> Path | None:
    """The cloud assembly ``cdk.json``'s ``app`` names when it is a directory (the CLI deploys it
    without a synth), else None."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        app = json.loads((app_dir / "cdk.json").read_text(encoding="utf-8")).get("app")
        if isinstance(app, str) and (app_dir / app).is_dir():
            return (app_dir / app).resolve()
    return None


def _placeholders(text: str) -> str:
    for name, value in (("${AWS::AccountId}", ACCOUNT_ID), ("${AWS::Region}", REGION)):
        text = text.replace(name, value)
    return text


def deployable_copy(assembly: Path, target: Path, state_dir: Path) -> list[ImageAsset]:
    """Write ``target``: ``assembly`` without Docker image assets in its asset manifests (other
    entries linked, not copied); record every image's source for the emulator; return them."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    found: list[ImageAsset] = []
    for entry in sorted(assembly.iterdir()):
        if entry.name.endswith(".assets.json"):
            manifest = json.loads(entry.read_text(encoding="utf-8"))
            for asset_hash, asset in (manifest.pop("dockerImages", None) or {}).items():
                found.extend(_sources(assembly, state_dir, asset_hash, asset))
            (target / entry.name).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        else:
            (target / entry.name).symlink_to(entry.resolve())
    _remember(state_dir, found)
    return found


def _sources(
    assembly: Path, state_dir: Path, asset_hash: str, asset: dict[str, object]
) -> list[ImageAsset]:
    source = asset.get("source")
    if not isinstance(source, dict) or "directory" not in source:
        return []  # an image built by an executable: nothing here to run
    context = state_dir / IMAGES_DIR / asset_hash
    if not context.exists():
        shutil.copytree(assembly / str(source["directory"]), context, symlinks=True)
    destinations = asset.get("destinations")
    assets = []
    for destination in destinations.values() if isinstance(destinations, dict) else []:
        image = _placeholders(f"{destination['repositoryName']}:{destination['imageTag']}")
        assets.append(
            ImageAsset(
                image=image,
                directory=str(context.resolve()),
                build_args={
                    str(k): str(v) for k, v in (source.get("dockerBuildArgs") or {}).items()
                },
                dockerfile=str(source.get("dockerFile") or "Dockerfile"),
            )
        )
    return assets


def _remember(state_dir: Path, assets: list[ImageAsset]) -> None:
    """Add to ``images.json`` (earlier images stay: a rollout still runs the old revision)."""
    path = state_dir / IMAGES_FILE
    known = load(state_dir)
    known.update({a.image: a for a in assets})
    path.write_text(json.dumps([asdict(a) for a in known.values()], indent=1), encoding="utf-8")


def load(state_dir: Path) -> dict[str, ImageAsset]:
    """Every image recorded for this state directory, by ``REPOSITORY:TAG``."""
    path = state_dir / IMAGES_FILE
    if not path.is_file():
        return {}
    return {item["image"]: ImageAsset(**item) for item in json.loads(path.read_text("utf-8"))}


def find(state_dir: Path, image: str) -> ImageAsset | None:
    """The recorded source of a task definition's image (``HOST/REPOSITORY:TAG``), if any."""
    return load(state_dir).get(image.split("/", 1)[-1])
