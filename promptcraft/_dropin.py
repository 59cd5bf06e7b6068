"""``apply_chat_template``: transformers' call shape over a promptcraft format.

Scripts written for ``tokenizer.apply_chat_template`` keep their arguments: a batch of
conversations, ``tools``, ``documents``, template keywords the format does not read (left out, as
transformers leaves them out), ``tokenize`` with ``return_dict`` and ``return_assistant_tokens_mask``.
``Format.render`` stays strict about unknown keywords; this entry point is not.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .errors import OptionsError, UnknownFormatError


def resolve(format: Any) -> Any:
    """A ``Format`` from a ``Format``, a built-in name, a TOML path, a model folder or a model id."""
    from ._format import Format

    if isinstance(format, Format):
        return format
    if isinstance(format, os.PathLike):
        format = os.fspath(format)
    if not isinstance(format, str):
        raise OptionsError(f"format must be a Format, a name, a path or a model id, got {type(format).__name__}")
    from . import _registry

    if format in _registry.names():
        return _registry.get_format(format)
    if os.path.isdir(format):
        from ._folder import from_pretrained

        return from_pretrained(format)
    if format.endswith(".toml") or os.path.isfile(format):
        from ._load import load_format

        return load_format(format, resolve=_registry.get_format)
    return _registry.for_model(format)


def _format_of_tokenizer(tokenizer: Any) -> Any:
    """The built-in format whose official template is the tokenizer's (``identify``), never a guess."""
    from ._identify import identify

    template = getattr(tokenizer, "chat_template", None)
    if not isinstance(template, str):
        raise UnknownFormatError("for", type(tokenizer).__name__,
                                 detail="the tokenizer has no chat template (a string): pass format=...")
    found = identify(template, bos_token=getattr(tokenizer, "bos_token", None),
                     eos_token=getattr(tokenizer, "eos_token", None))
    if found is None:
        raise UnknownFormatError("for the chat template of", type(tokenizer).__name__, detail=(
            "it is not the official template of a built-in format, and promptcraft does not guess: "
            "pass format=... (a name or a TOML path)"))
    return found


def _plain(message: Any, index: int) -> Dict[str, Any]:
    """A message as a dict without ``None`` values, as transformers normalises it before rendering
    (OpenAI clients send ``content=None`` and ``tool_calls=None``)."""
    if not isinstance(message, dict):
        if hasattr(message, "model_dump"):  # a pydantic model
            message = message.model_dump()
        elif hasattr(message, "__dataclass_fields__"):
            import dataclasses

            message = dataclasses.asdict(message)
        else:
            return message  # the renderer names what is wrong with it
    return {key: value for key, value in message.items() if value is not None}


def _is_batch(conversation: Any) -> bool:
    return (isinstance(conversation, (list, tuple)) and len(conversation) > 0
            and (isinstance(conversation[0], (list, tuple)) or hasattr(conversation[0], "messages")))


def apply_chat_template(conversation: Any, format: Any = None, *, tokenizer: Any = None, tools: Any = None,
                        documents: Any = None, add_generation_prompt: bool = False,
                        continue_final_message: "bool | str" = False, tokenize: bool = False, return_dict: bool = False,
                        return_assistant_tokens_mask: bool = False, tokenizer_kwargs: Optional[Dict[str, Any]] = None,
                        **kwargs: Any) -> Any:
    """Render (and with ``tokenize=True`` tokenise) as ``tokenizer.apply_chat_template`` does."""
    if format is None:
        if tokenizer is None:
            raise OptionsError("pass format=... (a Format, a name, a path, a model id or folder) or tokenizer=...")
        fmt = _format_of_tokenizer(tokenizer)
    else:
        fmt = resolve(format)
    if not tokenize:
        return_dict = False
    if return_assistant_tokens_mask and not (tokenize and return_dict):
        raise OptionsError("return_assistant_tokens_mask=True needs tokenize=True and return_dict=True")
    if tokenize and tokenizer is None:
        raise OptionsError("tokenize=True needs tokenizer=... (a transformers tokenizer or a tokenizers.Tokenizer)")
    batched = _is_batch(conversation)
    conversations = conversation if batched else [conversation]
    if isinstance(conversations, (list, tuple)) and any(
            isinstance(c, (list, tuple)) and len(c) == 0 for c in conversations):
        raise OptionsError("cannot apply a chat template to an empty conversation")
    _refuse_unsupported(kwargs)
    # Template keywords the format does not read are left out, as transformers leaves them out
    # (vLLM sends enable_thinking to every model); those it reads are checked by render.
    options: Dict[str, Any] = {key: value for key, value in kwargs.items() if key in fmt.variables}
    options.update(add_generation_prompt=add_generation_prompt, continue_final_message=continue_final_message)
    if tools is not None:
        options["tools"] = tools
    if documents is not None:
        options["documents"] = documents
    plain = [[_plain(m, i) for i, m in enumerate(getattr(c, "messages", c))] for c in conversations]
    if return_assistant_tokens_mask:
        rendered = [fmt.render_spans(c, **options) for c in plain]
        texts = [r.text for r in rendered]
        masks: Optional[List[List[Tuple[int, int]]]] = [r.mask() for r in rendered]
    else:
        texts = fmt.render_many(plain, **options)
        masks = None
    if not tokenize:
        return texts if batched else texts[0]
    encoded = [_encode(tokenizer, text, masks[i] if masks is not None else None, tokenizer_kwargs or {})
               for i, text in enumerate(texts)]
    if not return_dict:
        ids = [e["input_ids"] for e in encoded]
        return ids if batched else ids[0]
    if batched:
        return {key: [e[key] for e in encoded] for key in encoded[0]}
    return encoded[0]


