"""Build hook: the precompiled renderers of the built-in formats are build output.

Runs for the wheel and for the editable install (``pip install -e .``): it
writes ``promptcraft/_precompiled/`` with ``tools/precompile.py``, from the
format files and the code generator of this very tree, and has hatch include
those git-ignored files in the wheel.
"""

from __future__ import annotations

import importlib.util
import os
import sys

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class PrecompileHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel":
            return
        root = self.root
        if root not in sys.path:
            sys.path.insert(0, root)
        where = os.path.join(root, "tools", "precompile.py")
        spec = importlib.util.spec_from_file_location("_promptcraft_precompile", where)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        written = module.write()
        build_data.setdefault("artifacts", []).extend(path.replace(os.sep, "/") for path in written)
