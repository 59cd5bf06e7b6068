"""``Format``: a compiled chat format, the object users hold."""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

from .model import FormatSpec


class Format:
    """A chat format, validated and compiled.

    ``render(messages, *, add_generation_prompt=False,
    continue_final_message=False, **variables)`` is the generated function
    itself, stored on the instance, so a call costs no extra layer. ``source``
    is that function's Python source. A ``Format`` pickles as the declaration
    it came from and is compiled again where it is unpickled.
    """

    __slots__ = ("spec", "source", "render", "_text", "_builtin")

    spec: FormatSpec
    source: str
    render: Callable[..., str]

    def __init__(self, spec: FormatSpec, *, text: Optional[str] = None, builtin: bool = False) -> None:
        from .compile import compile_spec

        self.spec = spec
        self.render, self.source = compile_spec(spec)
        self._text = text
        self._builtin = builtin

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def models(self) -> Tuple[str, ...]:
        return self.spec.models

    @property
    def stop(self) -> Tuple[str, ...]:
        return self.spec.stop

    @property
    def path(self) -> Optional[str]:
        return self.spec.path

    @property
    def variables(self) -> Dict[str, Any]:
        """Declared variables and their defaults: a text, ``True``/``False`` for a
        switch, ``None`` for today's date or a required variable."""
        return {v.name: (v.switch_default if v.is_switch else v.default) for v in self.spec.variables}

    @property
    def control_tokens(self) -> Tuple[str, ...]:
        """The control strings the ``control_tokens`` policy looks for in content."""
        return self.spec.control_tokens

    def render_many(self, conversations: Any, *, add_generation_prompt: bool = False,
                    continue_final_message: bool = False, control_tokens: str = "keep", **variables: Any) -> list:
        """Render each conversation with the same options; a list of prompts."""
        render = self.render
        if continue_final_message or variables or control_tokens != "keep":
            return [render(c, add_generation_prompt=add_generation_prompt, continue_final_message=continue_final_message,
                           control_tokens=control_tokens, **variables) for c in conversations]
        return [render(c, add_generation_prompt=add_generation_prompt) for c in conversations]

    def __repr__(self) -> str:
        return f"<Format {self.name!r} from {self.path or '<string>'}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Format) and other.spec == self.spec

    def __hash__(self) -> int:
        return hash(self.spec)

    def __reduce__(self) -> Any:
        if self._builtin:
            return (_builtin, (self.name,))
        return (_from_text, (self._text, self.path))


def _builtin(name: str) -> Format:
    from .registry import get_format

    return get_format(name)


def _from_text(text: Optional[str], path: Optional[str]) -> Format:
    from .api import loads_format

    if text is None:
        raise TypeError("this Format was built without its source text and cannot be pickled")
    return loads_format(text, path=path)
