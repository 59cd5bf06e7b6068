"""``from_pretrained``: the format of a local model folder, laid out as the Hugging Face Hub lays it out.

The folder's chat template is read where transformers reads it (``chat_template.jinja`` and
``additional_chat_templates/*.jinja`` first, then ``tokenizer_config.json``'s ``chat_template``, a
string or a list of named templates, then a processor's ``chat_template.json``), and served by the
built-in format it identifies as. Nothing is guessed and nothing is fetched: a template that is not a
built-in's is an error that says so.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional, Tuple

from .errors import UnknownFormatError


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise UnknownFormatError("for the model folder of", path, detail=f"cannot read it: {error}") from None


def _read_text(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _token(value: Any) -> Optional[str]:
    """A special token as tokenizer_config.json writes it: a string, or an AddedToken object."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def templates(folder: str) -> Tuple[Dict[str, str], Dict[str, Any]]:
    """The folder's named chat templates (``"default"`` first) and its tokenizer config."""
    config = _read_json(os.path.join(folder, "tokenizer_config.json")) or {}
    found: Dict[str, str] = {}
    default = _read_text(os.path.join(folder, "chat_template.jinja"))
    if default is not None:
        found["default"] = default
    extra = os.path.join(folder, "additional_chat_templates")
    if os.path.isdir(extra):
        for entry in sorted(os.listdir(extra)):
            if entry.endswith(".jinja"):
                text = _read_text(os.path.join(extra, entry))
                if text is not None:
                    found[entry[:-len(".jinja")]] = text
    if not found:
        value = config.get("chat_template")
        if isinstance(value, str):
            found["default"] = value
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(
                        item.get("template"), str):
                    found[item["name"]] = item["template"]
    if not found:
        processor = _read_json(os.path.join(folder, "chat_template.json"))
        if isinstance(processor, dict) and isinstance(processor.get("chat_template"), str):
            found["default"] = processor["chat_template"]
    return found, config


def special_tokens(folder: str, config: Dict[str, Any]) -> Dict[str, Optional[str]]:
    """``bos_token`` and ``eos_token`` from the tokenizer config, else from special_tokens_map.json."""
    tokens = {name: _token(config.get(name)) for name in ("bos_token", "eos_token")}
    if None in tokens.values():
        mapping = _read_json(os.path.join(folder, "special_tokens_map.json")) or {}
        for name, value in tokens.items():
            if value is None:
                tokens[name] = _token(mapping.get(name))
    return tokens


def from_pretrained(folder: Any, *, allow_import: bool = False) -> Any:
    """The built-in format of the model in ``folder``; its ``origin`` says how it was found."""
    from ._format import Format
    from ._identify import identify

    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise UnknownFormatError("for", folder, detail="not a model folder (a directory with tokenizer_config.json)")
    named, config = templates(folder)
    template = named.get("default")
    if template is None:
        where = ", ".join(sorted(named)) or "none"
        raise UnknownFormatError("for the model folder", folder,
                                 detail=f"it has no default chat template (named templates found: {where})")
    tokens = special_tokens(folder, config)
    found = identify(template, bos_token=tokens["bos_token"], eos_token=tokens["eos_token"])
    if found is None and allow_import:
        from ._interop.probe import import_template

        if set(named) - {"default"}:
            raise UnknownFormatError("for the model folder", folder, detail=(
                f"it has named templates ({', '.join(sorted(named))}) besides its default, and an import "
                "reads one template: import each with `promptcraft import` and choose"))
        name = os.path.basename(os.path.abspath(folder)).lower()
        name = "".join(c if c.isalnum() or c in "._-" else "-" for c in name).strip("-._") or "imported"
        imported = import_template(template, bos_token=tokens["bos_token"], eos_token=tokens["eos_token"],
                                   name=name)
        return Format.with_origin(imported, f"{imported.origin}, from the model folder {folder}")
    if found is None:
        raise UnknownFormatError("for the model folder", folder, detail=(
            "its chat template is not the official template of a built-in format (or its special tokens "
            "differ), and promptcraft does not guess: declare a format for it and check it with "
            "`promptcraft verify FORMAT --template FILE`"))
    others = sorted(set(named) - {"default"})
    if found.spec.tool_use is not None:
        # The format hands every render given tools to its tool_use format, as transformers hands it to
        # the folder's tool_use template: served only when that template is the format's.
        served = identify(named["tool_use"], bos_token=tokens["bos_token"], eos_token=tokens["eos_token"]) \
            if "tool_use" in named else None
        if served is None or served.name != found.spec.tool_use:
            raise UnknownFormatError("for the model folder", folder, detail=(
                f"{found.name!r} renders with {found.spec.tool_use!r} when tools are given, and this folder's "
                "tool_use chat template is not that one's (or there is none): promptcraft does not guess"))
        others.remove("tool_use")
    elif "tool_use" in named and found.spec.tools is not None and found.spec.tools.placement != "none":
        # transformers renders with the tool_use template when tools are given; this format would
        # write them its own way. Served only when that template is the format's own too.
        if identify(named["tool_use"], bos_token=tokens["bos_token"], eos_token=tokens["eos_token"]) is not found:
            raise UnknownFormatError("for the model folder", folder, detail=(
                f"its tool_use chat template is not {found.name!r}'s, which would write tools its own way: "
                "promptcraft does not guess"))
    origin = f"identified: the default chat template of {folder} is the official template of {found.name!r}"
    if others:
        # The built-in format refuses what it does not write (tool definitions among them), so a
        # render that transformers would give to a named template is refused, never rendered wrong.
        origin += f" (named templates not served: {', '.join(others)})"
    return Format.with_origin(found, origin)
