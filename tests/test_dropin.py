"""Drop-in for transformers users: ``promptcraft.apply_chat_template`` takes transformers' call shape
and gives what ``tokenizer.apply_chat_template`` gives; model folders are served through
``identify``, never by a guess."""

from __future__ import annotations

import json
import os
import pickle
import warnings

import pytest
from conftest import require_corpus, require_transformers
from hf_reference import PUBLIC_CASES, corpus_entry, named_tokenizer_for, tokenizer_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import conversations
from test_equivalence import PAIRS, TOOL_USE_PAIRS, VARIABLES

import promptcraft
from promptcraft._identify import fingerprint, normalise

CASES = json.loads(PUBLIC_CASES.read_text(encoding="utf-8")) if PUBLIC_CASES.exists() else []


def hf(tokenizer, conversation, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return tokenizer.apply_chat_template(conversation, **kwargs)
        except Exception as error:  # the template refused: promptcraft must refuse too
            return ("refused", type(error).__name__)


def ours(*args, **kwargs):
    try:
        return promptcraft.apply_chat_template(*args, **kwargs)
    except promptcraft.PromptcraftError as error:
        return ("refused", type(error).__name__)


def hf_template(template, chat):
    from transformers.utils.chat_template_utils import render_jinja_template

    return render_jinja_template(conversations=[chat], chat_template=template)[0][0]


def same(want, got):
    if isinstance(want, tuple) or isinstance(got, tuple):
        return isinstance(want, tuple) and isinstance(got, tuple)
    return want == got


@pytest.mark.parametrize("name,stem", PAIRS, ids=[stem for _, stem in PAIRS])
def test_call_shape_matches_transformers(name, stem):
    """The tokenizer alone tells the format (its template is identified); template keywords the format
    does not read are left out as transformers leaves them out; a batch gives a list."""
    require_corpus()
    require_transformers()
    tokenizer = tokenizer_for(stem)
    assert promptcraft.identify(tokenizer.chat_template, bos_token=tokenizer.bos_token,
                                eos_token=tokenizer.eos_token).name == name
    extra = dict(VARIABLES, enable_thinking=False, some_server_flag=1)
    conversations = [case["messages"] for case in CASES[:12]]
    for conversation in conversations:
        for gen in (False, True):
            want = hf(tokenizer, conversation, tokenize=False, add_generation_prompt=gen, tools=None, **extra)
            got = ours(conversation, tokenizer=tokenizer, add_generation_prompt=gen, tools=None, **extra)
            assert same(want, got), (stem, conversation, gen)
    renderable = [c for c in conversations if not isinstance(hf(tokenizer, c, tokenize=False, **extra), tuple)]
    want = hf(tokenizer, renderable, tokenize=False, add_generation_prompt=True, **extra)
    assert ours(renderable, name, add_generation_prompt=True, **extra) == want


def test_message_objects_and_none_values_are_normalised_as_transformers_does():
    """OpenAI clients send content=None and tool_calls=None; transformers drops None values first."""
    fmt = promptcraft.get_format("qwen2.5")
    sent = [{"role": "user", "content": "Hi", "name": None},
            {"role": "assistant", "content": "Hello", "tool_calls": None}]
    assert promptcraft.apply_chat_template(sent, fmt) == fmt.render(
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}])


def test_options_transformers_has_and_promptcraft_does_not_are_refused_not_dropped():
    chat = [{"role": "user", "content": "Hi"}]
    for option in ({"chat_template": "tool_use"}, {"padding": True}, {"truncation": True}, {"max_length": 8},
                   {"return_tensors": "pt"}, {"sanitize_control_tokens": True}):
        with pytest.raises(promptcraft.OptionsError, match=next(iter(option))):
            promptcraft.apply_chat_template(chat, "qwen2.5", **option)
    with pytest.raises(promptcraft.OptionsError, match="tokenizer"):
        promptcraft.apply_chat_template(chat, "qwen2.5", tokenize=True)
    with pytest.raises(promptcraft.OptionsError, match="return_dict"):
        promptcraft.apply_chat_template(chat, "qwen2.5", tokenize=True, return_assistant_tokens_mask=True,
                                        tokenizer=object())
    # tools are still refused by a format that does not write them: transformers would leave them out
    # of a template that does not read them, promptcraft says so instead.
    with pytest.raises(promptcraft.UnsupportedFieldError, match="tool definitions"):
        promptcraft.apply_chat_template(chat, "smollm2", tools=[{"type": "function", "function": {"name": "f"}}])


