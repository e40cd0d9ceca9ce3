"""What a lattice word is to the language models: a filler (no LM score, no word) or a word.

The filler rule (documented in the package docstring, checked by a test):
- `!NULL`, `!SENT_START`, `!SENT_END`, `<s>`, `</s>`, `<sil>`, `sil`, `-pau-`, `<eps>`, the empty word,
  any word in `[…]` or `++…++` (PocketSphinx's and Kaldi's noise words: `[NOISE]`, `++BREATH++`), any
  `<…>` except `<unk>`, and the words given with `--filler` are *fillers*: they add their acoustic
  (and first-pass LM) score to a path, but no LM score, no word bonus, nothing to the history and
  nothing to the text. `</s>` is scored once per path, on reaching the lattice's end node, whether
  or not the lattice writes it.
- A pronunciation variant `word(2)` is the word `word` (PocketSphinx's dictionary spelling).
- Any other word is read by each LM through its own tokenizer: one token → that token's id; a
  word its tokenizer drops entirely (punctuation) → a filler for every LM; a word it splits into
  several tokens → `<unk>` (a lattice link is one word of the recogniser's vocabulary).

Not here: reading the file (`slf.py`), the search (`search.py`).
"""

from __future__ import annotations

import re

FILLERS = frozenset({"!NULL", "!SENT_START", "!SENT_END", "<s>", "</s>", "<sil>", "sil", "-pau-", "<eps>", ""})
_VARIANT = re.compile(r"\(\d+\)$")


def base_word(word: str) -> str:
    """`word(2)` → `word` (a pronunciation variant); other words as they are."""
    return _VARIANT.sub("", word) if word.endswith(")") else word


def is_filler(word: str, extra=frozenset()) -> bool:
    """True for a word the LMs do not see (see the module docstring)."""
    w = base_word(word)
    if w in FILLERS or w in extra:
        return True
    if len(w) >= 2 and w[0] == "[" and w[-1] == "]":
        return True
    if len(w) >= 4 and w.startswith("++") and w.endswith("++"):
        return True
    return len(w) >= 2 and w[0] == "<" and w[-1] == ">" and w != "<unk>"


def lm_ids(lm, words: list[str], extra=frozenset()) -> tuple[list[bool], list[int]]:
    """For each lattice word: (filler?, this LM's id; -1 for a filler)."""
    fill, ids = [], []
    for w in words:
        if is_filler(w, extra):
            fill.append(True)
            ids.append(-1)
            continue
        tokens = lm.tokenize(base_word(w))
        if not tokens:
            fill.append(True)
            ids.append(-1)
        else:
            fill.append(False)
            ids.append(int(lm.word_ids(tokens)[0]) if len(tokens) == 1 else int(lm.unk_id))
    return fill, ids


def fillers_of(words: list[str], lms, extra=frozenset()) -> list[bool]:
    """A word is a filler when the rule says so, or when the first LM's tokenizer drops it; with no
    LM, the rule alone."""
    if not lms:
        return [is_filler(w, extra) for w in words]
    return lm_ids(lms[0], words, extra)[0]
