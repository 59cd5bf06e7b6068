"""Precompiled renderers of the built-in formats: build output, written into ``promptcraft/_precompiled``.

A built-in format's renderer is the code ``pygen`` writes for it; writing and
compiling it at first use costs the TOML parser, attrs and the code generator
(tens of milliseconds of imports). A wheel and an editable install therefore
carry that code as ordinary modules, which Python caches as bytecode. They are
written by the build hook (``hatch_build.py``) and are not kept in git. Each
records a checksum of the TOML text it came from, and the index a fingerprint
of the code generator: when either no longer matches (an edited checkout), the
registry compiles the file instead, so a stale module is never run.

    python tools/precompile.py      # rewrite promptcraft/_precompiled/ by hand

A build tool, not part of the package: promptcraft itself never imports it.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = ('"""Precompiled renderer of the built-in format {name!r}: build output of tools/precompile.py.\n\n'
          'Do not edit. promptcraft checks CHECKSUM against the TOML file before using it.\n"""\n')


def module_name(format_name: str) -> str:
    return "f_" + "".join(c if c.isalnum() else "_" for c in format_name)


def module_source(fmt, data: bytes) -> str:
    """The text of the precompiled module of the built-in ``fmt`` (from file bytes ``data``)."""
    from promptcraft._registry import checksum

    spec = fmt.spec
    lines = [
        HEADER.format(name=spec.name),
        f"NAME = {spec.name!r}",
        f"CHECKSUM = {checksum(data)!r}",
        f"MODELS = {tuple(spec.models)!r}",
        f"STOP = {tuple(spec.stop)!r}",
        f"VARIABLES = {fmt.variables!r}",
        f"CONTROL_TOKENS = {tuple(spec.control_tokens)!r}",
        "",
        "",
    ]
    # render and render_many ship; render_spans is compiled when first used.
    return "\n".join(lines) + fmt._built.source("render") + "\n\n" + fmt._built.source("render_many")


def index_source(entries: "Dict[str, tuple]", models: "Dict[str, str]", templates: "Dict[str, str]") -> str:
    from promptcraft._registry import engine_fingerprint

    lines = ['"""Index of the precompiled built-in formats: build output of tools/precompile.py."""', "",
             "# the code generator these modules came from (see _registry.engine_fingerprint)",
             f"ENGINE = {engine_fingerprint()!r}", "",
             "# format name -> (module, checksum of its TOML file)", "FORMATS = {"]
    lines += [f"    {name!r}: {entry!r}," for name, entry in sorted(entries.items())]
    lines += ["}", "", "# model id -> format name", "MODELS = {"]
    lines += [f"    {model!r}: {name!r}," for model, name in sorted(models.items())]
    lines += ["}", "", "# template fingerprint -> format name (see promptcraft.identify)", "TEMPLATES = {"]
    lines += [f"    {fingerprint!r}: {name!r}," for fingerprint, name in sorted(templates.items())]
    lines += ["}", ""]
    return "\n".join(lines)


def expected_files() -> "Dict[str, str]":
    """Every file of ``promptcraft/_precompiled`` as the code generator writes it now."""
    from promptcraft._load import loads_format
    from promptcraft._registry import checksum, formats_dir, get_format, names

    files: "Dict[str, str]" = {}
    entries: "Dict[str, tuple]" = {}
    models: "Dict[str, str]" = {}
    templates: "Dict[str, str]" = {}
    for name in names():
        path = os.path.join(formats_dir(), name + ".toml")
        with open(path, "rb") as handle:
            data = handle.read()
        fmt = loads_format(data.decode("utf-8"), path=path, resolve=get_format)
        module = module_name(name)
        if module in {m for m, _ in entries.values()}:
            raise SystemExit(f"two formats map to module {module}")
        files[module + ".py"] = module_source(fmt, data)
        entries[name] = (module, checksum(data))
        for model in fmt.models:
            models[model] = name
        for fingerprint in fmt.spec.templates:
            if fingerprint in templates:
                raise SystemExit(f"{name} and {templates[fingerprint]} both declare template {fingerprint}")
            templates[fingerprint] = name
    files["__init__.py"] = index_source(entries, models, templates)
    return files


def target_dir() -> str:
    return os.path.join(ROOT, "promptcraft", "_precompiled")


def write() -> "list":
    """Write the modules; returns their paths relative to the project root."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    target = target_dir()
    os.makedirs(target, exist_ok=True)
    files = expected_files()
    for stale in set(os.listdir(target)) - set(files):
        if stale.endswith(".py"):
            os.remove(os.path.join(target, stale))
    for filename, text in files.items():
        with open(os.path.join(target, filename), "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
    return [os.path.join("promptcraft", "_precompiled", filename) for filename in sorted(files)]


def main() -> None:
    written = write()
    print(f"wrote {len(written) - 1} precompiled formats to {target_dir()}")


if __name__ == "__main__":
    main()
