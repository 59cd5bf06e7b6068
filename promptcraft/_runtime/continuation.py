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
from .messages import normalize

TAG = "CONTINUE_FINAL_MESSAGE_TAG "


def both_flags() -> OptionsError:
    return OptionsError(
        "add_generation_prompt and continue_final_message cannot both be set: one opens a new assistant "
        "turn, the other leaves the final message open"
    )


def continue_final(
    render: Callable[..., Any], messages: Any, variables: Dict[str, Any], spec: Optional[Any] = None
) -> Any:
    """Render ``messages`` with the final message left open for the model to continue. ``render``
    returns a string, or a ``Rendered`` (``render_spans``), which is cut the same way."""
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
    result = render(tagged, add_generation_prompt=False, **variables)
    rendered = result if isinstance(result, str) else result.text
    if text.strip() not in rendered or TAG.strip() not in rendered:
        raise ContinuationError(
            "continue_final_message is set, but this format does not write the final message's content, "
            "so there is nothing to continue",
            index=final.index, role=final.role,
        )
    cut = rendered.rindex(TAG.strip())
    # When the format trimmed the sentinel's trailing space, it may have trimmed the content's too.
    rstrip = rendered[cut:cut + len(TAG)] != TAG
    if not isinstance(result, str):
        return result.cut(cut, rstrip)
    return rendered[:cut].rstrip() if rstrip else rendered[:cut]
