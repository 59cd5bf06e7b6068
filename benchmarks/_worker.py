"""One benchmark engine, run by ``run.py`` in a fresh interpreter.

    python benchmarks/_worker.py ENGINE TASK.json

prints one JSON document on stdout. Engines:

``hf``            transformers ``apply_chat_template(tokenize=False)``; also decides each format's
                  conversation shape and writes the expected outputs every other engine checks against
``jinja``         the template compiled by transformers' own ``_compile_jinja_template``, rendered directly
``minijinja``     the same template in minijinja's Python binding
``promptcraft``   ``promptcraft.get_format(name).render``; on the workloads in ``task["spans"]`` also
                  ``render_spans`` and ``render_spans(...).mask()``, timed in step with ``render``
``chatml``        a hand-written ChatML function (the practical floor), smollm2 only
``cold-promptcraft`` / ``cold-jinja``   TOML file to first render / template text to first render
``dataset-hf`` / ``dataset-promptcraft``   a pass over a large dataset (the latter with multiprocessing)
``agent-hf`` / ``agent-promptcraft``   the agent conversation (``_workloads.agent``) with its tool
                  definitions; ``agent-hf`` writes the expected outputs ``agent-promptcraft`` checks against

Only the engine being measured is imported: a worker for one engine never
loads another engine's modules, so no import or cache of one touches the
numbers of another.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import time
import timeit
import traceback
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple

import _workloads as W

warnings.simplefilter("ignore")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


# --------------------------------------------------------------------------- timing


#: The clock for in-process timings, set from the task: ``time.process_time`` (CPU time of this
#: process, so time spent descheduled while other work runs on the machine is not counted) or
#: ``time.perf_counter`` (wall time).
CLOCK: Callable[[], float] = time.process_time


class Schedule:
    """Timed statements, measured in rounds spread over the worker's whole run.

    Each statement's loop count is chosen when it is added, so that one repetition lasts at least
    ``min_time``; ``run`` then times every statement ``repeat`` times in all, split into ``rounds``
    passes over all of them. A slow spell on a shared machine then has to last through every pass
    to spoil a result, and the reported time is the minimum (tomli, msgspec), with the median kept.

    A statement added ``beside`` another is timed in step with it, one repetition of each in turn,
    so that their ratio is taken over the same moments of the machine (``paired``).
    """

    def __init__(self, task: dict) -> None:
        self.repeat = task["repeat"]
        self.rounds = max(1, min(task.get("rounds", 1), self.repeat))
        self.min_time = task["min_time"]
        self.jobs: Dict[Tuple[str, str], list] = {}
        #: The first statement of each group -> every statement of the group, in the order timed.
        self.groups: Dict[Tuple[str, str], List[Tuple[str, str]]] = {}

    def add(self, where: Tuple[str, str], stmt: str, namespace: Dict[str, Any],
            beside: Optional[Tuple[str, str]] = None) -> None:
        timer = timeit.Timer(stmt, globals=namespace, timer=CLOCK)
        number = 1
        while True:
            elapsed = timer.timeit(number)
            if elapsed >= self.min_time:
                break
            grow = int(number * self.min_time / elapsed * 1.1) + 1 if elapsed > 0 else number * 10
            number = max(number * 2, min(grow, number * 100))
        self.jobs[where] = [timer, number, []]
        self.groups.setdefault(where if beside is None else beside, []).append(where)

    def run(self) -> None:
        left = self.repeat
        for round_ in range(self.rounds):
            count = -(-left // (self.rounds - round_))
            left -= count
            for members in self.groups.values():
                jobs = [self.jobs[m] for m in members]
                # A group of one is timed as timer.repeat(count, number) would time it.
                for _ in range(count):
                    for timer, number, times in jobs:
                        times.append(timer.timeit(number) / number)

    def result(self, where: Tuple[str, str]) -> Dict[str, Any]:
        _, number, times = self.jobs[where]
        return {"seconds": min(times), "median": statistics.median(times), "number": number,
                "repeat": len(times), "rounds": self.rounds}

    def paired(self, where: Tuple[str, str], beside: Tuple[str, str]) -> float:
        """Median over the repetitions of ``where``'s time / ``beside``'s time in the same turn: a
        ratio that a slow spell touches only in the turns it lasts (a cross-check of min / min)."""
        mine, theirs = self.jobs[where][2], self.jobs[beside][2]
        return statistics.median(a / b for a, b in zip(mine, theirs))


def call_source(callee: str, kwargs: Dict[str, Any], namespace: Dict[str, Any]) -> str:
    """``callee(..., k=_k0, ...)`` with each keyword bound to a global, so the timed statement
    passes keywords the way a caller writes them (no ``**dict`` unpacking in the loop)."""
    parts = []
    for i, (key, value) in enumerate(kwargs.items()):
        namespace[f"_k{i}"] = value
        parts.append(f"{key}=_k{i}")
    return callee.replace("KW", ", ".join(parts) if parts else "").replace(", )", ")").replace("(, ", "(")


def brief(error: BaseException) -> str:
    """``Type: first line of the message``, at most 300 characters. Engines' error messages can
    quote the template (minijinja prints the failing source line); results must never carry
    template text, so only the first line is kept, and it is cut short."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {(lines[0] if lines else '')[:300]}"


