"""`import promptcraft` stays light: no parser, no CLI machinery, no template engine."""

from __future__ import annotations

import json
import subprocess
import sys


def modules_after(code: str) -> set:
    out = subprocess.run([sys.executable, "-c", code + "; import sys, json; print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_import_loads_no_parsers():
    """After `import promptcraft`, none of jinja2, tomllib, argparse, difflib, transformers is loaded."""
    loaded = modules_after("import promptcraft")
    for heavy in ("jinja2", "tomllib", "tomli", "argparse", "difflib", "transformers", "promptcraft.cli"):
        assert heavy not in loaded, heavy


def test_rendering_loads_no_cli_or_jinja():
    """Rendering with a built-in format needs neither argparse nor jinja2."""
    loaded = modules_after("import promptcraft; "
                           "promptcraft.get_format('smollm2').render([{'role': 'user', 'content': 'x'}])")
    assert "jinja2" not in loaded and "argparse" not in loaded and "promptcraft.cli" not in loaded


def test_builtin_render_loads_no_model_or_parser():
    """A built-in format renders from its precompiled module: no attrs, TOML parser or codegen."""
    loaded = modules_after("import promptcraft; promptcraft.for_model('meta-llama/Llama-3.2-3B-Instruct')"
                           ".render([{'role': 'user', 'content': 'x'}], add_generation_prompt=True)")
    for heavy in ("attrs", "attr", "tomllib", "tomli", "promptcraft._engine.pygen", "promptcraft._spec.model",
                  "promptcraft._engine.reference", "typing", "regex"):
        assert heavy not in loaded, heavy
