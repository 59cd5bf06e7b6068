"""The control-token policy: what to do when message content carries a format's own tokens.

User text can contain ``<|im_end|>`` or ``[INST]`` and so forge turns
(transformers#29279). ``keep`` (the default) writes content as given, byte
identical to transformers; ``reject`` raises ``ControlTokenError`` naming the
message and the token; ``escape`` replaces each token by its declared escape,
by default the token with U+200B ZERO WIDTH SPACE after its first character.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from ..errors import ControlTokenError, OptionsError
from .messages import normalize

POLICIES = ("keep", "reject", "escape")
ZERO_WIDTH_SPACE = "\u200b"


def default_escape(token: str) -> str:
    return token[:1] + ZERO_WIDTH_SPACE + token[1:]


class Guard:
    """The compiled policy of one format: a pattern over its tokens and their escapes."""

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.tokens = spec.control_tokens
        declared = dict(spec.control.escapes)
        self.escapes: Dict[str, str] = {t: declared.get(t, default_escape(t)) for t in self.tokens}
        self._pattern: Any = None

    @property
    def pattern(self) -> Any:
        if self._pattern is None:
            import regex

            # Longest first, so that a token containing another is found whole.
            alternatives = sorted(self.tokens, key=len, reverse=True)
            self._pattern = regex.compile("|".join(regex.escape(t) for t in alternatives))
        return self._pattern

    def escape(self, text: str) -> str:
        if not self.tokens:
            return text
        text = self.pattern.sub(lambda m: self.escapes[m.group(0)], text)
        # A replacement can, with its neighbours, spell a token again. Break what is left with
        # the default escape: tokens hold no U+200B (validated) and are at least two characters
        # long, so each pass splits a token-free stretch for good and the loop ends.
        while True:
            broken = self.pattern.sub(lambda m: default_escape(m.group(0)), text)
            if broken == text:
                return text
            text = broken

    def apply(self, messages: Any, policy: str) -> Any:
        if policy not in POLICIES:
            raise OptionsError(f"control_tokens must be one of {', '.join(map(repr, POLICIES))}, got {policy!r}")
        if policy == "keep" or not self.tokens:
            return messages
        conversation = normalize(messages, self.spec)
        if policy == "reject":
            for message in conversation:
                for where, text in _texts(messages[message.index], message):
                    found = self.pattern.search(text)
                    if found:
                        raise ControlTokenError(
                            f"content contains the control token {found.group(0)!r} of format {self.spec.name!r} "
                            f"at character {found.start()}{where}",
                            index=message.index, role=message.role, token=found.group(0),
                        )
            return messages
        guarded: List[Any] = list(messages)
        for message in conversation:
            given = messages[message.index]
            if not any(self.pattern.search(text) for _, text in _texts(given, message)):
                continue
            content = given.get("content")
            if isinstance(content, list):
                # The text parts are the caller's; the placeholders of media parts are the format's own.
                content = [{**part, "text": self.escape(part["text"])} if isinstance(part.get("text"), str) else part
                           for part in content]
            else:
                content = self.escape(message.content)
            guarded[message.index] = {**given, "content": content}
        return guarded


def _texts(given: Any, message: Any) -> List[Tuple[str, str]]:
    """The caller's texts in a message's content, each with where it is: the string, or each part's text."""
    content = given.get("content")
    if isinstance(content, list):
        return [(f" of content[{position}]", part["text"]) for position, part in enumerate(content)
                if isinstance(part.get("text"), str)]
    return [("", message.content)]