# --------------------------------------------------------------------------- reference tokenizer


def tokenizer_for(entry: dict):
    """A ``PreTrainedTokenizerFast`` over a one-word vocabulary carrying the template and its
    special tokens: what ``tests/hf_reference.py`` builds, without network or model files."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0}
    for token in (entry["bos_token"], entry["eos_token"]):
        if token:
            vocab.setdefault(token, len(vocab))
    kwargs = {k: entry[k] for k in ("bos_token", "eos_token") if entry[k]}
    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>")),
        chat_template=entry["chat_template"],
        **kwargs,
    )


def template_context(entry: dict, variables: Dict[str, str]) -> Dict[str, Any]:
    """What transformers adds to a render besides the messages: the special tokens it has
    (``special_tokens_map`` leaves out unset ones) and the caller's variables."""
    context = {k: entry[k] for k in ("bos_token", "eos_token") if entry[k] is not None}
    context.update(variables)
    return context


# --------------------------------------------------------------------------- engines


def engine_hf(task: dict) -> dict:
    import jinja2

    expected: Dict[str, Any] = {}
    results: Dict[str, Any] = {}
    schedule = Schedule(task)
    for fmt in task["formats"]:
        name, entry, variables = fmt["name"], W.corpus_entry(fmt["stem"]), fmt["variables"]
        tok = tokenizer_for(entry)

        # Defaults bind this format's tokenizer and variables (call is used only in this iteration).
        def call(messages: list, agp: bool, tok: Any = tok, variables: Dict[str, Any] = variables) -> str:
            return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=agp, **variables)

        refusals = {}
        shape = None
        for candidate in (W.WITH_SYSTEM, W.NO_SYSTEM):
            try:
                call(W.conversation(3, candidate), True)
            except (jinja2.TemplateError, ValueError, TypeError) as error:
                refusals[candidate] = brief(error)
                continue
            shape = candidate
            break
        if shape is None:
            expected[name] = {"error": f"transformers refuses every benchmark shape: {refusals}"}
            continue
        probe = W.conversation(3, shape)
        agp = call(probe, True) != call(probe, False)
        outputs = {}
        for key in task["workloads"]:
            messages = W.workload(key, shape)
            outputs[key] = call(messages, agp)
            ns = {"tok": tok, "msgs": messages, "agp": agp}
            stmt = call_source("tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=agp, KW)",
                               variables, ns)
            schedule.add((name, key), stmt, ns)
        expected[name] = {"shape": shape, "add_generation_prompt": agp, "refused": refusals, "outputs": outputs}
    schedule.run()
    for name, entry in expected.items():
        if "outputs" in entry:
            results[name] = {key: dict(schedule.result((name, key)), chars=len(out))
                             for key, out in entry["outputs"].items()}
    with open(task["expected"], "w", encoding="utf-8") as handle:
        json.dump(expected, handle, ensure_ascii=False)
    meta = {n: {k: v for k, v in e.items() if k != "outputs"} for n, e in expected.items()}
    return {"results": results, "formats": meta}


def _load_expected(task: dict) -> Dict[str, Any]:
    with open(task["expected"], encoding="utf-8") as handle:
        return json.load(handle)


#: Other calls of an engine, timed beside its render: ``variants(fmt)`` returns ``{label: (call, stmt,
#: namespace)}``, where ``call(messages, agp)`` returns the text to check against transformers' output
#: and a dict of facts to record with the timing, and ``stmt`` reads ``msgs`` and ``agp`` as render's does.
Variants = Callable[[dict], Dict[str, Tuple[Callable[..., Tuple[str, Dict[str, Any]]], str, Dict[str, Any]]]]


