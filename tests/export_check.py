"""The export check: a format's ``to_jinja()`` rendered by transformers against the format itself.

Shared by tests/test_export.py and tests/make_export_report.py (which writes the counts into
COMPATIBILITY.md). The reference is transformers' own ``render_jinja_template`` (what
``apply_chat_template(tokenize=False)`` calls), after dropping the keys whose value is ``None``
as ``apply_chat_template`` does first.
"""

from __future__ import annotations

import collections
import json
import warnings
from typing import Any, Callable, Dict, Iterable, List, Tuple

from hf_reference import PUBLIC_CASES

import promptcraft

STRUCTURED_CASES = PUBLIC_CASES.parent / "structured-public.json"

#: How a case ended: both wrote the same string, both refused, the exported template refused as not
#: exported (promptcraft rendered or refused), or the two differ (a bug).
OUTCOMES = ("equal", "both_refuse", "not_exported", "differ")


def jinja_render(template: Any, messages: Any, **options: Any) -> Any:
    """The exported template rendered as transformers renders it; the exception where it raises.
    ``template`` may be a mapping of named templates, of which transformers renders ``tool_use``
    whenever tools are given, else ``default``."""
    import jinja2
    from transformers.utils.chat_template_utils import render_jinja_template

    if isinstance(template, dict):
        template = template["tool_use" if options.get("tools") is not None else "default"]

    if isinstance(messages, list):
        messages = [{k: v for k, v in m.items() if v is not None} if isinstance(m, dict) else m for m in messages]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return render_jinja_template([messages], chat_template=template, **options)[0][0]
    except (jinja2.TemplateError, ValueError, TypeError) as error:
        return error


def exported(fmt: promptcraft.Format) -> Any:
    """What ``promptcraft export --json`` ships for ``fmt``: its template, or for a format naming a
    ``tool_use`` format both named templates (a mapping, as transformers reads the list)."""
    from promptcraft._interop.export import named_templates

    named = named_templates(fmt)
    return fmt.to_jinja() if named is None else {t["name"]: t["template"] for t in named}


def outcome(fmt: promptcraft.Format, template: Any, messages: Any, **options: Any) -> Tuple[str, Any, Any]:
    """``(outcome, promptcraft's result, the template's result)`` for one case."""
    try:
        ours: Any = fmt.render(messages, **options)
    except promptcraft.PromptcraftError as error:
        ours = error
    theirs = jinja_render(template, messages, **options)
    if isinstance(theirs, Exception) and "promptcraft export:" in str(theirs) and "not exported" in str(theirs):
        return "not_exported", ours, theirs
    if isinstance(ours, Exception) and isinstance(theirs, Exception):
        return "both_refuse", ours, theirs
    return ("equal" if ours == theirs else "differ"), ours, theirs


def public_cases() -> List[Tuple[str, List[Dict[str, Any]], Dict[str, Any]]]:
    """``(feature, messages, options)`` from the public conversations: the text ones (each with and
    without a generation prompt) and the structured ones (with their tools)."""
    cases = []
    for case in json.loads(PUBLIC_CASES.read_text(encoding="utf-8")):
        for gen in (False, True):
            cases.append(("public text", case["messages"], {"add_generation_prompt": gen}))
    for case in json.loads(STRUCTURED_CASES.read_text(encoding="utf-8")):
        options = {"add_generation_prompt": case.get("add_generation_prompt", False)}
        if case.get("tools") is not None:
            options["tools"] = case["tools"]
        cases.append(("public structured", case["messages"], options))
    return cases


def count(fmt: promptcraft.Format, template: Any, cases: Iterable[Tuple[str, Any, Dict[str, Any]]],
          on_differ: Callable[[str, Any, Dict[str, Any], Any, Any], None] = lambda *a: None
          ) -> Dict[str, collections.Counter]:
    """Outcomes per feature."""
    counts: Dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for feature, messages, options in cases:
        result, ours, theirs = outcome(fmt, template, messages, **options)
        counts[feature][result] += 1
        if result == "differ":
            on_differ(feature, messages, options, ours, theirs)
    return counts


def generated_cases(fmt: promptcraft.Format, examples: int) -> List[Tuple[str, Any, Dict[str, Any]]]:
    """``(feature, messages, options)`` drawn from the project's strategies with a derandomised
    profile (the same cases every run): text chats with the format's variables, and agent
    conversations with tools (and documents, for a format that writes them)."""
    import strategies as S
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    cases: List[Tuple[str, Any, Dict[str, Any]]] = []

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def collect(data: Any) -> None:
        gen = data.draw(st.booleans())
        cases.append(("text", data.draw(S.conversations()),
                      {"add_generation_prompt": gen, **data.draw(S.variable_values(fmt))}))
        options = {"add_generation_prompt": gen, "tools": data.draw(S.tools_lists)}
        if fmt.spec.documents is not None:  # documents where the format writes them
            options["documents"] = data.draw(S.documents_lists)
        cases.append(("structured", data.draw(S.agent_conversations()), options))

    collect()
    return cases
