"""A format's output form as transformers' declarative ``response_template`` (version 1): the dict
``transformers.utils.chat_parsing.parse_response`` and vLLM's generic parser take.

Built from the same ``OutputForm`` ``parse_output`` reads with: the assistant prefixes are the start
anchors, the reasoning block a ``reasoning_content`` field, the calls a repeated ``tool_calls``
field whose open pattern captures the call's name (and type, id) from the format's call text, the
content the implicit field closed by the end markers. What that vocabulary cannot say (a call whose
text does not open with a literal, arguments ended by a bracket a JSON value may hold) is refused
with the reason rather than exported as a template that would misread.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Tuple

from ..errors import OutputError
from .output import OutputForm, Piece, openings

#: Slot markers in the encoded text of a call's head (literals and slots in one string).
_MARK = "\x00"
_SLOT_PATTERNS = {"name": r"[^\n]+?", "index": r"\d+", "type": r"[^\n]+?"}


def _literal(text: str) -> str:
    """A regex for a scaffold literal: its tokens in order, any whitespace around and between them."""
    tokens = text.split()
    return r"\s*" + r"\s*".join(re.escape(token) for token in tokens) + (r"\s*" if tokens else "")


def _encode(pieces: Tuple[Piece, ...]) -> Tuple[str, Tuple[Piece, ...]]:
    """The pieces before ``{arguments}`` as one string (slots as marked names), and those after."""
    head: List[str] = []
    for at, piece in enumerate(pieces):
        if piece[0] == "arguments":
            return "".join(head), pieces[at + 1:]
        head.append(piece[1].text if piece[0] == "lit" else f"{_MARK}{piece[1]}{_MARK}")
    raise ValueError("no arguments")


def _head_regex(head: str, call_id: Optional[str], edges: bool = True) -> str:
    """A regex for an encoded call head, its slots as named groups, the id's span as ``id``
    (``edges``: whitespace allowed around it)."""
    if call_id is not None and call_id in head:
        before, after = head.split(call_id, 1)
        return (_head_regex(before, None) + r"\s*(?P<id>" + _head_regex(call_id, None, edges=False) + ")"
                + _head_regex(after, None))
    out = []
    for position, part in enumerate(head.split(_MARK)):
        if position % 2:
            out.append(f"(?P<{part}>{_SLOT_PATTERNS[part]})")
        elif part:
            out.append(_literal(part) if edges else r"\s*".join(re.escape(t) for t in part.split()))
    return "".join(out)


def _common_suffix(texts: List[str]) -> str:
    shortest = min(texts, key=len)
    size = 0
    while size < len(shortest) and all(t[len(t) - size - 1] == shortest[len(shortest) - size - 1] for t in texts):
        size += 1
    return shortest[len(shortest) - size:]


def _json_object_call(form: OutputForm) -> Optional[Dict[str, Any]]:
    """The field for calls written as one JSON object holding the name and the arguments (Qwen's
    ``{"name": ..., "arguments": ...}`` between tags), read whole as JSON."""
    calls = form.calls
    assert calls is not None
    opens, closes = [], set()
    keys = None
    for call in calls.forms:
        kinds = [p[0] for p in call.pieces]
        if kinds != ["lit", "slot", "lit", "arguments", "lit"] or call.pieces[1][1] != "name":
            return None
        sample = call.pieces[0][1].text + "N" + call.pieces[2][1].text + "{}" + call.pieces[4][1].text
        start = sample.find("{")
        while start >= 0:
            try:
                found, end = json.JSONDecoder().raw_decode(sample, start)
            except ValueError:
                start = sample.find("{", start + 1)
                continue
            break
        else:
            return None
        if not isinstance(found, dict) or len(found) != 2:
            return None
        name_key = next((k for k, v in found.items() if v == "N"), None)
        arguments_key = next((k for k, v in found.items() if v == {}), None)
        if name_key is None or arguments_key is None or (keys is not None and keys != (name_key, arguments_key)):
            return None
        keys = (name_key, arguments_key)
        if not sample[:start].strip() or not sample[end:].strip():
            return None  # nothing marks where the object starts or ends
        opens.append(_literal(sample[:start]))
        closes.add(_literal(sample[end:]))
    if keys is None or len(closes) != 1:
        return None
    return {"open_pattern": "(?:" + "|".join(dict.fromkeys(opens)) + ")", "close_pattern": closes.pop(),
            "content": "json", "repeats": True,
            "transform": {"type": "function", "function": {"name": "{content.%s}" % keys[0],
                                                            "arguments": "{content.%s}" % keys[1]}}}


def _slot_call(form: OutputForm) -> Dict[str, Any]:
    """The field for calls whose text names the function (and type, id) in literals around slots,
    then writes the arguments, ended by a literal."""
    calls = form.calls
    assert calls is not None
    heads, tails = [], set()
    for call in calls.forms:
        head, after = _encode(call.pieces)
        if any(p[0] != "lit" for p in after):
            raise OutputError("response_template cannot express this format's calls: a slot after the arguments")
        heads.append(head)
        tails.add("".join(p[1].text for p in after))
    if len(tails) != 1:
        raise OutputError("response_template cannot express this format's calls: their texts end differently")
    tail = tails.pop()
    if not tail.strip() or (calls.arguments != "parameters" and not tail.strip().strip("}]").strip()):
        raise OutputError("response_template cannot express this format's calls: nothing but a bracket ends the "
                          "arguments, which a JSON value may hold (its regions end at the first match)")
    common = _common_suffix(heads)
    starts = [h[:len(h) - len(common)] for h in heads]
    if any(_MARK in s for s in starts):
        raise OutputError("response_template cannot express this format's calls: their texts differ after a slot")
    call_id = None
    if calls.call_id is not None:
        call_id = "".join(p if isinstance(p, str) else f"{_MARK}{p.name}{_MARK}" for p in calls.call_id.pieces)
    opening = "(?:" + "|".join(dict.fromkeys(_literal(s) for s in starts)) + ")" + _head_regex(common, call_id)
    function: Dict[str, Any] = {"name": "{name}", "arguments": "{content}"}
    field: Dict[str, Any] = {"open_pattern": opening, "close_pattern": _literal(tail), "repeats": True,
                             "transform": {"type": "{type}" if "type" in common.split(_MARK) else "function",
                                           "function": function}}
    if call_id is not None and call_id in common:
        field["transform"] = {"id": "{id}", **field["transform"]}
    if calls.arguments == "parameters":
        parts = []
        for at, piece in enumerate(calls.parameter):
            if piece[0] == "lit":
                # The last literal's trailing whitespace may be the close pattern's (it takes whitespace first).
                parts.append(re.escape(piece[1].text.rstrip() if at == len(calls.parameter) - 1 else piece[1].text))
            else:
                parts.append(f"(?P<{piece[1]}>{'[^>]+?' if piece[1] == 'key' else '.*?'})")
        field.update(content="xml-inline", content_args={"tag_pattern": "".join(parts)})
    else:
        field["content"] = "json"
    return field


def response_template(form: OutputForm) -> Dict[str, Any]:
    """``form`` as a transformers ``response_template`` (``OutputError`` where it cannot say it)."""
    if form.unread_calls:
        raise OutputError("response_template cannot express this format's calls: parse_output cannot read them "
                          f"yet ({form.unread_reason})")
    fields: Dict[str, Any] = {}
    if form.reasoning is not None:
        fields["reasoning_content"] = {"open": form.reasoning.open.text.strip(),
                                       "close": form.reasoning.close.text.strip(), "content": "text"}
    if form.calls is not None:
        if form.calls.open is not None or form.calls.close is not None or any(
                piece[0] == "object" for call in form.calls.forms for piece in call.pieces):
            # A field of transformers' vocabulary is one region per call: a list of calls inside one
            # opening and closing, or a call object holding its id, is not one of its forms.
            raise OutputError("response_template cannot express this format's calls: they are written inside one "
                              "opening and closing, or as JSON objects with ids")
        if form.calls.arguments == "parameters" and form.calls.value == "str":
            raise OutputError("response_template cannot express this format's calls: parameter values written as "
                              "Python's str() ({'k': [1]}), which transformers reads as JSON or text")
        if form.calls.replace_content:
            raise OutputError("response_template cannot express this format's calls: they stand in place of the "
                              "content with no marker before them")
        fields["tool_calls"] = _json_object_call(form) or _slot_call(form)
    content: Dict[str, Any] = {"content": "text"}
    ends = list(dict.fromkeys(end.search for end in form.ends))
    if ends:
        # Whitespace around an end marker stays out of the content: an empty content region opened by
        # it would replace the content read before.
        content["close_pattern"] = r"\s*(?:" + "|".join(re.escape(e) for e in sorted(ends, key=len, reverse=True)) \
            + r")\s*"
    # The anchors are what the generation prompt writes of the turn's opening; what it leaves for the
    # model to write opens the content (as an explicit field: text before it is none of the message's).
    anchors: List[str] = []
    rests = set()
    for opening, (text, _) in zip(openings(form, form.default_prompt), form.prefixes):
        written = text[:len(text) - len(opening.remainder)]
        # The whole prefix too: a prompt with other variables may write all of it (not where the rest holds
        # the call's name: what the prompt wrote past the anchor is then read as the turn's, see below).
        for anchor in dict.fromkeys((written, text) if form.attach is None else (written,)):
            if anchor.strip():
                anchors.append(anchor)
                if form.reasoning is not None:
                    # A prompt that closed the reasoning block leaves nothing of it to read.
                    anchors.append(anchor + form.reasoning.close.text.strip())
        rests.add(opening.remainder.strip())
    attach = form.attach
    if attach is not None:
        if attach.open or attach.close != attach.after or form.reasoning is not None or form.calls is not None:
            raise OutputError("response_template cannot express this format's calls: a name written as the turn's "
                              f"{attach.field!r} inside literals, or beside reasoning or other calls")
        # The call's name is all the model writes before the prefix's own text (GLM-4's newline): the one
        # field no marker opens, ended where that text opens the content.
        fields[attach.field] = {"content": "text"}
        content["open"] = attach.close
    elif "" not in rests:
        if len(rests) != 1:
            raise OutputError("response_template cannot express this format's opening: the model writes one of "
                              + ", ".join(repr(r) for r in sorted(rests)))
        content["open"] = rests.pop()
    if form.plan is not None:
        # transformers' fields are regions opened by markers; a plan is read inside the turn's opening,
        # which its anchors would have to end before and resume after.
        raise OutputError("response_template cannot express this format's opening: it holds the "
                          f"{form.plan.field!r} field between two of its markers")
    fields["content"] = content
    template: Dict[str, Any] = {"version": 1, "defaults": {"role": "assistant"}}
    if anchors:
        template["start_anchor"] = list(dict.fromkeys(anchors))
    else:
        template["start_anchor_pattern"] = r"\Z"  # no opening of its own: what follows the prompt is the turn
    template["fields"] = fields
    return template
