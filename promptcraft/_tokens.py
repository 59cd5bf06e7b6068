"""Token ids that do not cost what the text costs: a cache of the ids of each run between added tokens.

Hugging Face tokenizers split the text on their added tokens (the special tokens a chat format writes)
before normalising and pre-tokenising, and handle each piece on its own. So a prompt's ids are its
pieces' ids in order, and a server that re-tokenises the whole history on every request only needs the
ids of the pieces it has not seen. ``CachedEncoder`` keeps them in a bounded LRU, keyed on the piece's
text and on whether it opens the text (a Metaspace pre-tokenizer treats the first piece apart).

Where splitting is not that simple (an added token that strips its neighbours' spaces, matches single
words only, or is matched after a normaliser), the encoder tokenises whole texts: the same ids, no cache.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple

#: (start, ids before start, boundaries before start, [(run, added token before it) or ("", token)])
_Pieces = Tuple[int, List[int], List[Tuple[int, int, str]], List[Tuple[str, Optional[str]]]]


def backend_of(tokenizer: Any) -> Any:
    """The ``tokenizers.Tokenizer`` behind ``tokenizer`` (itself, or a transformers fast tokenizer's)."""
    if hasattr(tokenizer, "encode_batch") and hasattr(tokenizer, "get_added_tokens_decoder"):
        return tokenizer
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and hasattr(backend, "get_added_tokens_decoder"):
        return backend
    return None


class CachedEncoder:
    """``encode(text)`` gives ``backend.encode(text, add_special_tokens=False).ids``, reusing the ids of
    every run between added tokens it has seen (at most ``size`` runs kept)."""

    def __init__(self, backend: Any, size: int = 65536) -> None:
        import regex

        self.backend = backend
        self.size = size
        self._runs: "OrderedDict[Tuple[str, bool], List[int]]" = OrderedDict()
        self.hits = self.misses = 0
        added = backend.get_added_tokens_decoder()
        has_normalizer = backend.normalizer is not None
        simple = all(not (t.lstrip or t.rstrip or t.single_word or (t.normalized and has_normalizer))
                     for t in added.values())
        self._ids: Dict[str, int] = {t.content: i for i, t in added.items()}
        if simple and self._ids:
            # longest first: the backend matches the longest added token at a position
            alternatives = sorted(self._ids, key=len, reverse=True)
            self._split: Optional[Any] = regex.compile("|".join(regex.escape(a) for a in alternatives))
        else:
            self._split = None
        # The previous text, with (position after an added token, ids before it, that token) for each
        # added token: a text that starts like it reuses its ids up to the last shared boundary. Only
        # when no added token is a prefix of another, so the matches before a boundary cannot change.
        self._last: Optional[Tuple[str, List[Tuple[int, int, str]], List[int]]] = None
        self._prefix_free = not any(a != b and b.startswith(a) for a in self._ids for b in self._ids)

    @property
    def caching(self) -> bool:
        """Whether runs are cached (False: each text is tokenised whole)."""
        return self._split is not None

    def encode(self, text: str) -> List[int]:
        if self._split is None:
            return list(self.backend.encode(text, add_special_tokens=False).ids)
        return self._assemble(text, self._pieces(text))

    def encode_batch(self, texts: Sequence[str]) -> List[List[int]]:
        """``encode`` of each text; the runs none of them has in the cache are tokenised in one batch
        (the backend spreads a batch over its threads)."""
        if self._split is None:
            return [list(e.ids) for e in self.backend.encode_batch(list(texts), add_special_tokens=False)]
        pieces = [self._pieces(text) for text in texts]
        missing: Dict[Tuple[str, bool], Optional[str]] = {}
        for listed in pieces:
            for run, before in listed[3]:
                key = (run, before is None)
                if key not in self._runs and key not in missing:
                    missing[key] = before
        if missing:
            keys = list(missing)
            inputs = [run if before is None else before + run for (run, _), before in missing.items()]
            for key, before, encoding in zip(keys, missing.values(),
                                             self.backend.encode_batch(inputs, add_special_tokens=False)):
                self._store(key, list(encoding.ids) if before is None else list(encoding.ids)[1:])
        return [self._assemble(text, listed) for text, listed in zip(texts, pieces)]

    def _pieces(self, text: str) -> "_Pieces":
        """Where the text stops sharing the previous text's ids (a position just after an added token,
        from ``_last``), those ids and boundaries, and the runs after it as ``(run, added token before
        it)``; the added tokens themselves are ``("", token)`` entries, so the list is the text in order."""
        start, ids, boundaries, before = self._reuse(text)
        items: List[Tuple[str, Optional[str]]] = []
        position = start
        for match in self._split.finditer(text, start):  # type: ignore[union-attr]
            if match.start() > position:
                items.append((text[position:match.start()], before))
            before, position = match.group(), match.end()
            items.append(("", before))
        if position < len(text):
            items.append((text[position:], before))
        return start, ids, boundaries, items

    def _reuse(self, text: str) -> Tuple[int, List[int], List[Tuple[int, int, str]], Optional[str]]:
        """The longest boundary of the previous text that ``text`` starts with (binary search: the
        prefixes that match are the shorter ones), the ids and boundaries before it, and its token."""
        last = self._last
        if last is None or not self._prefix_free:
            return 0, [], [], None
        previous, boundaries, ids = last
        low, high = 0, len(boundaries)
        while low < high:
            middle = (low + high) // 2
            if text.startswith(previous[:boundaries[middle][0]]):
                low = middle + 1
            else:
                high = middle
        if low == 0:
            return 0, [], [], None
        position, count, token = boundaries[low - 1]
        return position, ids[:count], boundaries[:low], token

    def _assemble(self, text: str, pieces: "_Pieces") -> List[int]:
        start, ids, boundaries, items = pieces
        position = start
        for run, before in items:
            if run:
                ids += self._run(run, before)
                position += len(run)
            elif before is not None:  # an added token
                ids.append(self._ids[before])
                position += len(before)
                boundaries.append((position, len(ids), before))
        self._last = (text, boundaries, ids)
        return list(ids)

    def _run(self, run: str, before: Optional[str]) -> List[int]:
        key = (run, before is None)
        runs = self._runs
        found = runs.get(key)
        if found is not None:
            runs.move_to_end(key)
            self.hits += 1
            return found
        self.misses += 1
        if before is None:
            found = list(self.backend.encode(run, add_special_tokens=False).ids)
        else:
            # After an added token, as in the whole text: encode it behind that token and drop its id.
            found = list(self.backend.encode(before + run, add_special_tokens=False).ids)[1:]
        self._store(key, found)
        return found

    def _store(self, key: Tuple[str, bool], ids: List[int]) -> None:
        runs = self._runs
        runs[key] = ids
        if len(runs) > self.size:
            runs.popitem(last=False)
