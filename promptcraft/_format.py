"""``Format``: a compiled chat format, the object users hold.

It imports nothing of promptcraft's: whoever builds one (the loader, the
registry) injects its generated functions, a ``built`` object that makes the
declaration and the other functions when first asked, and the recipe that
rebuilds it when unpickled.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing and attrs stay out of the render path of precompiled formats
    from typing import Any, Callable, Dict, Optional, Sequence, Tuple

    from ._types import Messages, Tool


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

    __slots__ = ("render", "name", "models", "stop", "path", "variables", "control_tokens", "_built", "_recipe",
                 "_many", "_spans", "origin")

    if TYPE_CHECKING:  # ``render`` is the generated function, an attribute; this is its signature
        def render(self, messages: "Messages", *, add_generation_prompt: bool = False,
                   continue_final_message: "bool | str" = False, control_tokens: str = "keep",
                   tools: "Optional[Sequence[Tool]]" = None, documents: "Optional[Sequence[Any]]" = None,
                   strict: bool = True, **variables: "Any") -> str: ...

    def __init__(self, *, render: "Callable[..., str]", built: "Any", recipe: "Tuple[Callable[..., Any], tuple]",
                 name: str, models: "Tuple[str, ...]", stop: "Tuple[str, ...]", path: "Optional[str]",
                 variables: "Dict[str, Any]", control_tokens: "Tuple[str, ...]") -> None:
        self.render = render  # type: ignore[method-assign]
        self.name = name
        self.models = models
        self.stop = stop
        self.path = path
        self.variables = variables
        self.control_tokens = control_tokens
        self._built = built
        self._recipe = recipe
        self._many: "Optional[Callable[..., list]]" = None
        self._spans: "Optional[Callable[..., Any]]" = None
        #: how this format was found: ``None`` when asked for by name or path, else a sentence
        #: (``from_pretrained``: the folder's template identified as a built-in's)
        self.origin: "Optional[str]" = None

    @classmethod
    def with_origin(cls, other: "Format", origin: str) -> "Format":
        """``other`` (the same compiled functions, pickled the same way) with ``origin`` set."""
        fmt = cls(render=other.render, built=other._built, recipe=other._recipe, name=other.name, models=other.models,
                  stop=other.stop, path=other.path, variables=other.variables, control_tokens=other.control_tokens)
        fmt._many, fmt._spans, fmt.origin = other._many, other._spans, origin
        return fmt

    @property
    def spec(self) -> "Any":
        """The validated declaration (attrs classes)."""
        return self._built.spec

    @property
    def toml(self) -> str:
        """The TOML text the format was loaded from."""
        return self._built.text

    def to_toml(self) -> str:
        """The declaration written back as a format file: only the keys that are not defaults, laid out
        as the files in ``formats/`` are (comments are not kept). ``loads_format(fmt.to_toml(),
        path=fmt.path)`` gives a format with the same declaration and the same generated code."""
        return self._built.to_toml()  # type: ignore[no-any-return, unused-ignore]

    @property
    def source(self) -> str:
        """The generated Python source of ``render``, of the batch function behind ``render_many``
        and of the function behind ``render_spans``."""
        return "\n\n".join(self._built.source(which) for which in ("render", "render_many", "render_spans"))

    def render_many(self, conversations: "Any", *, add_generation_prompt: bool = False,
                    continue_final_message: "bool | str" = False, control_tokens: str = "keep", errors: str = "raise",
                    **variables: "Any") -> list:
        """Render each conversation with the same options; a list of prompts. A
        ``ConversationError`` names the conversation (``error.conversation``) and its message.
        With ``errors="collect"``, a conversation that cannot be rendered gets its error (a
        ``ConversationError``, naming the conversation) in its place in the list, and the others render.

        With the default options it runs the batch function, which saves a call per conversation;
        otherwise (and to report an unknown keyword) it calls ``render`` for each."""
        if errors != "raise":
            return self._collect(conversations, errors, add_generation_prompt=add_generation_prompt,
                                 continue_final_message=continue_final_message, control_tokens=control_tokens,
                                 **variables)
        if continue_final_message or control_tokens != "keep" or not variables.keys() <= self.variables.keys():
            from ._runtime.helpers import hand_on

            render = self.render
            return [hand_on(render, position, c, add_generation_prompt=add_generation_prompt,
                            continue_final_message=continue_final_message, control_tokens=control_tokens, **variables)
                    for position, c in enumerate(conversations)]
        many = self._many
        if many is None:
            many = self._many = self._built.function("render_many")
        return many(conversations, add_generation_prompt, **variables)

    def _collect(self, conversations: "Any", errors: str, **options: "Any") -> list:
        from ._runtime.helpers import collect_errors

        return collect_errors(self.render_many, self.render, conversations, errors, options)

    def render_spans(self, messages: "Any", **options: "Any") -> "Any":
        """Render ``messages`` as ``render`` does (same options) and return a ``Rendered``: the prompt
        (``.text``) and, for every piece of it, its kind and the message it came from (``.spans``),
        from which ``.mask()`` gives the characters to train on. Compiled on first use."""
        spans = self._spans
        if spans is None:
            spans = self._spans = self._built.function("render_spans")
        return spans(messages, **options)

    def parse_output(self, text: str, *, prompt: "Optional[str]" = None,
                     tools: "Optional[Sequence[Tool]]" = None) -> "Dict[str, Any]":
        """The assistant message a completion stands for: ``{"role": "assistant", "content": ...}``
        with ``reasoning_content`` when it reasons (a field of the format's own where it declares one:
        Cohere's ``tool_plan``) and ``tool_calls`` (``{"type": "function",
        "function": {"name", "arguments": dict}}``, with the ``id`` where the format writes one)
        when it calls tools, read with the markers the format declares.

        ``text`` is what the model wrote after the prompt (the stop string may be there or not);
        ``prompt`` is the rendered prompt (or its end): it says whether the generation prompt
        already opened a reasoning block (default: the format's generation prompt, as rendered with
        default variables). With ``tools``, a call naming another tool is an error and parameter
        values are read by the tool's schema. Malformed output raises ``OutputError`` with the
        offset, the field and the message read so far (``partial``)."""
        return self._built.parse_output(text, prompt, tools)  # type: ignore[no-any-return, unused-ignore]

    def output_parser(self, *, prompt: "Optional[str]" = None, tools: "Optional[Sequence[Tool]]" = None) -> "Any":
        """An incremental ``parse_output``: ``feed(chunk)`` returns the deltas of reasoning, content
        and tool calls that became certain, ``close()`` the message (equal to ``parse_output`` of
        the whole text, however it was cut)."""
        return self._built.output_parser(prompt, tools)

    def response_template(self, *, tools: bool = False) -> "Dict[str, Any]":
        """The format's output syntax as transformers' declarative ``response_template`` (version
        1), the dict ``transformers.utils.chat_parsing.parse_response`` (and vLLM) take: start
        anchors, a ``reasoning_content`` field, a repeated ``tool_calls`` field, the content closed
        by the end markers. ``tools=True``: the template for requests with tools (a format naming a
        ``tool_use`` format reads as that one then). ``OutputError`` where the vocabulary cannot say
        how the format writes its output."""
        return self._built.response_template(tools)  # type: ignore[no-any-return, unused-ignore]

    def parse(self, prompt: str) -> "Any":
        """The conversation ``prompt`` was rendered from: a ``ParsedPrompt`` whose ``messages``,
        ``add_generation_prompt`` and ``variables`` render back to ``prompt`` exactly (every reading
        is checked by rendering it). Where the format loses information (trimmed whitespace, a
        default system message it writes itself, reasoning cut from history) the messages are the
        canonical ones. ``AmbiguousPromptError`` when two readings render back to ``prompt`` and
        one reads as a delimiter text the other reads as content; ``PromptParseError`` when the
        format cannot have written ``prompt``."""
        return self._built.parse(prompt)

    def to_jinja(self) -> str:
        """The format as a Jinja chat template that transformers' ``apply_chat_template`` renders
        byte-identically, refusals included (``raise_exception``); input using a feature not exported
        yet (``promptcraft._interop.export.GAPS``) makes the template raise, never write another prompt."""
        from ._interop.export import to_jinja

        return to_jinja(self)

    def lint(self) -> "Dict[str, Dict[str, list]]":
        """The texts a value (``"user"`` content, ``"system"`` text, ``"assistant reasoning"``, a role
        name...) must not hold for ``parse`` to read it back exactly: ``{value: {"contains" |
        "starts_with" | "ends_with": [texts]}}``, derived from the format alone."""
        return self._built.lint()

    def __repr__(self) -> str:
        return f"<Format {self.name!r} from {self.path or '<string>'}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Format) and other.spec == self.spec

    def __hash__(self) -> int:
        return hash(self.spec)

    def __reduce__(self) -> "Any":
        return self._recipe
