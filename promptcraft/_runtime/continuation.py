"""``continue_final_message``, done the way transformers does it.

transformers appends a sentinel to the final message, renders, and cuts the
prompt at the sentinel's last occurrence; when the template trimmed the
sentinel's trailing space it also strips trailing whitespace. Reproducing the
algorithm itself, rather than predicting its result per format, keeps every
format byte-exact, including the ones that trim or fold the final message.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from ..errors import ContinuationError, OptionsError
from .messages import REASONING_FIELDS, normalize, reads_reasoning

TAG = "CONTINUE_FINAL_MESSAGE_TAG "


def both_flags() -> OptionsError:
    return OptionsError(
        "add_generation_prompt and continue_final_message cannot both be set: one opens a new assistant "
        "turn, the other leaves the final message open"
    )


def continue_final(
    render: Callable[..., Any], messages: Any, variables: Dict[str, Any], spec: Optional[Any] = None,
    field: Any = True,
) -> Any:
    """Render ``messages`` with the final message left open for the model to continue. ``render``
    returns a string, or a ``Rendered`` (``render_spans``), which is cut the same way. ``field`` is
    ``continue_final_message``: ``True`` or ``"content"`` continues the content; another name continues
    that field, a reasoning field (``reasoning_content``, ``thinking``, ``reasoning``) with every alias
    transformers gives it."""
    if field is True or field == "content":
        return _continue_content(render, messages, variables, spec)
    if not isinstance(field, str):
        raise OptionsError(f"continue_final_message must be True, False or a field name, got {field!r}")
    conversation = normalize(messages, spec)
    final = conversation[-1]
    if field in REASONING_FIELDS and spec is not None and not reads_reasoning(spec):
        raise ContinuationError(f"continue_final_message is {field!r}, but format {spec.name!r} does not write "
                                "reasoning from a message field, so there is nothing to continue",
                                index=final.index, role=final.role, field=field)
    message = alias_reasoning(messages[-1]) if field in REASONING_FIELDS else dict(messages[-1])
    text = message.get(field)
    if text is None:
        raise ContinuationError(f"continue_final_message is {field!r}, but the final message has no {field!r} to "
                                "continue", index=final.index, role=final.role, field=field)
    if not isinstance(text, str):
        raise ContinuationError(f"continue_final_message is {field!r}, but the final message's {field!r} is not "
                                "text", index=final.index, role=final.role, field=field)
    # As transformers does: every alias holding the same reasoning is tagged, whichever the format reads.
    for name in [n for n in REASONING_FIELDS if message.get(n) == text] if field in REASONING_FIELDS else [field]:
        message[name] = message[name] + TAG
    tagged = list(messages)
    tagged[-1] = message
    return _cut(render(tagged, add_generation_prompt=False, **variables), text, final, field)


def alias_reasoning(message: Any) -> Dict[str, Any]:
    """``message`` as transformers hands it to a template: the first reasoning field given is copied to
    ``thinking`` (unless given, in the first position) and to ``reasoning_content``."""
    value = next((message[name] for name in REASONING_FIELDS if message.get(name) is not None), None)
    if value is None:
        return dict(message)
    return {"thinking": value, **message, "reasoning_content": value}


def _continue_content(render: Callable[..., Any], messages: Any, variables: Dict[str, Any],
                      spec: Optional[Any]) -> Any:
    conversation = normalize(messages, spec)
    final = conversation[-1]
    tagged = list(messages)
    text, content = final.content, messages[-1].get("content")
    if isinstance(content, list):
        # As transformers does: the sentinel goes after the last part with a text.
        position = next((k for k in reversed(range(len(content))) if "text" in content[k]), None)
        if position is None:
            raise ContinuationError("continue_final_message is set, but the final message has no text part to "
                                    "continue", index=final.index, role=final.role, field="content")
        text = content[position]["text"]
        content = list(content)
        content[position] = {**content[position], "text": text + TAG}
        tagged[-1] = {**messages[-1], "content": content}
    else:
        tagged[-1] = {**messages[-1], "content": text + TAG}
    return _cut(render(tagged, add_generation_prompt=False, **variables), text, final, "content")


def _cut(result: Any, text: str, final: Any, field: str) -> Any:
    """The render cut at the sentinel's last occurrence, as transformers cuts it."""
    rendered = result if isinstance(result, str) else result.text
    if text.strip() not in rendered or TAG.strip() not in rendered:
        raise ContinuationError(
            f"continue_final_message is set, but this format does not write the final message's {field}, "
            "so there is nothing to continue",
            index=final.index, role=final.role, **({} if field == "content" else {"field": field}),
        )
    cut = rendered.rindex(TAG.strip())
    # When the format trimmed the sentinel's trailing space, it may have trimmed the content's too.
    rstrip = rendered[cut:cut + len(TAG)] != TAG
    if not isinstance(result, str):
        return result.cut(cut, rstrip)
    return rendered[:cut].rstrip() if rstrip else rendered[:cut]
