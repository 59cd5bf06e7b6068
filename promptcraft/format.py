"""``Format``: a compiled chat format, the object users hold."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing and attrs stay out of the render path of precompiled formats
    from typing import Any, Callable, Dict, Optional, Tuple

    from .model import FormatSpec


class Format:
    """A chat format, validated and compiled.

    ``render(messages, *, add_generation_prompt=False,
    continue_final_message=False, control_tokens="keep", **variables)`` is
    the generated function itself, stored on the instance, so a call costs no
    extra layer. ``render_many`` runs a second generated function, the same
    body in a loop, compiled when first used. ``source`` is the Python source
    of both and ``spec`` the validated declaration; a precompiled built-in
    format builds them only when asked. A ``Format`` pickles as the
    declaration it came from and is compiled again where it is unpickled.
    """

    __slots__ = ("render", "name", "models", "stop", "path", "variables", "control_tokens",
                 "_spec", "_source", "_batch_source", "_text", "_builtin", "_many")

    def __init__(self, spec: "FormatSpec", *, text: "Optional[str]" = None, builtin: bool = False) -> None:
        from .compile import compile_spec

        self.render, self._source = compile_spec(spec)
        self._batch_source: "Optional[str]" = None
        self._many: "Optional[Callable[..., list]]" = None
        self._spec = spec
        self._text = text
        self._builtin = builtin
        self.name = spec.name
        self.models = spec.models
        self.stop = spec.stop
        self.path = spec.path
        self.variables = {v.name: (v.switch_default if v.is_switch else v.default) for v in spec.variables}
        self.control_tokens = spec.control_tokens

    @classmethod
    def precompiled(cls, module: "Any", text: str, path: str) -> "Format":
        """A built-in format from its precompiled module (see ``precompile``)."""
        from .runtime import function_name, helpers

        fmt = cls.__new__(cls)
        fmt._spec = None
        fmt._source = fmt._batch_source = None
        fmt._text = text
        fmt._builtin = True
        fmt.name = module.NAME
        fmt.models = module.MODELS
        fmt.stop = module.STOP
        fmt.path = path
        fmt.variables = dict(module.VARIABLES)
        fmt.control_tokens = module.CONTROL_TOKENS
        vars(module).update(helpers(lambda: fmt.spec))
        fmt.render = module.render
        fmt.render.__qualname__ = fmt.render.__name__ = function_name(fmt.name)
        fmt._many = module.render_many
        fmt._many.__qualname__ = fmt._many.__name__ = function_name(fmt.name) + "_many"
        return fmt

    @property
    def spec(self) -> "FormatSpec":
        """The validated declaration (attrs classes)."""
        if self._spec is None:
            from .load import parse_toml
            from .validate import build_spec

            assert self._text is not None
            self._spec = build_spec(parse_toml(self._text, self.path), self.path, self._text)
        return self._spec

    @property
    def source(self) -> str:
        """The generated Python source of ``render`` and of the batch function behind ``render_many``."""
        if self._source is None:
            from .codegen import generate

            self._source = generate(self.spec)
        if self._batch_source is None:
            from .codegen import generate_batch

            self._batch_source = generate_batch(self.spec)
        return self._source + "\n\n" + self._batch_source

    def render_many(self, conversations: "Any", *, add_generation_prompt: bool = False,
                    continue_final_message: bool = False, control_tokens: str = "keep", **variables: "Any") -> list:
        """Render each conversation with the same options; a list of prompts. A
        ``ConversationError`` names the conversation (``error.conversation``) and its message.

        With the default options it runs the batch function, which saves a call per conversation;
        otherwise (and to report an unknown keyword) it calls ``render`` for each."""
        if continue_final_message or control_tokens != "keep" or not variables.keys() <= self.variables.keys():
            from .runtime import hand_on

            render = self.render
            return [hand_on(render, position, c, add_generation_prompt=add_generation_prompt,
                            continue_final_message=continue_final_message, control_tokens=control_tokens, **variables)
                    for position, c in enumerate(conversations)]
        many = self._many
        if many is None:
            from .compile import compile_batch

            many = self._many = compile_batch(self.spec, self.render)[0]
        return many(conversations, add_generation_prompt, **variables)

    def __repr__(self) -> str:
        return f"<Format {self.name!r} from {self.path or '<string>'}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Format) and other.spec == self.spec

    def __hash__(self) -> int:
        return hash(self.spec)

    def __reduce__(self) -> "Any":
        if self._builtin:
            return (_builtin, (self.name,))
        return (_from_text, (self._text, self.path))


def _builtin(name: str) -> Format:
    from .registry import get_format

    return get_format(name)


def _from_text(text: "Optional[str]", path: "Optional[str]") -> Format:
    from .api import loads_format

    if text is None:
        raise TypeError("this Format was built without its source text and cannot be pickled")
    return loads_format(text, path=path)
