"""The compatibility layer's structure (``emulator/compat/``), held without starting an emulator:

- its modules, and the emulator's others around it (the runtime, the driver), import one another
  one way: no circle, counting the imports made inside functions (a lazy import hides a circle
  from Python, not from a reader);
- every CloudFormation model it defines derives from the one base, ``model_base.EmulatedModel``,
  the only place that writes moto's model interface; moto's own models are changed only through
  ``model_base.patch_model``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Iterator, Mapping
from pathlib import Path

from moto.core.common_models import CloudFormationModel

from emulator.compat import cfn_models, model_base, operations

REPO = Path(__file__).resolve().parents[2]
EMULATOR = REPO / "emulator"
COMPAT = EMULATOR / "compat"

MOTO_INTERFACE = {
    "cloudformation_name_type",
    "cloudformation_type",
    "create_from_cloudformation_json",
    "update_from_cloudformation_json",
    "delete_from_cloudformation_json",
    "physical_resource_id",
    "has_cfn_attr",
    "get_cfn_attribute",
}
"""What moto's engine calls on a model: written once, in ``model_base``."""


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def compat_modules() -> dict[str, Path]:
    """Module name -> file, for every module of the layer (subpackages included)."""
    found = {module_name(path): path for path in sorted(COMPAT.rglob("*.py"))}
    assert len(found) > 10, f"no modules found under {COMPAT}"
    return found


def imported(source: str, name: str, is_package: bool, known: set[str]) -> set[str]:
    """The modules of ``known`` that a module's source imports, anywhere in it (inside functions
    too); ``from package import module`` names the module, relative imports are resolved."""
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            targets = [
                f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:  # import a.b.c of a known a.b
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(root: Path = COMPAT) -> dict[str, set[str]]:
    """Module -> the modules under ``root`` it imports."""
    modules = {module_name(path): path for path in sorted(root.rglob("*.py"))}
    assert len(modules) > 10, f"no modules found under {root}"
    known = set(modules)
    return {
        name: imported(path.read_text(encoding="utf-8"), name, path.name == "__init__.py", known)
        for name, path in modules.items()
    }


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One import circle (``[a, b, a]``), or None: a depth-first search for a back edge."""
    state: dict[str, str] = {}
    trail: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        trail.append(node)
        for needed in sorted(graph.get(node, ())):
            if state.get(needed) == "open":
                return [*trail[trail.index(needed):], needed]
            if needed not in state:
                cycle = visit(needed)
                if cycle:
                    return cycle
        state[node] = "done"
        trail.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def model_classes() -> Iterator[type[CloudFormationModel]]:
    """Every CloudFormation model class defined in the layer's modules."""
    for name in compat_modules():
        module = importlib.import_module(name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if value.__module__ == name and issubclass(value, CloudFormationModel):
                yield value


# ---------------------------------------------------------------- the checks hold


def test_a_circle_is_found_even_through_a_lazy_import() -> None:
    known = {"pkg.a", "pkg.b", "pkg.c"}
    lazy = "from pkg import c\n\ndef f():\n    from pkg.a import thing\n"
    graph = {
        "pkg.a": imported("from pkg import b\n", "pkg.a", False, known),
        "pkg.b": imported(lazy, "pkg.b", False, known),
        "pkg.c": imported("import os\n", "pkg.c", False, known),
    }
    assert graph == {"pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a", "pkg.c"}, "pkg.c": set()}
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.a"]
    assert find_cycle({**graph, "pkg.b": {"pkg.c"}}) is None


def test_relative_imports_and_packages_resolve() -> None:
    known = {"pkg", "pkg.engine", "pkg.engine.parts", "pkg.util"}
    source = "from . import parts\nfrom ..util import helper\nimport pkg.engine.parts.x\n"
    assert imported(source, "pkg.engine", True, known) == {"pkg.engine.parts", "pkg.util"}


# ---------------------------------------------------------------- the layer


def test_the_emulators_modules_import_one_way() -> None:
    graph = import_graph(EMULATOR)
    assert "emulator.compat.model_base" in graph["emulator.compat.operations"]
    # what the CloudFormation side and the scheduler both change sits below both of them
    assert "emulator.compat.ecs_state" in graph["emulator.runtime.scheduler"]
    assert "emulator.compat.ecs_state" in graph["emulator.compat.ecs"]
    cycle = find_cycle(graph)
    assert cycle is None, "import circle in emulator/: " + " -> ".join(cycle or [])


def test_every_model_derives_from_the_base() -> None:
    models = list(model_classes())
    assert len(models) > 10, models
    strays = [m.__qualname__ for m in models if not issubclass(m, model_base.EmulatedModel)]
    assert not strays, f"models not on model_base.EmulatedModel: {strays}"


def test_every_model_with_a_type_is_registered() -> None:
    typed = {m for m in model_classes() if getattr(m, "cfn_type", "")}
    registered = {*cfn_models.NEW_MODELS, *operations.MODELS}
    assert typed == registered, {
        "not registered": sorted(m.__qualname__ for m in typed - registered),
        "registered without a type": sorted(m.__qualname__ for m in registered - typed),
    }


def test_moto_interface_is_written_once() -> None:
    """No model repeats what the base implements, and no module but ``model_base`` assigns it to
    one of moto's models (that is ``patch_model``'s job)."""
    repeated = {
        m.__qualname__: sorted(MOTO_INTERFACE & set(vars(m)))
        for m in model_classes()
        if m is not model_base.EmulatedModel and MOTO_INTERFACE & set(vars(m))
    }
    assert not repeated, repeated
    assigned = []
    for name, path in compat_modules().items():
        if name == "emulator.compat.model_base":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = node.targets if isinstance(node, ast.Assign) else []
            assigned += [
                f"{path.relative_to(REPO)}:{node.lineno} .{t.attr}"
                for t in targets
                if isinstance(t, ast.Attribute) and t.attr in MOTO_INTERFACE
            ]
    assert not assigned, f"use model_base.patch_model: {assigned}"