def test_render_strict_false_leaves_out_unknown_keywords_only():
    fmt = promptcraft.get_format("smollm2")
    chat = [{"role": "user", "content": "Hi"}]
    with pytest.raises(promptcraft.OptionsError, match="enable_thinking"):
        fmt.render(chat, enable_thinking=False)
    assert fmt.render(chat, strict=False, enable_thinking=False) == fmt.render(chat)
    assert fmt.render_many([chat], strict=False, enable_thinking=False) == [fmt.render(chat)]
    assert fmt.render_spans(chat, strict=False, enable_thinking=False).text == fmt.render(chat)
    with pytest.raises(promptcraft.OptionsError, match="strict"):
        fmt.render(chat, strict="no")
    qwen3 = promptcraft.get_format("qwen3")  # a variable the format reads is still used and checked
    assert qwen3.render(chat, strict=False, enable_thinking=False, add_generation_prompt=True).endswith(
        "<think>\n\n</think>\n\n")
    with pytest.raises(promptcraft.OptionsError):
        qwen3.render(chat, strict=False, enable_thinking="no")


# --- identify and model folders ---------------------------------------------------------------

def test_identify_is_exact_up_to_what_jinja_normalises():
    require_corpus()
    entry = corpus_entry("Qwen--Qwen2.5-7B-Instruct")
    template = entry["chat_template"]
    assert promptcraft.identify(template).name == "qwen2.5"
    # Jinja's lexer reads these as the same source: line endings, one trailing newline.
    assert promptcraft.identify(template.replace("\n", "\r\n")).name == "qwen2.5"
    other = template[:-1] if template.endswith("\n") else template + "\n"
    assert promptcraft.identify(other).name == "qwen2.5" and fingerprint(other) == fingerprint(template)
    chat = [{"role": "user", "content": "Hi"}]
    assert hf_template(other, chat) == hf_template(template, chat)  # Jinja agrees
    assert normalise("a\r\nb\rc\n") == "a\nb\nc"
    # Anything else is another template, even one space or a second trailing newline.
    assert promptcraft.identify(template.replace("You are", "You  are", 1)) is None
    assert promptcraft.identify(template + "\n\n\n") is None
    assert promptcraft.identify("{{ messages }}") is None and promptcraft.identify(None) is None


def test_identify_checks_the_special_tokens_a_template_writes():
    require_corpus()
    entry = corpus_entry("meta-llama--Llama-3.1-8B-Instruct")  # writes bos_token
    assert promptcraft.identify(entry["chat_template"], bos_token=entry["bos_token"]).name == "llama-3.1"
    assert promptcraft.identify(entry["chat_template"], bos_token="<s>") is None
    qwen = corpus_entry("Qwen--Qwen2.5-7B-Instruct")  # writes neither: the tokens do not matter
    assert promptcraft.identify(qwen["chat_template"], bos_token="<s>", eos_token="</s>").name == "qwen2.5"


def write_folder(folder, entry, layout, tool_use=None):
    config = {"bos_token": {"__type": "AddedToken", "content": entry["bos_token"]} if entry["bos_token"] else None,
              "eos_token": entry["eos_token"]}
    if layout == "config":
        config["chat_template"] = entry["chat_template"]
    elif layout == "named":
        config["chat_template"] = [{"name": "default", "template": entry["chat_template"]},
                                   {"name": "rag", "template": "{{ documents }}"}]
        if tool_use is not None:
            config["chat_template"].append({"name": "tool_use", "template": tool_use})
    elif layout == "jinja":
        (folder / "chat_template.jinja").write_text(entry["chat_template"], encoding="utf-8")
        config["chat_template"] = "{{ 'ignored: the .jinja file wins' }}"
    elif layout == "processor":
        (folder / "chat_template.json").write_text(json.dumps({"chat_template": entry["chat_template"]}))
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")


