"""promptcraft: chat formats declared as data, compiled into fast renderers.

    >>> import promptcraft
    >>> fmt = promptcraft.for_model("HuggingFaceTB/SmolLM2-135M-Instruct")
    >>> print(fmt.render([{"role": "user", "content": "Hi"}], add_generation_prompt=True), end="")
    <|im_start|>system
    You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
    <|im_start|>user
    Hi<|im_end|>
    <|im_start|>assistant

Importing this package loads no parser: TOML, argparse and the data model are
imported when a format is first loaded.
"""

from ._version import __version__
from .errors import (
    AmbiguousPromptError,
    ContinuationError,
    ControlTokenError,
    ConversationError,
    FormatError,
    InvalidMessageError,
    OptionsError,
    OutputError,
    PromptcraftError,
    PromptParseError,
    RefusedError,
    TemplateImportError,
    UnknownFormatError,
    UnsupportedFieldError,
    VerifyError,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # keep `import promptcraft` free of typing
    import os
    from typing import Any, Union

    from ._format import Format
    from ._types import Message as Message

    FormatLike = Union[str, os.PathLike, Format]

__all__ = [
    "__version__",
    "Format",
    "Rendered",
    "Span",
    "ParsedPrompt",
    "PreparedTools",
    "prepare_tools",
    "Message",
    "get_format",
    "load_format",
    "loads_format",
    "for_model",
    "from_pretrained",
    "identify",
    "import_template",
    "apply_chat_template",
    "list_formats",
    "render",
    "PromptcraftError",
    "FormatError",
    "UnknownFormatError",
    "OptionsError",
    "ConversationError",
    "InvalidMessageError",
    "RefusedError",
    "UnsupportedFieldError",
    "ContinuationError",
    "ControlTokenError",
    "VerifyError",
    "TemplateImportError",
    "OutputError",
    "PromptParseError",
    "AmbiguousPromptError",
]


def get_format(name: str) -> "Format":
    """The built-in format called ``name`` (see ``list_formats()``)."""
    from ._registry import get_format as get

    return get(name)


def for_model(model_id: "Any", *, allow_import: bool = True) -> "Format":
    """The built-in format serving the Hugging Face model ``model_id``, or the model in a local
    folder (see ``from_pretrained``; ``allow_import`` is passed on to it).

    Raises ``UnknownFormatError`` (a ``LookupError``) with close matches when
    no built-in format declares the id.
    """
    import os

    if isinstance(model_id, os.PathLike) or (isinstance(model_id, str) and os.path.isdir(model_id)):
        return from_pretrained(model_id, allow_import=allow_import)
    from ._registry import for_model as find

    return find(model_id)


def from_pretrained(folder: "Any", *, allow_import: bool = True) -> "Format":
    """The format of a local model folder (tokenizer_config.json, chat_template.jinja, ...): the
    built-in format its chat template identifies as, else the template imported (``import_template``:
    it runs in a bounded sandbox, needs jinja2, and is checked before it is served); ``Format.origin``
    says which, and ``Format.stop`` adds generation_config.json's end-of-sequence tokens. With
    ``allow_import=False`` a template that is not a built-in's is refused. No network access."""
    from ._folder import from_pretrained as read

    return read(folder, allow_import=allow_import)


def import_template(chat_template: str, *, bos_token: "Any" = None, eos_token: "Any" = None,
                    name: "Any" = None, cases: int = 300, seed: int = 0, builtins: bool = True) -> "Format":
    """A format that renders as the Jinja ``chat_template`` does, read off probe renders in a bounded
    sandbox and checked on ``cases`` generated conversations before it is returned;
    ``TemplateImportError`` says what could not be reproduced. ``builtins``: a built-in format that
    agrees with the template may be the candidate (renamed), besides the ones read off the probes."""
    from ._interop.probe import import_template as read

    return read(chat_template, bos_token=bos_token, eos_token=eos_token, name=name, count=cases, seed=seed,
                builtins=builtins)


def identify(chat_template: str, *, bos_token: "Any" = None, eos_token: "Any" = None) -> "Any":
    """The built-in format whose official template is ``chat_template`` (exactly, up to what Jinja
    itself normalises), else ``None``. Never a guess."""
    from ._identify import identify as find

    return find(chat_template, bos_token=bos_token, eos_token=eos_token)


def apply_chat_template(conversation: "Any", format: "Any" = None, **options: "Any") -> "Any":
    """transformers' ``tokenizer.apply_chat_template`` call shape (a batch, ``tools``, ``documents``,
    ``tokenize``, ``return_dict``, ``return_assistant_tokens_mask``, template keywords the format does
    not read left out), with ``format`` a ``Format``, a name, a path, a model id or a model folder, or
    omitted when ``tokenizer=`` is given and its template identifies a built-in format."""
    from ._dropin import apply_chat_template as apply

    return apply(conversation, format, **options)


def list_formats() -> list:
    """Names of the built-in formats."""
    from ._registry import names

    return names()


def load_format(path: "Any") -> "Format":
    """Load, validate and compile a TOML format file."""
    from ._load import load_format as load
    from ._registry import get_format

    return load(path, resolve=get_format)  # a tool_use key names a built-in format


def loads_format(text: str, *, path: "Any" = None) -> "Format":
    """Load, validate and compile a format from TOML text."""
    from ._load import loads_format as loads
    from ._registry import get_format

    return loads(text, path=path, resolve=get_format)  # a tool_use key names a built-in format


def _resolve_format(format: "FormatLike") -> "Format":
    """A ``Format`` from a format, a built-in name, or a path to a TOML file."""
    import os

    from ._format import Format

    if isinstance(format, Format):
        return format
    if isinstance(format, os.PathLike) or (isinstance(format, str) and (format.endswith(".toml") or "/" in format
                                                                        or os.sep in format)):
        return load_format(format)
    if isinstance(format, str):
        return get_format(format)
    raise TypeError(f"format must be a name, a path or a Format, got {type(format).__name__}")


def prepare_tools(tools: "Any") -> "Any":
    """Tool definitions (dicts or callables) checked and serialised once: pass the result as
    ``render(..., tools=...)`` on every request instead of the list, which a render must otherwise
    read in full to know it did not change."""
    from ._runtime.tools import prepare_tools as prepare

    return prepare(tools)


def render(messages: "Any", format: "FormatLike", *, add_generation_prompt: bool = False,
           continue_final_message: "bool | str" = False, control_tokens: str = "keep", **variables: "Any") -> str:
    """Render ``messages`` with ``format``: a built-in name, a path to a TOML file, or a ``Format``."""
    return _resolve_format(format).render(
        messages, add_generation_prompt=add_generation_prompt,
        continue_final_message=continue_final_message, control_tokens=control_tokens, **variables,
    )


def __getattr__(name: str) -> "Any":
    if name == "Format":
        from ._format import Format

        return Format
    if name in ("Rendered", "Span"):
        from ._runtime import rendered

        return getattr(rendered, name)
    if name == "Message":
        from ._types import Message

        return Message
    if name == "ParsedPrompt":
        from ._parse.prompt import ParsedPrompt

        return ParsedPrompt
    if name == "PreparedTools":
        from ._runtime.tools import PreparedTools

        return PreparedTools
    raise AttributeError(f"module 'promptcraft' has no attribute {name!r}")


def __dir__() -> list:
    return sorted(__all__)
