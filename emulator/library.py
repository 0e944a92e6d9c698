"""The construct library's pure modules (the capacity model, the provisioner Lambda's code), loaded
from their files without importing the library's package.

The package (``ecs_playground/__init__.py``) imports every construct, so aws_cdk: ~4 s of CPU and a
jsii kernel (a Node process) in each emulator started, for modules that import no CDK at all. A
module already imported through the package (in a test process) is used as it is.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

PACKAGE = "ecs_playground"


def module(relative: str) -> ModuleType:
    """``ecs_playground.<relative>`` (dotted), loaded from its file as a module of its own."""
    canonical = f"{PACKAGE}.{relative}"
    if canonical in sys.modules:
        return sys.modules[canonical]
    standalone = f"_{PACKAGE}_{relative.replace('.', '_')}"
    if standalone in sys.modules:
        return sys.modules[standalone]
    package = importlib.util.find_spec(PACKAGE)  # finds it without running its __init__
    assert package is not None and package.submodule_search_locations is not None, PACKAGE
    root = Path(next(iter(package.submodule_search_locations)))
    spec = importlib.util.spec_from_file_location(
        standalone, root.joinpath(*relative.split(".")).with_suffix(".py"))
    assert spec is not None and spec.loader is not None, relative
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[standalone] = loaded  # its dataclasses look their module up while being built
    try:
        spec.loader.exec_module(loaded)
    except BaseException:
        del sys.modules[standalone]
        raise
    return loaded