def _check_variants(name: str, key: str, variants: dict, messages: list, agp: bool, reference: str,
                    problems: Dict[str, str]) -> Dict[str, Dict[str, Any]]:
    """The variants whose output matches ``reference`` -> their facts; the others' problems go to
    ``problems`` under ``"<format> (<label>)"``."""
    passed = {}
    for label, (call, _, _) in variants.items():
        try:
            got, facts = call(messages, agp)
        except Exception as error:  # noqa: BLE001 - reported, not hidden
            problems[f"{name} ({label})"] = f"workload {key}: raised {brief(error)}"
            continue
        if got != reference:
            problems[f"{name} ({label})"] = (f"workload {key}: text differs from transformers' output; "
                                             f"{W.first_difference(reference, got)}")
            continue
        passed[label] = facts
    return passed


def _compare_engine(task: dict, setup: Callable[[dict, dict], Tuple[Callable[..., str], str, Dict[str, Any]]],
                    strict: bool, variants: Optional[Variants] = None) -> dict:
    """Time an engine on every format and workload after checking its output against transformers'.

    ``setup(fmt, entry)`` returns ``(render, stmt, namespace)``: ``render(messages, agp)`` for
    the check, and the statement to time (it reads ``msgs`` and ``agp``). With ``strict``, a
    difference is an error for the format (promptcraft); otherwise the format is excluded from
    the engine's numbers and listed (engines that are not the subject of the benchmark).

    ``variants`` (see ``Variants``) are checked the same way on the workloads in ``task["spans"]``
    and timed in step with render on the same conversation, so that their cost relative to render
    is measured over the same moments of the machine; a variant that fails costs render nothing."""
    expected = _load_expected(task)
    results: Dict[str, Any] = {}
    extra: Dict[str, Any] = {}
    excluded: Dict[str, str] = {}
    errors: Dict[str, str] = {}
    schedule = Schedule(task)
    checks = []  # (format, workload, render, messages, agp, reference): checked again after timing
    for fmt in task["formats"]:
        name = fmt["name"]
        want = expected.get(name, {})
        if "outputs" not in want:
            continue
        try:
            render, stmt, namespace = setup(fmt, W.corpus_entry(fmt["stem"]))
        except Exception as error:  # noqa: BLE001 - reported, not hidden
            (errors if strict else excluded)[name] = f"setup failed: {brief(error)}"
            continue
        calls = {}
        if variants and task.get("spans"):
            try:
                calls = variants(fmt)
            except Exception as error:  # noqa: BLE001
                (errors if strict else excluded)[f"{name} (variants)"] = f"setup failed: {brief(error)}"
        agp = want["add_generation_prompt"]
        problem = None
        jobs = []
        for key in task["workloads"]:
            messages = W.workload(key, want["shape"])
            reference = want["outputs"][key]
            try:
                got = render(messages, agp)
            except Exception as error:  # noqa: BLE001
                problem = f"workload {key}: raised {brief(error)}"
                break
            if got != reference:
                problem = f"workload {key}: output differs from transformers; {W.first_difference(reference, got)}"
                break
            passed = {}
            if calls and key in task["spans"]:
                passed = _check_variants(name, key, calls, messages, agp, reference, errors if strict else excluded)
            jobs.append((key, dict(namespace, msgs=messages, agp=agp), passed))
            checks.append((name, key, render, messages, agp, reference))
        if problem is not None:  # a format that does not match is not timed at all
            (errors if strict else excluded)[name] = problem
            continue
        for key, ns, passed in jobs:
            schedule.add((name, key), stmt, ns)
            for label, facts in passed.items():
                call, variant_stmt, variant_ns = calls[label]
                schedule.add((name, f"{key} {label}"), variant_stmt, dict(variant_ns, msgs=ns["msgs"], agp=agp),
                             beside=(name, key))
                extra.setdefault(name, {}).setdefault(key, {})[label] = (call, facts, ns["msgs"], agp)
        results[name] = {}
    schedule.run()
    for name, key, render, messages, agp, reference in checks:
        if render(messages, agp) != reference:  # the timed calls left nothing behind that changes output
            (errors if strict else excluded)[name] = f"workload {key}: output changed after timing"
            results.pop(name, None)
            extra.pop(name, None)
        elif name in results:
            results[name][key] = dict(schedule.result((name, key)), verified=True)
    timed_variants: Dict[str, Any] = {}
    for name, per_key in extra.items():
        for key, labels in per_key.items():
            for label, (call, facts, messages, agp) in labels.items():
                if call(messages, agp)[0] != expected[name]["outputs"][key]:
                    (errors if strict else excluded)[f"{name} ({label})"] = f"workload {key}: text changed after timing"
                    continue
                where = (name, f"{key} {label}")
                timed_variants.setdefault(name, {}).setdefault(key, {})[label] = dict(
                    schedule.result(where), paired_ratio=schedule.paired(where, (name, key)), verified=True, **facts)
    out = {"results": results, "excluded": excluded, "errors": errors}
    if variants:
        out["variants"] = timed_variants
    return out


