"""The reference: transformers' real ``apply_chat_template`` path, on a tokenizer built offline.

Only tests and the ``verify`` command use this; promptcraft never imports transformers.
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
import warnings
from typing import Any, Dict

SHARED = pathlib.Path(
    os.environ.get("PROMPTCRAFT_SHARED", pathlib.Path(__file__).resolve().parents[1].parent / "shared")
)
CORPUS = pathlib.Path(os.environ.get("PROMPTCRAFT_CORPUS", SHARED / "chat-templates"))
PUBLIC_CASES = pathlib.Path(os.environ.get("PROMPTCRAFT_CASES", SHARED / "conversations" / "public.json"))


class Refused(Exception):
    """The reference refused the conversation (the template raised, or transformers did)."""


def corpus_entry(stem: str) -> Dict[str, Any]:
    return json.loads((CORPUS / f"{stem}.json").read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=None)
def tokenizer_for(stem: str):
    """A ``PreTrainedTokenizerFast`` carrying the corpus template and its special tokens."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    entry = corpus_entry(stem)
    vocab = {"<unk>": 0}
    for token in (entry["bos_token"], entry["eos_token"]):
        if token:
            vocab.setdefault(token, len(vocab))
    kwargs = {k: entry[k] for k in ("bos_token", "eos_token") if entry[k]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return PreTrainedTokenizerFast(
            tokenizer_object=Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>")),
            chat_template=entry["chat_template"],
            **kwargs,
        )


@functools.lru_cache(maxsize=None)
def named_tokenizer_for(default: str, tool_use: str):
    """A tokenizer carrying two named templates, as a model's ``tokenizer_config.json`` does: ``default``
    (the corpus file ``default``) and ``tool_use``, which transformers picks whenever tools are given."""
    tokenizer = tokenizer_for(default)
    templates = {"default": corpus_entry(default)["chat_template"],
                 "tool_use": corpus_entry(tool_use)["chat_template"]}
    named = tokenizer.__class__.__new__(tokenizer.__class__)
    named.__dict__.update(tokenizer.__dict__)
    named.chat_template = templates
    return named


def hf_render(stem: str, messages, *, add_generation_prompt=False, continue_final_message=False,
              tool_use: str = None, **kwargs) -> str:
    """Render through ``apply_chat_template(tokenize=False)``; raise ``Refused`` where it refuses.
    ``tool_use``: the corpus file of the model's named ``tool_use`` template, ``stem`` being its default."""
    import jinja2

    tokenizer = tokenizer_for(stem) if tool_use is None else named_tokenizer_for(stem, tool_use)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=add_generation_prompt,
                continue_final_message=continue_final_message, **kwargs,
            )
    except (jinja2.TemplateError, ValueError, TypeError, RecursionError) as error:
        # RecursionError: a template macro calling itself without end (Hermes' type macro on an unknown type).
        raise Refused(f"{type(error).__name__}: {error}") from error
