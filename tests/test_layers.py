"""The package's layers import one way, and the import graph has no circle.

Every import of a promptcraft module is counted, at module level or inside a
function, since a function-level import that points the wrong way is the same
dependency, only later.
"""

from __future__ import annotations

import ast
import pathlib

import promptcraft

PACKAGE = pathlib.Path(promptcraft.__file__).parent

#: What each layer may import from promptcraft (besides itself).
ALLOWED = {
    "errors": set(),
    "_version": set(),
    "_runtime": {"errors"},
    "_format": {"_runtime", "_types", "_interop"},  # _interop: to_jinja, imported when called
    "_spec": {"errors"},
    "_engine": {"errors", "_spec", "_runtime"},
    "_load": {"errors", "_format", "_spec", "_engine", "_runtime", "_parse"},
    "_parse": {"errors", "_spec", "_engine", "_runtime"},
    "_registry": {"errors", "_format", "_load", "_precompiled"},  # _precompiled: build output
    # _engine: export reads the IR; _load, _registry, _spec: import writes and checks formats
    "_interop": {"errors", "_format", "_runtime", "_engine", "_load", "_registry", "_spec"},
    "_identify": {"_registry"},
    "_folder": {"errors", "_format", "_identify", "_interop"},
    "_tokens": set(),
    "_types": set(),
    "_dropin": {"errors", "_format", "_load", "_registry", "_folder", "_identify", "_tokens"},
    "__init__": {"errors", "_version", "_format", "_load", "_registry", "_runtime", "_folder", "_identify", "_dropin",
                 "_types", "_parse", "_interop"},
    "cli": {"errors", "__init__", "_registry", "_interop", "_version", "_folder", "_identify"},
    "__main__": {"cli"},
}


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(p for p in parts if p != "__init__") or "__init__"


def names_defined(path: pathlib.Path):
    """Functions, classes and assigned names at the top of a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def imports(path: pathlib.Path):
    """The promptcraft modules ``path`` imports, as dotted names relative to the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module_name(path).split(".") if module_name(path) != "__init__" else []
    package = here if path.name == "__init__.py" else here[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:  # from . import x: a name the package defines, or a module
                    for alias in node.names:
                        defined = alias.name in names_defined(PACKAGE.joinpath(*base, "__init__.py"))
                        found.add((".".join(base) or "__init__") if defined else ".".join(base + [alias.name]))
                    continue
            elif node.module and node.module.startswith("promptcraft"):
                target = node.module[len("promptcraft."):] if node.module != "promptcraft" else "__init__"
            else:
                continue
            found.add(target or "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("promptcraft."):
                    found.add(alias.name[len("promptcraft."):])
    return found


def graph():
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        if "_precompiled" in path.parts:
            continue
        modules[module_name(path)] = imports(path)
    return modules


def layer(name: str) -> str:
    return name.split(".")[0]


def test_layers_import_one_way():
    """Each module imports only from the layers below its own (see ALLOWED)."""
    for module, targets in graph().items():
        for target in targets:
            if layer(target) == layer(module):
                continue
            assert layer(target) in ALLOWED[layer(module)], f"{module} imports {target}"


def test_no_import_circle():
    """No module reaches itself through imports (the old api <-> format <-> registry circle)."""
    modules = graph()
    known = set(modules)

    def resolve(target):
        while target not in known and "." in target:
            target = target.rsplit(".", 1)[0]
        return target if target in known else None

    edges = {m: {resolve(t) for t in targets} - {None, m} for m, targets in modules.items()}
    state = {}

    def visit(node, path):
        if state.get(node) == "done":
            return
        assert state.get(node) != "active", "import circle: " + " -> ".join(path + [node])
        state[node] = "active"
        for nxt in sorted(edges[node]):
            visit(nxt, path + [node])
        state[node] = "done"

    for module in sorted(edges):
        visit(module, [])


def test_runtime_needs_no_attrs_or_spec():
    """What generated code calls imports neither attrs nor the spec model nor the reference interpreter."""
    for path in (PACKAGE / "_runtime").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] not in ("attrs", "attr") for a in node.names), path.name
            elif isinstance(node, ast.ImportFrom) and not node.level:
                assert (node.module or "").split(".")[0] not in ("attrs", "attr"), path.name
        assert not {layer(t) for t in imports(path)} & {"_spec", "_engine"}, path.name


def test_public_namespace():
    """dir(promptcraft) is the public API and nothing else."""
    assert dir(promptcraft) == sorted(promptcraft.__all__)
    for name in promptcraft.__all__:
        assert getattr(promptcraft, name) is not None
