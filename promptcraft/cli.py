"""The ``promptcraft`` command line (argparse only, imported only here)."""

from __future__ import annotations

import json
import sys
from typing import Any, Dict, List, NoReturn, Optional, Sequence, Tuple

from .errors import PromptcraftError

USAGE_ERROR = 2
DATA_ERROR = 1


class _UsageError(Exception):
    pass


class _LineError(Exception):
    """A bad line of a JSON Lines input (exit status 1, as bad data)."""


def _parser():
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:  # raise instead of exiting, so main() reports it
            raise _UsageError(f"{self.prog}: {message}")

    from ._version import __version__

    parser = Parser(prog="promptcraft", description="Chat formats declared as data, rendered byte-exact.")
    parser.add_argument("--version", action="version", version=f"promptcraft {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    listing = sub.add_parser("list", help="built-in formats and the models they serve")
    listing.add_argument("--json", action="store_true", help="one JSON object: format name -> model ids")

    identify = sub.add_parser("identify", help="which built-in format a chat template is, and its fingerprint")
    identify.add_argument("template", metavar="FILE",
                          help="a .jinja file, a tokenizer_config.json, a chat_template.json or a model folder")

    imports = sub.add_parser("import", help="read a Jinja chat template into a verified format (TOML)")
    imports.add_argument("template", metavar="FILE",
                         help="a .jinja file, a tokenizer_config.json, a chat_template.json or a model folder")
    imports.add_argument("--template-name", metavar="NAME", default="default",
                         help="which named template (default: 'default')")
    imports.add_argument("--bos", help="the BOS token (for a .jinja file, or to override)")
    imports.add_argument("--eos", help="the EOS token (for a .jinja file, or to override)")
    imports.add_argument("--name", help="the format's name (default: from the file name)")
    imports.add_argument("--output", "-o", metavar="FORMAT.toml", help="write the format there (default: stdout)")
    imports.add_argument("--cases", type=int, default=300, metavar="N",
                         help="generated conversations the format is checked on (default 300)")
    imports.add_argument("--no-builtins", action="store_true",
                         help="read the format off the probes only, never adapt a built-in format")
    imports.add_argument("--partial", action="store_true",
                         help="when the import fails, still write the best draft, with the failing cases as comments")

    show = sub.add_parser("show", help="print a format's declaration (its TOML)")
    show.add_argument("format", metavar="NAME|PATH")

    source = sub.add_parser("source", help="print the generated Python renderer of a format")
    source.add_argument("format", metavar="NAME|PATH")

    render = sub.add_parser("render", help="render a conversation (JSON) into a prompt")
    which = render.add_mutually_exclusive_group(required=True)
    which.add_argument("--format", "-f", metavar="NAME|PATH", help="a built-in format name or a TOML file")
    which.add_argument("--model", "-m", metavar="ID|FOLDER",
                       help="a Hugging Face model id served by a built-in format, or a local model folder")
    render.add_argument("--no-import", action="store_true",
                        help="with --model FOLDER: refuse a template that is not a built-in's instead of importing it")
    render.add_argument("--add-generation-prompt", "-g", action="store_true", help="open an assistant turn at the end")
    render.add_argument("--continue-final-message", "-c", action="store_true", help="leave the final message open")
    render.add_argument("--continue-field", metavar="FIELD",
                        help="leave this field of the final message open, e.g. reasoning_content (implies -c)")
    render.add_argument("--var", action="append", default=[], metavar="KEY=VALUE",
                        help="a format variable, e.g. date_string='26 Jul 2024' or enable_thinking=false")
    render.add_argument("--tools", metavar="FILE", help="JSON: a list of tool definitions")
    render.add_argument("--documents", metavar="FILE", help="JSON: a list of documents (mappings)")
    render.add_argument("--jsonl", action="store_true",
                        help="JSON Lines in (a conversation per line: a list of messages, or an object with "
                             "'messages' and optionally 'tools' and 'documents'), JSON Lines out "
                             "({\"prompt\": ...} per line)")
    render.add_argument("--errors", choices=("stop", "collect"), default="stop",
                        help="with --jsonl: stop at the first bad line (default), or write {\"error\": ...} "
                             "for it and go on")
    render.add_argument("--progress", action="store_true",
                        help="with --jsonl: show lines done and their rate on stderr, once a second")
    render.add_argument("--control-tokens", choices=("keep", "reject", "escape"), default="keep",
                        help="what to do with the format's control tokens inside content (default: keep)")
    render.add_argument("file", nargs="?", default="-", metavar="FILE|-",
                        help="JSON: a list of messages, or an object with a 'messages' key (default: stdin)")

    parse = sub.add_parser("parse-output", help="read a model's completion back into the assistant message (JSON)")
    which = parse.add_mutually_exclusive_group(required=True)
    which.add_argument("--format", "-f", metavar="NAME|PATH", help="a built-in format name or a TOML file")
    which.add_argument("--model", "-m", metavar="ID|FOLDER",
                       help="a Hugging Face model id served by a built-in format, or a local model folder")
    parse.add_argument("--no-import", action="store_true",
                        help="with --model FOLDER: refuse a template that is not a built-in's instead of importing it")
    parse.add_argument("--prompt", "-p", metavar="FILE",
                       help="the rendered prompt the completion follows (text; default: the format's generation "
                            "prompt with default variables)")
    parse.add_argument("--tools", metavar="FILE", help="JSON: the tool definitions given with the prompt")
    parse.add_argument("file", nargs="?", default="-", metavar="FILE|-",
                       help="the completion, as text (default: stdin)")

    template = sub.add_parser("response-template",
                              help="print a format's output syntax as transformers' response_template (JSON)")
    template.add_argument("format", metavar="NAME|PATH")
    template.add_argument("--tools", action="store_true", help="the template for requests with tools")

    prompt_parse = sub.add_parser("parse", help="read a rendered prompt back into its messages (JSON)")
    which = prompt_parse.add_mutually_exclusive_group(required=True)
    which.add_argument("--format", "-f", metavar="NAME|PATH", help="a built-in format name or a TOML file")
    which.add_argument("--model", "-m", metavar="ID|FOLDER",
                       help="a Hugging Face model id served by a built-in format, or a local model folder")
    prompt_parse.add_argument("--no-import", action="store_true",
                        help="with --model FOLDER: refuse a template that is not a built-in's instead of importing it")
    prompt_parse.add_argument("file", nargs="?", default="-", metavar="FILE|-",
                              help="the prompt, as text exactly as rendered (default: stdin)")

    lint = sub.add_parser("lint", help="the texts a format's values must not hold for parse to read them back")
    lint.add_argument("format", metavar="NAME|PATH")
    lint.add_argument("--json", action="store_true", help="one JSON object: value -> how -> texts")

    verify = sub.add_parser("verify", help="compare a format with a Jinja chat template on generated conversations")
    verify.add_argument("format", metavar="NAME|PATH")
    verify.add_argument("--template", "-t", required=True, metavar="FILE",
                        help="a corpus JSON file, a tokenizer_config.json, or a .jinja file")
    verify.add_argument("--template-name", metavar="NAME", help="which named template of a tokenizer_config.json")
    verify.add_argument("--bos", help="the BOS token (for a .jinja file, or to override)")
    verify.add_argument("--eos", help="the EOS token (for a .jinja file, or to override)")
    verify.add_argument("--cases", type=int, default=300, metavar="N", help="generated conversations (default 300)")
    verify.add_argument("--seed", type=int, default=0)
    verify.add_argument("--conversations", metavar="FILE",
                        help="JSON cases instead: [{messages, add_generation_prompt, continue_final_message}]")
    verify.add_argument("--var", action="append", default=[], metavar="KEY=VALUE",
                        help="a variable given to both the template and the format")
    export = sub.add_parser("export", help="write a format as a Jinja chat template (transformers renders it the same)")
    export.add_argument("format", metavar="NAME|PATH")
    export.add_argument("--output", "-o", metavar="FILE", help="write the template here (default: print it)")
    export.add_argument("--json", action="store_true",
                        help='a {"chat_template": ...} object, as tokenizer_config.json holds it (for a format '
                             'naming a tool_use format, the list of both named templates)')
    return parser


def _format(name: str):
    from . import _resolve_format as resolve_format

    return resolve_format(name)


def _read_messages(path: str) -> Any:
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as error:
        raise _UsageError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        data = json.loads(text)
    except ValueError as error:
        raise _UsageError(f"{'stdin' if path == '-' else path} is not valid JSON: {error}") from None
    if isinstance(data, dict):
        if "messages" not in data:
            raise _UsageError("a JSON object must have a 'messages' key")
        data = data["messages"]
    return data


def _variables(pairs: Sequence[str], fmt: Any = None) -> dict:
    """``--var`` values: strings, except for the format's switches, which take true or false, and its
    mapping variables, which take a JSON object."""
    switches = {v.name for v in fmt.spec.variables if v.is_switch} if fmt is not None and pairs else set()
    mappings = {v.name for v in fmt.spec.variables if v.is_mapping} if fmt is not None and pairs else set()
    values: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise _UsageError(f"--var takes KEY=VALUE, got {pair!r}")
        if key in switches:
            if value.lower() not in ("true", "false"):
                raise _UsageError(f"--var {key} is a switch: give true or false, got {value!r}")
            values[key] = value.lower() == "true"
        elif key in mappings:
            try:
                values[key] = json.loads(value)
            except ValueError:
                raise _UsageError(f"--var {key} takes a JSON object, e.g. '{{\"citations\": true}}'") from None
        else:
            values[key] = value
    return values


def _read_text(path: str, what: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as error:
        raise _UsageError(f"cannot read {what} {path}: {error.strerror or error}") from None


def _parse_output(args: Any) -> str:
    fmt = _chosen_format(args)
    prompt = _read_text(args.prompt, "prompt file") if args.prompt else None
    tools = _read_json_file(args.tools, "tools file") if args.tools else None
    message = fmt.parse_output(_read_text(args.file, "completion file"), prompt=prompt, tools=tools)
    return json.dumps(message, ensure_ascii=False, indent=1) + "\n"


def _chosen_format(args: Any) -> Any:
    if args.model:
        from . import for_model

        return for_model(args.model, allow_import=not getattr(args, "no_import", False))
    return _format(args.format)


def _read_json_file(path: str, what: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as error:
        raise _UsageError(f"cannot read {what} {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise _UsageError(f"{what} {path} is not valid JSON: {error}") from None


def _render_jsonl(fmt: Any, args: Any, options: dict) -> str:
    """One prompt per input line, written as it is made; a bad line stops the run naming its line
    number, or with ``--errors collect`` becomes an ``{"error": ..., "line": N}`` line."""
    import contextlib

    try:
        opened = contextlib.nullcontext(sys.stdin) if args.file == "-" else open(args.file, encoding="utf-8")
    except OSError as error:
        raise _UsageError(f"cannot read {args.file}: {error.strerror or error}") from None
    out = sys.stdout
    progress = _Progress() if args.progress else None
    number = 0
    with opened as handle:
        for number, line in enumerate(handle, 1):
            if progress is not None:
                progress.tick(number - 1)
            if not line.strip():
                continue
            try:
                try:
                    row = json.loads(line)
                except ValueError as error:
                    raise _LineError(f"not valid JSON: {error}") from None
                row_options = dict(options)
                if isinstance(row, dict):
                    if "messages" not in row:
                        raise _LineError("a JSON object must have a 'messages' key")
                    for given in ("tools", "documents"):
                        if row.get(given) is not None:
                            row_options[given] = row[given]
                    row = row["messages"]
                prompt = fmt.render(row, **row_options)
            except (_LineError, PromptcraftError) as error:
                if args.errors == "stop":
                    raise _LineError(f"line {number}: {error}") from None
                kind = "InvalidLine" if isinstance(error, _LineError) else type(error).__name__
                out.write(json.dumps({"line": number, "error": str(error), "type": kind}, ensure_ascii=False) + "\n")
                continue
            out.write(json.dumps({"prompt": prompt}, ensure_ascii=False) + "\n")
    if progress is not None:
        progress.tick(number, final=True)
    return ""


class _Progress:
    """``N lines, R lines/s`` on stderr, rewritten in place at most once a second."""

    def __init__(self) -> None:
        import time

        self.clock = time.monotonic
        self.start = self.last = self.clock()

    def tick(self, done: int, final: bool = False) -> None:
        now = self.clock()
        if not final and now - self.last < 1.0:
            return
        self.last = now
        rate = done / (now - self.start) if now > self.start else 0.0
        sys.stderr.write(f"\r{done} lines, {rate:,.0f} lines/s" + ("\n" if final else ""))
        sys.stderr.flush()


def _read_templates(path: str) -> Tuple[Dict[str, str], Dict[str, Any]]:
    """The named chat templates in a .jinja file, a tokenizer_config.json, a chat_template.json or a
    model folder, and the special tokens beside them."""
    import os

    from ._folder import special_tokens, templates

    if os.path.isdir(path):
        named, config = templates(path)
        tokens = special_tokens(path, config)
    elif path.endswith(".json"):
        data = _read_json_file(path, "template file")
        folder = os.path.dirname(path) or "."
        if not isinstance(data, dict):
            raise _UsageError(f"{path}: expected a JSON object")
        value = data.get("chat_template")
        named = {"default": value} if isinstance(value, str) else {
            t["name"]: t["template"] for t in value or () if isinstance(t, dict) and "name" in t and "template" in t}
        tokens = special_tokens(folder, data)
    else:
        try:
            with open(path, encoding="utf-8") as handle:
                named, tokens = {"default": handle.read()}, {"bos_token": None, "eos_token": None}
        except OSError as error:
            raise _UsageError(f"cannot read {path}: {error.strerror or error}") from None
    if not named:
        raise _UsageError(f"{path}: no chat template found")
    return named, tokens


def _identify(path: str) -> str:
    from ._identify import fingerprint, identify

    named, tokens = _read_templates(path)
    lines = []
    for name, template in named.items():
        found = identify(template, bos_token=tokens["bos_token"], eos_token=tokens["eos_token"])
        lines.append(f"{name}\t{found.name if found else '-'}\t{fingerprint(template)}")
    return "\n".join(lines) + "\n"


def _import(args: Any) -> str:
    import os

    from ._interop.probe import import_template
    from .errors import TemplateImportError

    named, tokens = _read_templates(args.template)
    if args.template_name not in named:
        raise _UsageError(f"{args.template}: no template named {args.template_name!r} "
                          f"(it has: {', '.join(sorted(named))})")
    stem = os.path.basename(os.path.normpath(args.template))
    stem = stem.rsplit(".", 1)[0] if not os.path.isdir(args.template) else stem
    name = args.name or "".join(c if c.isalnum() or c in "._-" else "-" for c in stem.lower()).strip("-._") \
        or "imported"
    try:
        fmt = import_template(named[args.template_name], name=name, count=args.cases,
                              bos_token=args.bos if args.bos is not None else tokens["bos_token"],
                              eos_token=args.eos if args.eos is not None else tokens["eos_token"],
                              builtins=not args.no_builtins)
    except TemplateImportError as error:
        if args.partial and error.draft is not None:
            failing = "".join("\n# " + line for case in error.failures for line in case.split("\n"))
            _write_output(args.output, f"# promptcraft import: NOT verified. {error.reason}{failing}\n\n"
                          + error.draft)
        raise
    text = f"# Imported from {args.template} by `promptcraft import`: {fmt.origin}.\n" + fmt.toml
    if args.output is None:
        return text
    _write_output(args.output, text)
    return f"wrote {args.output}: {fmt.origin}\n"


def _write_output(path: Optional[str], text: str) -> None:
    if path is None:
        sys.stdout.write(text)
        return
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        raise _UsageError(f"cannot write {path}: {error.strerror or error}") from None


def _list() -> str:
    from ._registry import get_format, names

    lines = []
    for name in names():
        fmt = get_format(name)
        lines.append(f"{name}\t{', '.join(fmt.models) or '-'}")
    width = max((len(line.split('\t')[0]) for line in lines), default=0)
    return "\n".join(f"{line.split(chr(9))[0]:<{width}}  {line.split(chr(9))[1]}" for line in lines) + "\n"


def _list_json() -> str:
    from ._registry import get_format, names

    return json.dumps({name: list(get_format(name).models) for name in names()}, indent=1) + "\n"


def _show(name: str) -> str:
    fmt = _format(name)
    text = fmt.toml
    return text if text.endswith("\n") else text + "\n"


def run(argv: Optional[List[str]] = None) -> str:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return parser.format_help()
    if args.command == "list":
        return _list_json() if args.json else _list()
    if args.command == "identify":
        return _identify(args.template)
    if args.command == "import":
        return _import(args)
    if args.command == "show":
        return _show(args.format)
    if args.command == "source":
        return _format(args.format).source
    if args.command == "parse-output":
        return _parse_output(args)
    if args.command == "response-template":
        return json.dumps(_format(args.format).response_template(tools=args.tools), ensure_ascii=False,
                          indent=1) + "\n"
    if args.command == "render":
        fmt = _chosen_format(args)
        options = dict(add_generation_prompt=args.add_generation_prompt,
                       continue_final_message=args.continue_field or args.continue_final_message,
                       control_tokens=args.control_tokens, **_variables(args.var, fmt))
        if args.tools:
            options["tools"] = _read_json_file(args.tools, "tools file")
        if args.documents:
            options["documents"] = _read_json_file(args.documents, "documents file")
        if args.jsonl:
            return _render_jsonl(fmt, args, options)
        return fmt.render(_read_messages(args.file), **options)
    if args.command == "parse":
        return _parse(args)
    if args.command == "lint":
        return _lint(args.format, args.json)
    if args.command == "verify":
        return _verify(args)
    if args.command == "export":
        return _export(args)
    raise _UsageError(f"unknown command {args.command!r}")  # pragma: no cover


def _export(args: Any) -> str:
    fmt = _format(args.format)
    template = fmt.to_jinja()
    if args.json:
        from ._interop.export import named_templates

        # A format naming a tool_use format ships both, as the model's tokenizer_config.json does.
        named = named_templates(fmt)
        text = json.dumps({"chat_template": template if named is None else named}, ensure_ascii=False,
                          indent=2) + "\n"
    else:
        text = template
    if args.output is None:
        return text
    try:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        raise _UsageError(f"cannot write {args.output}: {error.strerror or error}") from None
    return ""


def _parse(args: Any) -> str:
    if args.model:
        from . import for_model

        fmt = for_model(args.model, allow_import=not getattr(args, "no_import", False))
    else:
        fmt = _format(args.format)
    try:
        if args.file == "-":
            prompt = sys.stdin.buffer.read().decode("utf-8")
        else:
            with open(args.file, "rb") as handle:
                prompt = handle.read().decode("utf-8")
    except OSError as error:
        raise _UsageError(f"cannot read {args.file}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise _UsageError(f"{'stdin' if args.file == '-' else args.file} is not UTF-8: {error}") from None
    parsed = fmt.parse(prompt)
    result = {"messages": parsed.messages, "add_generation_prompt": parsed.add_generation_prompt,
              "variables": parsed.variables}
    if parsed.tools is not None:
        result["tools"] = parsed.tools
    return json.dumps(result, ensure_ascii=False, indent=1) + "\n"


def _lint(name: str, as_json: bool) -> str:
    fmt = _format(name)
    report = fmt.lint()
    if as_json:
        return json.dumps(report, ensure_ascii=False, indent=1) + "\n"
    words = {"contains": "contain", "starts_with": "start with", "ends_with": "end with"}
    lines = [f"{fmt.name}: for parse to read a prompt back exactly, values must not hold these texts"]
    for owner, hows in report.items():
        for how, texts in hows.items():
            lines.append(f"  {owner} must not {words[how]}: " + ", ".join(repr(t) for t in texts))
    if len(lines) == 1:
        lines = [f"{fmt.name}: every value reads back exactly, whatever it holds"]
    return "\n".join(lines) + "\n"


class _Failed(Exception):
    """verify found differences: print the report and exit 1."""

    def __init__(self, output: str) -> None:
        super().__init__(output)
        self.output = output


def _verify(args: Any) -> str:
    from ._interop.verify import read_template, verify

    fmt = _format(args.format)
    source = read_template(args.template, bos=args.bos, eos=args.eos, name=args.template_name)
    cases = None
    if args.conversations:
        data = _read_messages_file(args.conversations)
        cases = [(c["messages"], bool(c.get("add_generation_prompt")), bool(c.get("continue_final_message")))
                 for c in data]
    passed, failed, reports = verify(fmt, source, count=args.cases, seed=args.seed,
                                     variables=_variables(args.var), cases=cases)
    lines = reports + [f"{fmt.name} vs {source.label}: {passed} passed, {failed} failed"]
    text = "\n".join(lines) + "\n"
    if failed:
        raise _Failed(text)
    return text


def _read_messages_file(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as error:
        raise _UsageError(f"cannot read {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise _UsageError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, list) or not all(isinstance(c, dict) and "messages" in c for c in data):
        raise _UsageError(f"{path}: expected a list of cases with 'messages'")
    return data


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point: print the result, or an error on stderr with exit status 1 (bad data) or 2 (bad usage)."""
    try:
        output = run(argv)
    except _UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except _Failed as failed:
        sys.stdout.write(failed.output)
        return DATA_ERROR
    except (PromptcraftError, _LineError) as error:
        print(f"error: {error}", file=sys.stderr)
        return DATA_ERROR
    except SystemExit as exit:  # --help
        return int(exit.code or 0)
    except KeyboardInterrupt:
        return 130
    sys.stdout.write(output)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