def engine_promptcraft(task: dict) -> dict:
    import promptcraft

    def setup(fmt: dict, entry: dict):
        compiled = promptcraft.get_format(fmt["name"])
        variables = fmt["variables"]
        namespace = {"fmt": compiled}
        stmt = call_source("fmt.render(msgs, add_generation_prompt=agp, KW)", variables, namespace)
        return (
            (lambda messages, agp: compiled.render(messages, add_generation_prompt=agp, **variables)),
            stmt,
            namespace,
        )

    return dict(_compare_engine(task, setup, strict=True, variants=span_variants), version=promptcraft.__version__)


def engine_agent_hf(task: dict) -> dict:
    """``apply_chat_template(msgs, tools=tools, ...)`` on the agent conversation: the timings and,
    as ``engine_hf`` does for the text workloads, the expected outputs (in the same layout, so that
    ``engine_agent_promptcraft`` checks against them with ``_compare_engine``)."""
    import jinja2

    expected: Dict[str, Any] = {}
    errors: Dict[str, str] = {}
    schedule = Schedule(task)
    for fmt in task["formats"]:
        name, variables = fmt["name"], fmt["variables"]
        tok = tokenizer_for(W.corpus_entry(fmt["stem"]))
        messages, tools = W.agent()
        try:
            output = tok.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=True,
                                             **variables)
        except (jinja2.TemplateError, ValueError, TypeError) as error:
            errors[name] = f"transformers refuses the agent conversation: {brief(error)}"
            continue
        ns = {"tok": tok, "msgs": messages, "tools": tools}
        stmt = call_source("tok.apply_chat_template(msgs, tools=tools, tokenize=False, add_generation_prompt=True, KW)",
                           variables, ns)
        schedule.add((name, W.AGENT), stmt, ns)
        # The agent conversation has a system message whatever the shape (see ``W.workload``).
        expected[name] = {"shape": W.WITH_SYSTEM, "add_generation_prompt": True, "outputs": {W.AGENT: output}}
    schedule.run()
    results = {name: {W.AGENT: dict(schedule.result((name, W.AGENT)), chars=len(entry["outputs"][W.AGENT]))}
               for name, entry in expected.items()}
    with open(task["expected"], "w", encoding="utf-8") as handle:
        json.dump(expected, handle, ensure_ascii=False)
    return {"results": results, "errors": errors}


def engine_agent_promptcraft(task: dict) -> dict:
    """``fmt.render(msgs, add_generation_prompt=True, tools=tools)`` on the agent conversation,
    checked against ``agent-hf``'s output before and after it is timed."""
    import promptcraft

    # One list for every call, as an agent loop passes the same tools on every turn.
    tools = W.agent()[1]

    def setup(fmt: dict, entry: dict):
        compiled = promptcraft.get_format(fmt["name"])
        variables = fmt["variables"]
        namespace = {"fmt": compiled, "tools": tools}
        stmt = call_source("fmt.render(msgs, add_generation_prompt=agp, tools=tools, KW)", variables, namespace)
        return (
            (lambda messages, agp: compiled.render(messages, add_generation_prompt=agp, tools=tools, **variables)),
            stmt,
            namespace,
        )

    return dict(_compare_engine(task, setup, strict=True, variants=prepared_variant), version=promptcraft.__version__)


