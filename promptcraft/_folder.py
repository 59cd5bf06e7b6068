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
from typing import Any, Dict, List, Optional, Tuple

from .errors import TemplateImportError, UnknownFormatError


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


def stop_strings(folder: str, config: Dict[str, Any]) -> Tuple[List[str], List[int]]:
    """The strings of ``generation_config.json``'s end-of-sequence ids, through the tokenizer files'
    added tokens (``tokenizer_config.json``'s ``added_tokens_decoder``, ``tokenizer.json``'s
    ``added_tokens``), and the ids no file names."""
    generation = _read_json(os.path.join(folder, "generation_config.json")) or {}
    ids = generation.get("eos_token_id") if isinstance(generation, dict) else None
    ids = [ids] if isinstance(ids, int) else [i for i in ids or () if isinstance(i, int)] \
        if isinstance(ids, list) else []
    if not ids:
        return [], []
    names: Dict[int, str] = {}
    decoder = config.get("added_tokens_decoder")
    if isinstance(decoder, dict):
        for key, value in decoder.items():
            if isinstance(value, dict) and isinstance(value.get("content"), str) and str(key).isdigit():
                names[int(key)] = value["content"]
    tokenizer = _read_json(os.path.join(folder, "tokenizer.json")) if not all(i in names for i in ids) else None
    for token in (tokenizer or {}).get("added_tokens", ()) if isinstance(tokenizer, dict) else ():
        if isinstance(token, dict) and isinstance(token.get("id"), int) and isinstance(token.get("content"), str):
            names.setdefault(token["id"], token["content"])
    return [names[i] for i in ids if i in names], [i for i in ids if i not in names]


def _with_folder_stops(fmt: Any, folder: str, config: Dict[str, Any], origin: str) -> Any:
    """``fmt`` with ``origin``, and the folder's end-of-sequence strings added to its ``stop``."""
    from ._format import Format

    found, unknown = stop_strings(folder, config)
    added = [text for text in found if text not in fmt.stop]
    if added:
        origin += f"; stop strings from generation_config.json: {', '.join(map(repr, added))}"
    if unknown:
        origin += f"; generation_config.json's end ids {unknown} are in no tokenizer file here"
    result = Format.with_origin(fmt, origin)
    result.stop = tuple(fmt.stop) + tuple(added)
    return result


def from_pretrained(folder: Any, *, allow_import: bool = True) -> Any:
    """The format of the model in ``folder``: the built-in format its template identifies as, else
    (``allow_import``) the template imported; its ``origin`` says which, and its ``stop`` adds the
    folder's end-of-sequence tokens."""
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
        try:
            imported = import_template(template, bos_token=tokens["bos_token"], eos_token=tokens["eos_token"],
                                       name=name)
        except TemplateImportError as error:
            raise UnknownFormatError("for the model folder", folder, detail=(
                f"its chat template is not a built-in format's, and it does not import: {error.reason} "
                "(`promptcraft import` with --partial writes the draft); promptcraft does not guess")) from error
        return _with_folder_stops(imported, folder, config, f"{imported.origin}, from the model folder {folder}")
    if found is None:
        raise UnknownFormatError("for the model folder", folder, detail=(
            "its chat template is not the official template of a built-in format (or its special tokens "
            "differ), and promptcraft does not guess: declare a format for it and check it with "
            "`promptcraft verify FORMAT --template FILE`, or import it (allow_import=True)"))
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
    return _with_folder_stops(found, folder, config, origin)
