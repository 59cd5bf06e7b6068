"""``promptcraft verify``: the differential check against a Jinja chat template, for any user.

The template is rendered the way transformers renders it (a sandboxed Jinja
environment with ``trim_blocks`` and ``lstrip_blocks``, its ``tojson``,
``raise_exception`` and ``strftime_now``, ``None``-valued keys dropped, the
special tokens as variables, the same ``continue_final_message`` algorithm)
and compared with the format on generated conversations. jinja2 is imported
here only, and only when a check runs.
"""

from __future__ import annotations

import json
import os
import random
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .._format import Format
from .._runtime.continuation import continue_final
from ..errors import PromptcraftError, VerifyError
from .env import PINNED_NOW, renderer

_TEXTS = [
    "", " ", "  ", "\n", "\n\n", "\t", " \n ", "\r\n", "Hi", "Hello! How can I help you today?", "  leading",
    "trailing  ", "\nnewlines around\n", "{{ not a variable }}", "{% if %}", "{role}", "'single' \"double\"",
    "back\\slash", "café naïve 日本語 🙂", "\u2028", "<think>\nplan\n</think>\n\nanswer", "a</think>b",
    "def f(x):\n    return x\n", "CONTINUE_FINAL_MESSAGE_TAG",
]


class TemplateSource:
    """A chat template with the special tokens it is rendered with."""

    def __init__(self, template: str, bos: Optional[str], eos: Optional[str], label: str) -> None:
        self.template = template
        self.bos = bos
        self.eos = eos
        self.label = label


def _token(value: Any) -> Optional[str]:
    if isinstance(value, dict):  # tokenizer_config.json: {"content": "<s>", ...}
        value = value.get("content")
    return value if isinstance(value, str) else None


def read_template(path: str, bos: Optional[str] = None, eos: Optional[str] = None,
                  name: Optional[str] = None) -> TemplateSource:
    """A corpus JSON file, a ``tokenizer_config.json``, or a ``.jinja`` file (with ``bos``/``eos``)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as error:
        raise VerifyError(f"cannot read {path}: {error.strerror or error}") from None
    if not path.endswith(".json"):
        return TemplateSource(text, bos, eos, os.path.basename(path))
    try:
        data = json.loads(text)
    except ValueError as error:
        raise VerifyError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, dict) or "chat_template" not in data:
        raise VerifyError(f"{path} has no 'chat_template'")
    template = data["chat_template"]
    if isinstance(template, list):  # named templates: [{"name": ..., "template": ...}]
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        wanted = name or "default"
        if wanted not in named:
            raise VerifyError(f"{path} has no template named {wanted!r} (it has: {', '.join(map(str, named))})")
        template = named[wanted]
    if not isinstance(template, str):
        raise VerifyError(f"{path}: 'chat_template' is not a string")
    return TemplateSource(
        template,
        bos if bos is not None else _token(data.get("bos_token")),
        eos if eos is not None else _token(data.get("eos_token")),
        os.path.basename(path),
    )


def jinja_renderer(source: TemplateSource) -> Callable[..., str]:
    """A function rendering messages through ``source`` as transformers does."""
    try:
        import jinja2  # noqa: F401
    except ImportError:
        raise VerifyError("verify needs jinja2: pip install 'promptcraft-chat[verify]'") from None
    return renderer(source.template, source.bos, source.eos)


def conversations(count: int, seed: int) -> List[Tuple[List[Dict[str, str]], bool, bool]]:
    """Seeded conversations: plain chats and odd role orders, awkward text, every flag combination."""
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        if rng.random() < 0.25:
            roles = [rng.choice(("system", "user", "assistant")) for _ in range(rng.randint(1, 6))]
        else:
            roles = (["system"] if rng.random() < 0.5 else []) + [
                "user" if i % 2 == 0 else "assistant" for i in range(rng.randint(1, 7))]
        messages = [{"role": r, "content": "".join(rng.choice(_TEXTS) for _ in range(rng.randint(1, 2)))}
                    for r in roles]
        gen, cont = rng.choice(((False, False), (True, False), (False, True)))
        cases.append((messages, gen, cont))
    return cases


def visible(text: str) -> str:
    """Whitespace made visible: newline, tab, carriage return and spaces at the edges."""
    return (text.replace("\r", "␍").replace("\t", "⇥").replace("\n", "⏎").replace(" ", "·"))


def first_difference(want: str, got: str, context: int = 24) -> str:
    position = next((i for i, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))
    start = max(0, position - context)
    return (f"first difference at character {position}:\n"
            f"    template: {visible(want[start:position + context])!s}\n"
            f"    format:   {visible(got[start:position + context])!s}")


def verify(fmt: Format, source: TemplateSource, *, count: int = 300, seed: int = 0,
           variables: Optional[Dict[str, Any]] = None, cases: Optional[Sequence[Any]] = None,
           limit: int = 10) -> Tuple[int, int, List[str]]:
    """Compare ``fmt`` with ``source``; return ``(passed, failed, reports)``."""
    jinja = jinja_renderer(source)  # first: it says which extra to install when jinja2 is missing
    import jinja2

    given = dict(variables or {})
    for var in fmt.spec.variables:  # pin the format's date variables to the same clock as strftime_now
        if var.strftime is not None and var.name not in given:
            given[var.name] = PINNED_NOW.strftime(var.strftime)
    template_vars = {k: v for k, v in given.items() if k in (variables or {})}
    runs = list(cases) if cases is not None else conversations(count, seed)

    def reference(messages: Any, gen: bool, cont: bool) -> Any:
        try:
            if cont:
                return continue_final(lambda m, add_generation_prompt=False, **kw: jinja(m, False, **kw),
                                      messages, template_vars)
            return jinja(messages, gen, **template_vars)
        except (jinja2.TemplateError, ValueError, TypeError, PromptcraftError) as error:
            return ("refused", f"{type(error).__name__}: {error}")

    passed, failed = 0, 0
    reports: List[str] = []
    for number, (messages, gen, cont) in enumerate(runs):
        want = reference(messages, gen, cont)
        try:
            got: Any = fmt.render(messages, add_generation_prompt=gen, continue_final_message=cont, **given)
        except PromptcraftError as error:
            got = ("refused", f"{type(error).__name__}: {error}")
        same = (isinstance(want, tuple) and isinstance(got, tuple)) or want == got
        if same:
            passed += 1
            continue
        failed += 1
        if len(reports) < limit:
            head = f"case {number}: {json.dumps(messages, ensure_ascii=False)[:200]} " \
                   f"add_generation_prompt={gen} continue_final_message={cont}"
            if isinstance(want, tuple) or isinstance(got, tuple):
                detail = f"template: {want[1] if isinstance(want, tuple) else 'renders'}; " \
                         f"format: {got[1] if isinstance(got, tuple) else 'renders'}"
            else:
                detail = first_difference(want, got)
            reports.append(f"{head}\n  {detail}")
    return passed, failed, reports