def prepared_variant(fmt: dict) -> dict:
    """The same render with the tools passed through ``prepare_tools`` once (an immutable copy,
    serialised once, found by identity): what a server that keeps its tool definitions does."""
    import promptcraft

    compiled = promptcraft.get_format(fmt["name"])
    variables = fmt["variables"]
    prepared = promptcraft.prepare_tools(W.agent()[1])

    def call(messages: list, agp: bool) -> Tuple[str, Dict[str, Any]]:
        return compiled.render(messages, add_generation_prompt=agp, tools=prepared, **variables), {}

    namespace = {"fmt": compiled, "prepared": prepared}
    stmt = call_source("fmt.render(msgs, add_generation_prompt=agp, tools=prepared, KW)", variables, namespace)
    return {"prepared": (call, stmt, namespace)}


def span_variants(fmt: dict) -> dict:
    """``render_spans`` alone (spans are built lazily, so this is the cost every caller pays), and
    followed by ``.mask()`` (what a training pipeline does: builds the spans and picks the ranges)."""
    import promptcraft

    compiled = promptcraft.get_format(fmt["name"])
    variables = fmt["variables"]

    def spans(messages: list, agp: bool) -> Tuple[str, Dict[str, Any]]:
        return compiled.render_spans(messages, add_generation_prompt=agp, **variables).text, {}

    def masked(messages: list, agp: bool) -> Tuple[str, Dict[str, Any]]:
        rendered = compiled.render_spans(messages, add_generation_prompt=agp, **variables)
        ranges = rendered.mask()
        # Sorted, disjoint, inside the text: else the timing would be of something other than a mask.
        bounds = [b for r in ranges for b in r]
        if bounds != sorted(bounds) or (bounds and (bounds[0] < 0 or bounds[-1] > len(rendered.text))):
            raise AssertionError(f"mask() returned ranges that are not sorted and inside the text: {ranges[:5]}")
        return rendered.text, {"mask_ranges": len(ranges), "masked_chars": sum(e - s for s, e in ranges)}

    namespace = {"fmt": compiled}
    call = call_source("fmt.render_spans(msgs, add_generation_prompt=agp, KW)", variables, namespace)
    return {"render_spans": (spans, call, namespace), "render_spans_mask": (masked, call + ".mask()", namespace)}


def engine_jinja(task: dict) -> dict:
    from transformers.utils.chat_template_utils import _compile_jinja_template

    def setup(fmt: dict, entry: dict):
        template = _compile_jinja_template(entry["chat_template"])
        context = template_context(entry, fmt["variables"])
        namespace = {"template": template, "ctx": context}
        stmt = "template.render(messages=msgs, add_generation_prompt=agp, **ctx)"
        return (
            (lambda messages, agp: template.render(messages=messages, add_generation_prompt=agp, **context)),
            stmt,
            namespace,
        )

    return _compare_engine(task, setup, strict=False)


def engine_minijinja(task: dict) -> dict:
    import datetime

    import minijinja

    def raise_exception(message):
        raise minijinja.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        # transformers' override: no HTML escaping, non-ASCII kept, Python's default separators.
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = minijinja.Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
    env.add_function("raise_exception", raise_exception)
    env.add_function("strftime_now", lambda fmt: datetime.datetime.now().strftime(fmt))
    env.add_filter("tojson", tojson)

    def setup(fmt: dict, entry: dict):
        env.add_template(fmt["stem"], entry["chat_template"])
        context = template_context(entry, fmt["variables"])
        namespace = {"env": env, "name": fmt["stem"], "ctx": context}
        stmt = "env.render_template(name, messages=msgs, add_generation_prompt=agp, **ctx)"
        return (
            (lambda messages, agp: env.render_template(fmt["stem"], messages=messages, add_generation_prompt=agp,
                                                       **context)),
            stmt,
            namespace,
        )

    return _compare_engine(task, setup, strict=False)


SMOLLM2_SYSTEM = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"


def chatml(messages, add_generation_prompt=False):
    """SmolLM2's prompt, written by hand: the fastest of several plain-Python versions tried
    (tuple-extend and one join beat per-message f-strings and ``+``)."""
    out = [] if messages[0]["role"] == "system" else [SMOLLM2_SYSTEM]
    for m in messages:
        out += ("<|im_start|>", m["role"], "\n", m["content"], "<|im_end|>\n")
    if add_generation_prompt:
        out.append("<|im_start|>assistant\n")
    return "".join(out)


