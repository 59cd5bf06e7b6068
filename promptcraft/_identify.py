"""``identify``: the built-in format whose official chat template is a given template.

A format lists the templates it serves as fingerprints (``templates = ["sha256:..."]``), so no
template text is shipped. Two templates share a fingerprint only when Jinja reads them as the same
source: the fingerprint is taken after the one normalisation Jinja's lexer itself applies before
anything else (line endings made ``\\n``, one trailing newline dropped, as ``keep_trailing_newline``
is off in transformers' environment), which therefore cannot change what the template renders.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Optional

_NEWLINES = re.compile(r"\r\n|\r|\n")


def normalise(template: str) -> str:
    """The source Jinja's lexer works on (``Lexer.tokeniter``, with ``keep_trailing_newline=False``)."""
    lines = _NEWLINES.split(template)
    if lines[-1] == "":
        del lines[-1]
    return "\n".join(lines)


def fingerprint(template: str) -> str:
    """``"sha256:<hex>"`` of the normalised template, as a format's ``templates`` key lists it."""
    return "sha256:" + hashlib.sha256(normalise(template).encode("utf-8")).hexdigest()


def identify(chat_template: Any, *, bos_token: Optional[str] = None, eos_token: Optional[str] = None) -> Any:
    """The built-in ``Format`` whose declared template is ``chat_template``, else ``None``.

    A template that writes ``bos_token`` or ``eos_token`` writes whatever the tokenizer says they
    are: when the caller gives them and they differ from the format's, the prompts would differ,
    so nothing is identified (never a guess)."""
    if not isinstance(chat_template, str):
        return None
    from ._registry import get_format, template_index

    name = template_index().get(fingerprint(chat_template))
    if name is None:
        return None
    found = get_format(name)
    for given, word in ((bos_token, "bos_token"), (eos_token, "eos_token")):
        if given is not None and word in chat_template and given != getattr(found.spec, word[:3]):
            return None
    return found