@pytest.mark.parametrize("layout", ["config", "named", "jinja", "processor"])
def test_model_folders_under_an_unknown_id_are_served_byte_exact(tmp_path, layout):
    require_corpus()
    require_transformers()
    for name, stem in PAIRS:
        entry = corpus_entry(stem)
        folder = tmp_path / f"{stem}-{layout}"
        folder.mkdir()
        target = promptcraft.get_format(name).spec.tool_use
        write_folder(folder, entry, layout,
                     corpus_entry(dict(TOOL_USE_PAIRS)[target])["chat_template"] if target else None)
        if target is not None and layout != "named":
            # The format renders with its tool_use format when tools are given: a folder without that
            # template would render them another way, so it is not served.
            with pytest.raises(promptcraft.UnknownFormatError, match="tool_use"):
                promptcraft.from_pretrained(folder)
            continue
        fmt = promptcraft.from_pretrained(folder)
        assert fmt.name == name and "identified" in fmt.origin and fmt == promptcraft.get_format(name)
        assert promptcraft.for_model(str(folder)).name == name
        chat = [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"},
                {"role": "user", "content": "Thanks"}]
        variables = {k: v for k, v in VARIABLES.items() if k in fmt.variables}
        want = hf(tokenizer_for(stem), chat, tokenize=False, add_generation_prompt=True, **variables)
        got = ours(chat, folder, add_generation_prompt=True, **variables)
        assert same(want, got), stem
        assert pickle.loads(pickle.dumps(fmt)).render(chat, **variables) == fmt.render(chat, **variables)
        if target is not None:  # with tools, both render the folder's tool_use template
            tools = [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {}}}]
            want = hf(named_tokenizer_for(stem, dict(TOOL_USE_PAIRS)[target]), chat, tools=tools, tokenize=False,
                      **variables)
            got = ours(chat, folder, tools=tools, **variables)
            assert not isinstance(want, tuple) and want == got, stem


