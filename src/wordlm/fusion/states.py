"""The LM side of shallow fusion, decoder-agnostic: lazy states, one batched model call per frame,
a bounded cache of histories, word ids without the model, a prefix trie of the vocabulary.

An outside decoder (pyctcdecode, flashlight-text) asks, one word at a time, "ln p(word | state) and
the state after it". The number only needs the *parent's* next-token distribution, which is already
there; the *child's* distribution is needed only when the child is itself extended (a later frame)
or ends the line (`</s>`). So a child is created pending (`Node.row is None`), and the first time
any pending node's distribution is asked for, every pending node is evaluated in ONE
`lm.extend(rows, parents, ids)` call (`FusionLM.flush`). A decoder frame asks for the children of
the frame before, so it costs at most one model call, however many words its beams complete.

Evaluated histories are kept in an LRU cache keyed by `rows.key(r)` (the whole history for an LSTM,
the last n-1 words for an n-gram model), bounded in bytes (`cache_mb`): a history seen in an
earlier utterance ("show me the", "what is the") is not evaluated again.

Not here: the decoders' conventions (α, β, unknown-word offsets, `</s>`): `pyctc.py`, `flashlight.py`.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import numpy as np

from wordlm.inference.rows import Rows


class Node:
    """One LM state: a history (ids read after the start), its 1-row `Rows` once evaluated (None while
    pending), its children by word id (so the same word from the same state is one node)."""

    __slots__ = ("history", "key", "row", "children", "__weakref__")

    def __init__(self, history: tuple, key, row: Rows | None):
        self.history, self.key, self.row = history, key, row
        self.children: dict[int, Node] = {}


class PrefixTrie:
    """The vocabulary's spellings by prefix: `prefix in trie` (some word starts with it) and
    `trie.ids(prefix)` <int64>[k] (the ids of the words that start with it). Built once, O(Σ len)."""

    def __init__(self, spellings: dict[str, int]):
        table: dict[str, list[int]] = {}
        for word, i in spellings.items():
            for end in range(1, len(word) + 1):
                table.setdefault(word[:end], []).append(i)
        self._ids = {p: np.asarray(v, dtype=np.int64) for p, v in table.items()}

    def __contains__(self, prefix: str) -> bool:
        return prefix in self._ids

    def ids(self, prefix: str) -> np.ndarray:
        return self._ids.get(prefix, np.zeros(0, dtype=np.int64))


class FusionLM:
    """A wordlm model (anything of `protocol.LanguageModelLike`) as the decoders' LM: nodes, lazily
    evaluated in one batched `extend` per flush, cached by history key in a bounded LRU.

    `spell`: how the decoder writes a vocabulary word (e.g. `str.upper` for upper-case CTC labels);
    `word_id(w)` maps a decoder word back through the model's tokenizer (a word the tokenizer does
    not read as exactly one vocabulary word is `<unk>`). Counters: `calls` (model calls), `rows`
    (rows evaluated), `hits` (children found in the cache).
    """

    def __init__(self, lm, *, cache_mb: float = 256.0, spell: Callable[[str], str] | None = None):
        self.lm = lm
        self.eos_id, self.unk_id = int(lm.eos_id), int(lm.unk_id)
        self.vocab_size = int(lm.vocab_size)
        self.spell = spell or (lambda w: w)
        self._word_ids: dict[str, int] = {}
        root = lm.begin(1)
        self.context = root.context
        self.root_row = root
        self._cache: OrderedDict = OrderedDict()
        state_bytes = 0 if root.state is None else root.state.shape[1] * 4
        self.entry_bytes = self.vocab_size * 4 + state_bytes + 256  # logprobs, LSTM state, history/overhead
        self.max_entries = max(16, int(cache_mb * 2**20 // self.entry_bytes))
        self._pending: list[tuple[Node, Node, int]] = []
        self._trie: PrefixTrie | None = None
        self.calls = self.rows = self.hits = 0

    # -- words ----------------------------------------------------------------------------------
    def vocabulary(self) -> dict[str, int]:
        """{decoder spelling: id} of the model's words (no markers: `<s>`, `</s>`, `<unk>`, `<pad>`)."""
        out = {}
        for i, w in enumerate(self.lm.words):
            if i not in (self.eos_id, self.unk_id) and not (w.startswith("<") and w.endswith(">")):
                out.setdefault(self.spell(w), i)
        return out

    def word_id(self, word: str) -> int:
        """The model's id of a decoder word (no model call; memoised): through the model's tokenizer,
        `unk_id` where it is not read as exactly one vocabulary word."""
        i = self._word_ids.get(word)
        if i is None:
            tokens = self.lm.tokenize(word)
            i = int(self.lm.word_ids(tokens)[0]) if len(tokens) == 1 else self.unk_id
            self._word_ids[word] = i
        return i

    @property
    def trie(self) -> PrefixTrie:
        """The prefix trie of `vocabulary()` (built on first use)."""
        if self._trie is None:
            self._trie = PrefixTrie(self.vocabulary())
        return self._trie

    # -- states ---------------------------------------------------------------------------------
    def start(self) -> Node:
        """A fresh start-of-line node (after `<s>`; its row is computed once per `FusionLM`). Starting
        an utterance drops the nodes still pending from the one before (nobody will ask for them)."""
        self._pending.clear()
        return Node(self.root_row.histories[0], self.root_row.key(0), self.root_row)

    def _key(self, history: tuple):
        """`Rows.key` of a history not evaluated yet (the same rule: whole history or last `context` ids)."""
        c = self.context
        return history if c is None else history[len(history) - c:] if c else ()

    def child(self, node: Node, word_id: int) -> Node:
        """The node after reading `word_id` from `node`: memoised per parent, from the cache when its
        history was evaluated before, else pending (evaluated at the next flush)."""
        child = node.children.get(word_id)
        if child is None:
            history = (*node.history, word_id)
            key = self._key(history)
            row = self._cache.get(key)
            if row is not None:
                self._cache.move_to_end(key)
                self.hits += 1
            child = Node(history, key, row)
            if row is None:
                self._pending.append((child, node, word_id))
            node.children[word_id] = child
        return child

    def logprobs(self, node: Node) -> np.ndarray:
        """<float32>[vocab]: ln p(next token | node's history); flushes the pending nodes if needed."""
        if node.row is None:
            self.flush()
        return node.row.logprobs[0]

    def logprob(self, node: Node, word_id: int) -> float:
        return float(self.logprobs(node)[word_id])

    def flush(self) -> None:
        """Evaluate every pending node in one `lm.extend` call (parents first if any is pending)."""
        while self._pending:
            todo = [(c, p, w) for c, p, w in self._pending if c.row is None]
            ready = [(c, p, w) for c, p, w in todo if p.row is not None]
            self._pending = [t for t in todo if t[1].row is None]
            if not ready:
                raise RuntimeError("fusion: pending nodes whose parents are never evaluated")
            # the same history may be pending twice (two parents with equal keys): evaluate it once
            unique: dict = {}
            for c, p, w in ready:
                unique.setdefault(c.key, (p, w))
            keys = list(unique)
            parents = Rows.concat([unique[k][0].row for k in keys])
            out = self.lm.extend(parents, np.arange(len(keys)), np.array([unique[k][1] for k in keys]))
            self.calls += 1
            self.rows += len(keys)
            rows = {k: out[i] for i, k in enumerate(keys)}
            for c, _, _ in ready:
                c.row = rows[c.key]
            for k, row in rows.items():
                self._cache[k] = row
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)

    def clear(self) -> None:
        """Forget cached histories and counters (the model is kept)."""
        self._cache.clear()
        self._pending.clear()
        self.calls = self.rows = self.hits = 0

    @property
    def cached(self) -> int:
        return len(self._cache)

    # -- partial words --------------------------------------------------------------------------
    def prefix_logprob(self, node: Node, prefix: str) -> float:
        """ln Σ p(w | node's history) over the vocabulary words spelled with `prefix` (-inf if none):
        the LM's own look-ahead for a word being spelled (needs the node's distribution)."""
        ids = self.trie.ids(prefix)
        if not len(ids):
            return -np.inf
        lp = self.logprobs(node)[ids].astype(np.float64)
        m = lp.max()
        return float(m + np.log(np.exp(lp - m).sum())) if np.isfinite(m) else -np.inf
