"""The ``promptcraft`` command line (argparse only, imported only here)."""

from __future__ import annotations

import json
import sys
from typing import Any, List, NoReturn, Optional, Sequence

from .errors import PromptcraftError

USAGE_ERROR = 2
DATA_ERROR = 1


class _UsageError(Exception):
    pass


def _parser():
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:  # raise instead of exiting, so main() reports it
            raise _UsageError(f"{self.prog}: {message}")

    parser = Parser(prog="promptcraft", description="Chat formats declared as data, rendered byte-exact.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True

    sub.add_parser("list", help="built-in formats and the models they serve")

    show = sub.add_parser("show", help="print a format's declaration (its TOML)")
    show.add_argument("format", metavar="NAME|PATH")

    source = sub.add_parser("source", help="print the generated Python renderer of a format")
    source.add_argument("format", metavar="NAME|PATH")

    render = sub.add_parser("render", help="render a conversation (JSON) into a prompt")
    which = render.add_mutually_exclusive_group(required=True)
    which.add_argument("--format", "-f", metavar="NAME|PATH", help="a built-in format name or a TOML file")
    which.add_argument("--model", "-m", metavar="ID", help="a Hugging Face model id served by a built-in format")
    render.add_argument("--add-generation-prompt", "-g", action="store_true", help="open an assistant turn at the end")
    render.add_argument("--continue-final-message", "-c", action="store_true", help="leave the final message open")
    render.add_argument("--var", action="append", default=[], metavar="KEY=VALUE",
                        help="a format variable, e.g. date_string='26 Jul 2024'")
    render.add_argument("--control-tokens", choices=("keep", "reject", "escape"), default="keep",
                        help="what to do with the format's control tokens inside content (default: keep)")
    render.add_argument("file", nargs="?", default="-", metavar="FILE|-",
                        help="JSON: a list of messages, or an object with a 'messages' key (default: stdin)")

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


def _variables(pairs: Sequence[str]) -> dict:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise _UsageError(f"--var takes KEY=VALUE, got {pair!r}")
        values[key] = value
    return values


def _list() -> str:
    from ._registry import get_format, names

    lines = []
    for name in names():
        fmt = get_format(name)
        lines.append(f"{name}\t{', '.join(fmt.models) or '-'}")
    width = max((len(line.split('\t')[0]) for line in lines), default=0)
    return "\n".join(f"{line.split(chr(9))[0]:<{width}}  {line.split(chr(9))[1]}" for line in lines) + "\n"


def _show(name: str) -> str:
    fmt = _format(name)
    text = fmt.toml
    return text if text.endswith("\n") else text + "\n"


def run(argv: Optional[List[str]] = None) -> str:
    args = _parser().parse_args(argv)
    if args.command == "list":
        return _list()
    if args.command == "show":
        return _show(args.format)
    if args.command == "source":
        return _format(args.format).source
    if args.command == "render":
        if args.model:
            from ._registry import for_model

            fmt = for_model(args.model)
        else:
            fmt = _format(args.format)
        messages = _read_messages(args.file)
        return fmt.render(
            messages,
            add_generation_prompt=args.add_generation_prompt,
            continue_final_message=args.continue_final_message,
            control_tokens=args.control_tokens,
            **_variables(args.var),
        )
    if args.command == "verify":
        return _verify(args)
    raise _UsageError(f"unknown command {args.command!r}")  # pragma: no cover


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
    except PromptcraftError as error:
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