def test_folders_that_are_not_identified_are_refused_not_guessed(tmp_path):
    require_corpus()
    entry = corpus_entry("Qwen--Qwen2.5-7B-Instruct")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(
        {"chat_template": entry["chat_template"].replace("You are", "You are now", 1)}))
    with pytest.raises(promptcraft.UnknownFormatError, match="does not guess"):
        promptcraft.from_pretrained(tmp_path, allow_import=False)
    assert "imported" in promptcraft.from_pretrained(tmp_path).origin  # checked against the template first
    (tmp_path / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(promptcraft.UnknownFormatError, match="cannot read"):
        promptcraft.from_pretrained(tmp_path)
    with pytest.raises(promptcraft.UnknownFormatError, match="not a model folder"):
        promptcraft.from_pretrained(tmp_path / "missing")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": entry["chat_template"]}))
    (tmp_path / "additional_chat_templates").mkdir()
    (tmp_path / "additional_chat_templates" / "tool_use.jinja").write_text("{{ tools }}")
    # transformers would use the tool_use template with tools; qwen2.5 writes tools its own way
    with pytest.raises(promptcraft.UnknownFormatError, match="tool_use"):
        promptcraft.from_pretrained(tmp_path)


# --- token ids ---------------------------------------------------------------------------------

def trained_tokenizer(kind, special):
    """A small real tokenizer trained here: byte-level BPE, or SentencePiece-style (Metaspace + Unigram)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    corpus = [case_text for case in CASES for case_text in (m.get("content") for m in case["messages"])
              if isinstance(case_text, str)] * 3
    if kind == "bpe":
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=special,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    else:
        # "first": only the text's first piece gets the word-start mark, so a run's ids depend on
        # whether it opens the text (what the run cache must key on)
        scheme = "first" if kind == "sentencepiece-first" else "always"
        tokenizer = Tokenizer(models.Unigram())
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme=scheme)
        tokenizer.decoder = decoders.Metaspace(prepend_scheme=scheme)
        trainer = trainers.UnigramTrainer(vocab_size=400, special_tokens=special, unk_token="<unk>")
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    return tokenizer


@pytest.mark.parametrize("kind", ["bpe", "sentencepiece"])
@pytest.mark.parametrize("stem", ["Qwen--Qwen2.5-7B-Instruct", "meta-llama--Llama-3.1-8B-Instruct",
                                  "microsoft--Phi-4-reasoning"])
def test_token_ids_equal_transformers(kind, stem):
    require_corpus()
    require_transformers()
    from transformers import PreTrainedTokenizerFast

    entry = corpus_entry(stem)
    name = promptcraft.identify(entry["chat_template"]).name
    fmt = promptcraft.get_format(name)
    special = ["<unk>"] + [t for t in (entry["bos_token"], entry["eos_token"]) if t] + list(fmt.control_tokens)
    raw = trained_tokenizer(kind, list(dict.fromkeys(special)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, chat_template=entry["chat_template"],
                                            **{k: entry[k] for k in ("bos_token", "eos_token") if entry[k]})
    variables = {k: v for k, v in VARIABLES.items() if k in fmt.variables}
    checked = 0
    for case in CASES[:20]:
        chat = case["messages"]
        want = hf(tokenizer, chat, tokenize=True, return_dict=False, add_generation_prompt=True, **variables)
        if isinstance(want, tuple):
            continue
        checked += 1
        assert len(want) > 10
        assert ours(chat, tokenizer=tokenizer, tokenize=True, add_generation_prompt=True, **variables) == want
        # a tokenizers.Tokenizer gives the same ids as the transformers tokenizer around it
        assert ours(chat, name, tokenizer=raw, tokenize=True, add_generation_prompt=True, **variables) == want
        got = ours(chat, tokenizer=tokenizer, tokenize=True, return_dict=True, add_generation_prompt=True,
                   **variables)
        assert got["input_ids"] == want and got["attention_mask"] == [1] * len(want)
    assert checked >= 10


def test_assistant_masks_equal_transformers_generation_blocks():
    """Phi-4-reasoning's template marks assistant text with {% generation %}: transformers' masks
    come from those blocks, promptcraft's from its spans; they agree token for token."""
    require_corpus()
    require_transformers()
    from transformers import PreTrainedTokenizerFast

    stem = "microsoft--Phi-4-reasoning"
    entry = corpus_entry(stem)
    fmt = promptcraft.get_format("phi-4-reasoning")
    raw = trained_tokenizer("bpe", list(dict.fromkeys(["<unk>", *fmt.control_tokens])))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, chat_template=entry["chat_template"],
                                            **{k: entry[k] for k in ("bos_token", "eos_token") if entry[k]})
    checked = 0
    for case in CASES:
        chat = case["messages"]
        want = hf(tokenizer, chat, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
        if isinstance(want, tuple):
            continue
        got = ours(chat, tokenizer=tokenizer, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
        assert got["input_ids"] == want["input_ids"]
        assert got["assistant_masks"] == want["assistant_masks"], chat
        checked += 1
    assert checked >= 10


def wrapped(raw, stem):
    from transformers import PreTrainedTokenizerFast

    entry = corpus_entry(stem)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return PreTrainedTokenizerFast(tokenizer_object=raw, chat_template=entry["chat_template"],
                                       **{k: entry[k] for k in ("bos_token", "eos_token") if entry[k]})


RUN_CACHE_STEMS = ["Qwen--Qwen2.5-7B-Instruct", "meta-llama--Llama-3.1-8B-Instruct",
                   "mistralai--Mistral-7B-Instruct-v0.3"]


@pytest.mark.parametrize("kind", ["bpe", "sentencepiece", "sentencepiece-first"])
@pytest.mark.parametrize("stem", RUN_CACHE_STEMS)
def test_run_cache_gives_the_ids_of_the_whole_text(kind, stem):
    """Ids from cached runs between added tokens equal transformers' apply_chat_template(tokenize=True),
    request after request of a growing session (so runs are reused), on generated conversations."""
    require_corpus()
    require_transformers()
    from promptcraft._dropin import encoder_for

    entry = corpus_entry(stem)
    fmt = promptcraft.identify(entry["chat_template"])
    raw = trained_tokenizer(kind, list(dict.fromkeys(
        ["<unk>"] + [t for t in (entry["bos_token"], entry["eos_token"]) if t] + list(fmt.control_tokens))))
    tokenizer = wrapped(raw, stem)
    encoder = encoder_for(tokenizer)
    assert encoder.caching
    variables = {k: v for k, v in VARIABLES.items() if k in fmt.variables}

    @settings(max_examples=60, deadline=None, derandomize=bool(os.environ.get("CI")),
              suppress_health_check=[HealthCheck.too_slow])
    @given(chat=conversations(), gen=st.booleans())
    def run(chat, gen):
        for end in range(1, len(chat) + 1):
            want = hf(tokenizer, chat[:end], tokenize=True, return_dict=False, add_generation_prompt=gen,
                      **variables)
            got = ours(chat[:end], tokenizer=tokenizer, tokenize=True, add_generation_prompt=gen, **variables)
            assert same(want, got), (chat[:end], gen)

    run()
    assert encoder.hits > encoder.misses


def test_run_cache_steps_aside_where_added_tokens_do_not_split_simply():
    """An added token that strips its neighbours' spaces: whole texts are tokenised, the same ids."""
    from tokenizers import AddedToken

    from promptcraft._tokens import CachedEncoder

    raw = trained_tokenizer("bpe", ["<unk>", "<|im_start|>", "<|im_end|>"])
    assert CachedEncoder(raw).caching
    raw.add_special_tokens([AddedToken("<|x|>", lstrip=True)])
    encoder = CachedEncoder(raw)
    assert not encoder.caching
    text = "<|im_start|>user hello <|x|> there<|im_end|>"
    assert encoder.encode(text) == raw.encode(text, add_special_tokens=False).ids


def test_run_cache_is_bounded():
    from promptcraft._tokens import CachedEncoder

    raw = trained_tokenizer("bpe", ["<unk>", "<|im_start|>", "<|im_end|>"])
    encoder = CachedEncoder(raw, size=4)
    texts = [f"<|im_start|>user\nmessage {i}<|im_end|>\n" for i in range(20)]
    for text in texts:
        assert encoder.encode(text) == raw.encode(text, add_special_tokens=False).ids
    assert len(encoder._runs) <= 4


def test_run_cache_encode_and_encode_batch_interleaved_equal_the_backend():
    """Texts made of added tokens and odd runs (shared prefixes, empty runs, runs that differ only at
    the end), encoded one by one and in batches in any order, give the backend's ids."""
    for kind in ("bpe", "sentencepiece-first"):
        check_interleaved(trained_tokenizer(kind, ["<unk>", "<|im_start|>", "<|im_end|>", "<s>"]))


def check_interleaved(raw):
    from promptcraft._tokens import CachedEncoder

    encoder = CachedEncoder(raw, size=16)
    assert encoder.caching

    @settings(max_examples=150, deadline=None, derandomize=bool(os.environ.get("CI")))
    @given(st.lists(st.lists(st.sampled_from(["<|im_start|>", "<|im_end|>", "<s>", "user\n", " hi", "\n",
                                              "é東", "  ", "x"]), max_size=12), min_size=1, max_size=6),
           st.booleans())
    def run(parts, batch):
        texts = ["".join(p) for p in parts]
        texts += [texts[0] + "<|im_end|> more", texts[0][: len(texts[0]) // 2]]
        want = [raw.encode(t, add_special_tokens=False).ids for t in texts]
        got = encoder.encode_batch(texts) if batch else [encoder.encode(t) for t in texts]
        assert got == want, texts

    run()
