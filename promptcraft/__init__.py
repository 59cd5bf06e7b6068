"""promptcraft: chat formats declared as data, compiled into fast renderers.

    >>> import promptcraft
    >>> fmt = promptcraft.for_model("HuggingFaceTB/SmolLM2-135M-Instruct")
    >>> fmt.render([{"role": "user", "content": "Hi"}], add_generation_prompt=True)
    '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n'

Importing this package loads no parser: TOML, argparse and the data model are
imported when a format is first loaded.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # keep `import promptcraft` free of typing
    from typing import Any

    from .format import Format

from ._version import __version__
from .errors import (
    ContinuationError,
    ControlTokenError,
    ConversationError,
    FormatError,
    InvalidMessageError,
    OptionsError,
    PromptcraftError,
    RefusedError,
    UnknownFormatError,
    UnsupportedFieldError,
)

__all__ = [
    "__version__",
    "Format",
    "get_format",
    "load_format",
    "loads_format",
    "for_model",
    "list_formats",
    "render",
    "PromptcraftError",
    "FormatError",
    "UnknownFormatError",
    "OptionsError",
    "ConversationError",
    "InvalidMessageError",
    "RefusedError",
    "ContinuationError",
    "ControlTokenError",
    "UnsupportedFieldError",
]


def get_format(name: str) -> "Format":
    """The built-in format called ``name`` (see ``list_formats()``)."""
    from .registry import get_format as get

    return get(name)


def for_model(model_id: str) -> "Format":
    """The built-in format serving the Hugging Face model ``model_id``.

    Raises ``UnknownFormatError`` (a ``LookupError``) with close matches when
    no built-in format declares the id.
    """
    from .registry import for_model as find

    return find(model_id)


def list_formats() -> list:
    """Names of the built-in formats."""
    from .registry import names

    return names()


def load_format(path: Any) -> "Format":
    """Load, validate and compile a TOML format file."""
    from .api import load_format as load

    return load(path)


def loads_format(text: str, *, path: Any = None) -> "Format":
    """Load, validate and compile a format from TOML text."""
    from .api import loads_format as loads

    return loads(text, path=path)


def render(messages: Any, format: Any, *, add_generation_prompt: bool = False,
           continue_final_message: bool = False, control_tokens: str = "keep", **variables: Any) -> str:
    """Render ``messages`` with ``format``: a built-in name, a path to a TOML file, or a ``Format``."""
    from .api import render as _render

    return _render(messages, format, add_generation_prompt=add_generation_prompt,
                   continue_final_message=continue_final_message, control_tokens=control_tokens, **variables)


def __getattr__(name: str) -> Any:
    if name == "Format":
        from .format import Format

        return Format
    raise AttributeError(f"module 'promptcraft' has no attribute {name!r}")