#: transformers' own arguments that promptcraft does not implement, with the value that does nothing:
#: any other value is refused rather than taken for a template keyword and left out.
_UNSUPPORTED = {"chat_template": None, "sanitize_control_tokens": False, "padding": False, "truncation": False,
                "max_length": None, "return_tensors": None}


def _refuse_unsupported(kwargs: Dict[str, Any]) -> None:
    for name, neutral in _UNSUPPORTED.items():
        if name in kwargs:
            value = kwargs.pop(name)
            if value is not neutral and value != neutral:
                raise OptionsError(f"{name}={value!r} is not supported by promptcraft.apply_chat_template")


_encoders: Dict[int, Tuple[Any, Any]] = {}


def encoder_for(tokenizer: Any) -> Any:
    """The run-caching encoder of ``tokenizer`` (one per tokenizer object, a few kept), or ``None`` for a
    tokenizer without a ``tokenizers`` backend."""
    found = _encoders.get(id(tokenizer))
    if found is not None and found[0] is tokenizer:
        return found[1]
    from ._tokens import CachedEncoder, backend_of

    backend = backend_of(tokenizer)
    encoder = CachedEncoder(backend) if backend is not None else None
    if len(_encoders) >= 8:
        _encoders.pop(next(iter(_encoders)))
    _encoders[id(tokenizer)] = (tokenizer, encoder)  # the tokenizer is held, so its id is not reused
    return encoder


def _encode(tokenizer: Any, text: str, mask: Optional[Sequence[Tuple[int, int]]],
            tokenizer_kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """``input_ids`` and ``attention_mask`` (and ``assistant_masks``: 1 for each token that overlaps a
    character range of ``mask``, as transformers marks tokens from its generation spans)."""
    if mask is None and not tokenizer_kwargs:
        encoder = encoder_for(tokenizer)
        if encoder is not None:
            ids = encoder.encode(text)
            return {"input_ids": ids, "attention_mask": [1] * len(ids)}
    if hasattr(tokenizer, "encode_batch") and not callable(getattr(tokenizer, "apply_chat_template", None)):
        encoding = tokenizer.encode(text, add_special_tokens=False)  # a tokenizers.Tokenizer
        ids, offsets = list(encoding.ids), list(encoding.offsets)
        attention = [1] * len(ids)
    else:
        out = tokenizer(text, add_special_tokens=False, return_offsets_mapping=mask is not None, **tokenizer_kwargs)
        ids, attention = list(out["input_ids"]), list(out["attention_mask"])
        offsets = list(out["offset_mapping"]) if mask is not None else []
    result: Dict[str, Any] = {"input_ids": ids, "attention_mask": attention}
    if mask is not None:
        result["assistant_masks"] = _token_mask(offsets, mask)
    return result


def _token_mask(offsets: Sequence[Tuple[int, int]], ranges: Sequence[Tuple[int, int]]) -> List[int]:
    """1 for every token overlapping one of ``ranges`` (both sorted), in one pass."""
    marks = [0] * len(offsets)
    current = 0
    for position, (start, end) in enumerate(offsets):
        while current < len(ranges) and start >= ranges[current][1]:
            current += 1
        if current == len(ranges):
            break
        if end > ranges[current][0]:
            marks[position] = 1
    return marks