def engine_chatml(task: dict) -> dict:
    def setup(fmt: dict, entry: dict):
        if fmt["name"] != "smollm2":
            raise ValueError("the hand-written ChatML function writes the smollm2 format only")
        return chatml, "chatml(msgs, add_generation_prompt=agp)", {"chatml": chatml}

    task = dict(task, formats=[f for f in task["formats"] if f["name"] == "smollm2"])
    return _compare_engine(task, setup, strict=True)


def _cold_size(task: dict) -> str:
    return "11" if "11" in task["workloads"] else task["workloads"][0]


def engine_cold_promptcraft(task: dict) -> dict:
    """``load_format(path)`` + first render. First in the process (lazy imports included), then
    for many copies of the file, each at its own path so that nothing is cached."""
    import shutil
    import tempfile

    t0 = time.perf_counter()
    import promptcraft
    import_seconds = time.perf_counter() - t0

    expected = _load_expected(task)
    size = _cold_size(task)
    formats = [f for f in task["formats"] if "outputs" in expected.get(f["name"], {})]
    scratch = tempfile.mkdtemp(prefix="promptcraft-cold-")
    results: Dict[str, Any] = {}
    errors: Dict[str, str] = {}
    first: Dict[str, Any] = {}
    try:
        for index, fmt in enumerate(formats):
            name, want = fmt["name"], expected[fmt["name"]]
            messages = W.workload(size, want["shape"])
            reference, agp, variables = want["outputs"][size], want["add_generation_prompt"], fmt["variables"]
            copies = []
            for i in range(task["cold_runs"] + (1 if index == 0 else 0)):
                folder = os.path.join(scratch, f"{name}-{i}")
                os.mkdir(folder)
                copies.append(shutil.copy(fmt["toml"], os.path.join(folder, os.path.basename(fmt["toml"]))))
            loads, renders = [], []
            try:
                for path in copies:
                    gc.collect()
                    t0 = CLOCK()
                    loaded = promptcraft.load_format(path)
                    t1 = CLOCK()
                    got = loaded.render(messages, add_generation_prompt=agp, **variables)
                    t2 = CLOCK()
                    if got != reference:
                        raise AssertionError(f"output differs from transformers; {W.first_difference(reference, got)}")
                    loads.append(t1 - t0)
                    renders.append(t2 - t1)
            except Exception as error:  # noqa: BLE001
                errors[name] = brief(error)
                continue
            if index == 0:
                first = {"format": name, "seconds": loads[0] + renders[0], "load": loads[0], "render": renders[0]}
                loads, renders = loads[1:], renders[1:]
            totals = [a + b for a, b in zip(loads, renders)]
            results[name] = {
                "seconds": statistics.median(totals), "min": min(totals), "runs": len(totals),
                "load": statistics.median(loads), "render": statistics.median(renders), "verified": True,
            }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"results": results, "first_in_process": first, "import_seconds": import_seconds, "errors": errors,
            "size": size}


def engine_cold_jinja(task: dict) -> dict:
    """The template text compiled as transformers compiles it on a cache miss (its environment
    built by the undecorated ``_cached_compile_jinja_template``) + first render."""
    t0 = time.perf_counter()
    from transformers.utils.chat_template_utils import _cached_compile_jinja_template
    import_seconds = time.perf_counter() - t0

    expected = _load_expected(task)
    size = _cold_size(task)
    formats = [f for f in task["formats"] if "outputs" in expected.get(f["name"], {})]
    results: Dict[str, Any] = {}
    excluded: Dict[str, str] = {}
    first: Dict[str, Any] = {}
    for index, fmt in enumerate(formats):
        name, want = fmt["name"], expected[fmt["name"]]
        entry = W.corpus_entry(fmt["stem"])
        messages = W.workload(size, want["shape"])
        reference, agp = want["outputs"][size], want["add_generation_prompt"]
        context = template_context(entry, fmt["variables"])
        compiles, renders = [], []
        for _ in range(task["cold_runs"] + (1 if index == 0 else 0)):
            gc.collect()
            t0 = CLOCK()
            template = _cached_compile_jinja_template(entry["chat_template"])
            t1 = CLOCK()
            got = template.render(messages=messages, add_generation_prompt=agp, **context)
            t2 = CLOCK()
            if got != reference:
                break
            compiles.append(t1 - t0)
            renders.append(t2 - t1)
        if got != reference:
            excluded[name] = f"output differs from transformers; {W.first_difference(reference, got)}"
            continue
        if index == 0:
            first = {"format": name, "seconds": compiles[0] + renders[0], "load": compiles[0], "render": renders[0]}
            compiles, renders = compiles[1:], renders[1:]
        totals = [a + b for a, b in zip(compiles, renders)]
        results[name] = {
            "seconds": statistics.median(totals), "min": min(totals), "runs": len(totals),
            "load": statistics.median(compiles), "render": statistics.median(renders), "verified": True,
        }
    return {"results": results, "first_in_process": first, "import_seconds": import_seconds, "excluded": excluded,
            "size": size}


def engine_dataset_hf(task: dict) -> dict:
    """One full pass of ``apply_chat_template`` over the dataset (which also gives the digests
    promptcraft is checked against), and the batched call on a sample, extrapolated."""
    import jinja2

    spec = task["dataset"]
    fmt = spec["format"]
    entry = W.corpus_entry(fmt["stem"])
    tok = tokenizer_for(entry)
    variables = fmt["variables"]
    shape = W.WITH_SYSTEM
    try:
        tok.apply_chat_template(W.conversation(3, W.WITH_SYSTEM), tokenize=False, **variables)
    except (jinja2.TemplateError, ValueError, TypeError):
        shape = W.NO_SYSTEM
    conversations = W.dataset(spec["count"], shape)
    messages = sum(len(c) for c in conversations)
    apply = tok.apply_chat_template
    gc.collect()
    t0 = time.perf_counter()
    outputs = [apply(c, tokenize=False, **variables) for c in conversations]
    loop_seconds = time.perf_counter() - t0
    digests = [W.digest(o) for o in outputs]
    chars = sum(len(o) for o in outputs)
    sample = conversations[: spec["hf_batch_sample"]]
    gc.collect()
    t0 = time.perf_counter()
    batched = apply(sample, tokenize=False, **variables)
    batch_seconds = time.perf_counter() - t0
    if batched != outputs[: len(sample)]:
        raise AssertionError("batched apply_chat_template differs from the one-by-one loop")
    with open(spec["digests"], "w", encoding="utf-8") as handle:
        json.dump({"shape": shape, "digests": digests}, handle)
    return {
        "format": fmt["name"], "shape": shape, "count": len(conversations), "messages": messages, "chars": chars,
        "loop": {"seconds": loop_seconds, "count": len(conversations), "extrapolated": False, "runs": 1},
        "batched": {
            "seconds": batch_seconds * len(conversations) / len(sample), "sample": len(sample),
            "sample_seconds": batch_seconds, "extrapolated": len(sample) < len(conversations), "runs": 1,
        },
    }


def _render_chunk(args):
    fmt, chunk, variables = args
    return fmt.render_many(chunk, **variables)


_SHARED: List[Any] = []


def _render_range(args):
    fmt, start, stop, variables = args
    return fmt.render_many(_SHARED[start:stop], **variables)


def _ping(_):
    return os.getpid()


def engine_dataset_promptcraft(task: dict) -> dict:
    import multiprocessing
    import pickle

    import promptcraft

    spec = task["dataset"]
    with open(spec["digests"], encoding="utf-8") as handle:
        reference = json.load(handle)
    fmt = promptcraft.get_format(spec["format"]["name"])
    variables = spec["format"]["variables"]
    conversations = W.dataset(spec["count"], reference["shape"])
    want = reference["digests"]
    runs = spec["runs"]

    def check(outputs: list, what: str, first: Optional[list]) -> None:
        if first is not None:
            if outputs != first:
                raise AssertionError(f"{what}: output differs from the first timed pass")
            return
        got = [W.digest(o) for o in outputs]
        if got != want:
            bad = next(i for i, (a, b) in enumerate(zip(want, got)) if a != b) if len(got) == len(want) else len(got)
            raise AssertionError(f"{what}: conversation {bad} differs from transformers' output")

    def timed(label: str, run: Callable[[], list], first: Optional[list]) -> Tuple[dict, list]:
        seconds = []
        for _ in range(runs):
            gc.collect()
            t0 = time.perf_counter()
            outputs = run()
            seconds.append(time.perf_counter() - t0)
            check(outputs, label, first)
            if first is None:
                first = outputs
            del outputs
        return {"seconds": min(seconds), "median": statistics.median(seconds), "runs": runs, "verified": True}, first

    if variables:
        loop = lambda: [fmt.render(c, **variables) for c in conversations]  # noqa: E731
        many = lambda: fmt.render_many(conversations, **variables)  # noqa: E731
    else:
        loop = lambda: [fmt.render(c) for c in conversations]  # noqa: E731
        many = lambda: fmt.render_many(conversations)  # noqa: E731
    result: Dict[str, Any] = {"format": fmt.name, "count": len(conversations)}
    try:
        result["loop"], first = timed("render loop", loop, None)
        result["render_many"], first = timed("render_many", many, first)
    except AssertionError as error:
        return dict(result, error=str(error))

    # Multiprocessing: the Format object itself goes to the workers, so it must pickle.
    pool_result: Dict[str, Any] = {"processes": 2, "start_method": multiprocessing.get_start_method()}
    try:
        blob = pickle.dumps(fmt)
        pool_result["pickle_bytes"] = len(blob)
        if pickle.loads(blob).render(conversations[0]) != first[0]:
            raise AssertionError("an unpickled built-in Format renders differently")
        loaded = promptcraft.load_format(spec["format"]["toml"])
        blob = pickle.dumps(loaded)
        pool_result["pickle_bytes_loaded_format"] = len(blob)
        if pickle.loads(blob).render(conversations[0]) != first[0]:
            raise AssertionError("an unpickled load_format() Format renders differently")
    except Exception as error:  # noqa: BLE001
        pool_result["error"] = f"pickling a Format failed: {brief(error)}"
        pool_result["traceback"] = traceback.format_exc()
        result["multiprocessing"] = pool_result
        return result
    chunk = spec["chunk"]
    try:
        t0 = time.perf_counter()
        with multiprocessing.Pool(2) as pool:
            pool.map(_ping, range(2))
            pool_result["startup_seconds"] = time.perf_counter() - t0
            tasks = [(fmt, conversations[i:i + chunk], variables) for i in range(0, len(conversations), chunk)]
            seconds = []
            for _ in range(runs):
                gc.collect()
                t0 = time.perf_counter()
                parts = pool.map(_render_chunk, tasks)
                seconds.append(time.perf_counter() - t0)
                check([o for part in parts for o in part], "Pool(2).map, conversations pickled to workers", first)
                del parts
        pool_result["shipped"] = {"seconds": min(seconds), "median": statistics.median(seconds), "runs": runs,
                                  "chunk": chunk, "verified": True}
        if multiprocessing.get_start_method() == "fork":
            _SHARED[:] = conversations  # inherited by the forked workers: only index ranges travel
            with multiprocessing.Pool(2) as pool:
                pool.map(_ping, range(2))
                tasks = [(fmt, i, i + chunk, variables) for i in range(0, len(conversations), chunk)]
                seconds = []
                for _ in range(runs):
                    gc.collect()
                    t0 = time.perf_counter()
                    parts = pool.map(_render_range, tasks)
                    seconds.append(time.perf_counter() - t0)
                    check([o for part in parts for o in part], "Pool(2).map, conversations inherited by fork", first)
                    del parts
            _SHARED.clear()
            pool_result["inherited"] = {"seconds": min(seconds), "median": statistics.median(seconds), "runs": runs,
                                        "chunk": chunk, "verified": True}
    except Exception as error:  # noqa: BLE001
        pool_result["error"] = f"rendering in multiprocessing.Pool(2) failed: {brief(error)}"
        pool_result["traceback"] = traceback.format_exc()
    result["multiprocessing"] = pool_result
    return result


ENGINES = {
    "hf": engine_hf,
    "jinja": engine_jinja,
    "minijinja": engine_minijinja,
    "promptcraft": engine_promptcraft,
    "chatml": engine_chatml,
    "cold-promptcraft": engine_cold_promptcraft,
    "cold-jinja": engine_cold_jinja,
    "dataset-hf": engine_dataset_hf,
    "dataset-promptcraft": engine_dataset_promptcraft,
    "agent-hf": engine_agent_hf,
    "agent-promptcraft": engine_agent_promptcraft,
}


def main(argv: List[str]) -> int:
    engine, task_path = argv
    with open(task_path, encoding="utf-8") as handle:
        task = json.load(handle)
    global CLOCK
    CLOCK = time.process_time if task.get("clock", "cpu") == "cpu" else time.perf_counter
    result = ENGINES[engine](task)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
