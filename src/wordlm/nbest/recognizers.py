"""N-best formats of the neighbouring tools: SRILM, Kaldi, NeMo (read into `nbest.types.Utterance`s; imports only the data types).

| format  | layout (each field becomes a hypothesis field, natural log, larger is better) |
|---------|--------------------------------------------------------------------------------|
| `srilm` | SRILM's nbest-format(5), one utterance per file (its id: the file name up to the first `.`), or a directory of such files (sorted by name). `NBestList1.0` header, then `(score) w1 w2 …` (score: bytelog = log base 1.0001 / 1024 → field `score` in ln, `bytelog` as written); `NBestList2.0`, then `(score) w1 ( st: s et: e g: lm a: ac ) w2 …` (per-word bytelog LM and acoustic scores → fields `lm`, `acoustic` summed, `score` the total); no header: `ascore lscore nwords w1 …` (log10 → fields `acoustic`, `lm`, `score` = their sum) |
| `kaldi` | a directory: `text` with `UTT-N w1 w2 …` per hypothesis (Kaldi's `nbest-to-linear` keys: the utterance id, `-`, the hypothesis number), and cost files `KEY cost` per line (e.g. `ac_cost`, `lm_cost`): each file is a field of the same name holding **−cost** (a cost is a negative log-likelihood); `score` is the sum of those fields (unscaled: give `--am ac_cost=0.1,lm_cost=1` for an acoustic scale) |
| `nemo`  | NeMo's beam-search TSV (`eval_beamsearch_ngram.py --preds_output_folder`, read by its neural rescorer): `text<TAB>score` per line, `beam_size` consecutive lines per utterance (no ids: utterances are numbered 1, 2, …); `--beam-size` says how many |

None of these carries the reference: `--refs FILE` gives them, Kaldi's `text` format (`UTT w1 w2 …`
per line; for NeMo the utterance numbers). Errors name the file and line.
Not here: the JSON and TSV formats (`native.py`), the validation shared by all (`types.py`, `__init__.py`).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Iterator

from wordlm.errors import InputError
from wordlm.nbest.types import RecognizerHypothesis, Utterance, finite_number
from wordlm.text import read_lines

BYTELOG_TO_LN = 1024 * math.log(1.0001)  # a bytelog is log base 1.0001 divided by 1024
LN10 = math.log(10.0)


# -- SRILM ----------------------------------------------------------------------------------------
_SCORE = re.compile(r"^\((\S+)\)\s*(.*)$")


def read_srilm(path) -> Iterator[tuple[str, Utterance]]:
    """Utterances of a SRILM n-best file (one) or a directory of them (one per file, sorted)."""
    path = Path(path)
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    if not files:
        raise InputError(f"{path}: no n-best files in the directory")
    for f in files:
        utt_id = f.name.split(".")[0] or f.name
        yield f"utterance {utt_id} ({f})", Utterance(utt_id, list(_srilm_hyps(f)))


def _srilm_hyps(path) -> Iterator[RecognizerHypothesis]:
    name = str(path)
    version = None
    count = 0
    for number, line in read_lines(path):
        s = line.strip()
        if not s:
            continue
        if version is None:
            if s in ("NBestList1.0", "NBestList2.0"):
                version = s
                continue
            version = "SRILM"
        count += 1
        if version == "SRILM":
            parts = s.split()
            if len(parts) < 3:
                raise InputError(f"{name}:{number}: expected 'ascore lscore nwords w1 w2 ...' (SRILM n-best format)")
            ac, lm = (finite_number(name, number, parts[0], "acoustic score") * LN10,
                      finite_number(name, number, parts[1], "LM score") * LN10)
            words = parts[3:]
            if parts[2] != str(len(words)):
                raise InputError(f"{name}:{number}: says {parts[2]} words but has {len(words)}")
            yield RecognizerHypothesis(" ".join(words), {"score": ac + lm, "acoustic": ac, "lm": lm})
            continue
        m = _SCORE.match(s)
        if not m:
            raise InputError(f"{name}:{number}: expected '(score) w1 w2 ...' after the {version} header")
        bytelog = finite_number(name, number, m.group(1))
        rest = m.group(2).split()
        if version == "NBestList1.0":
            yield RecognizerHypothesis(" ".join(rest), {"score": bytelog * BYTELOG_TO_LN, "bytelog": bytelog})
            continue
        words, lm, ac, k = [], 0.0, 0.0, 0
        while k < len(rest):  # w ( st: s et: e g: lm a: ac )
            words.append(rest[k])
            k += 1
            if k < len(rest) and rest[k] == "(":
                end = rest.index(")", k) if ")" in rest[k:] else -1
                if end < 0:
                    raise InputError(f"{name}:{number}: unclosed '(' after the word {words[-1]!r}")
                marks = rest[k + 1 : end]
                for key, value in zip(marks[::2], marks[1::2]):
                    if key == "g:":
                        lm += finite_number(name, number, value, "LM score")
                    elif key == "a:":
                        ac += finite_number(name, number, value, "acoustic score")
                k = end + 1
        yield RecognizerHypothesis(" ".join(words), {"score": bytelog * BYTELOG_TO_LN, "bytelog": bytelog,
                                                     "lm": lm * BYTELOG_TO_LN, "acoustic": ac * BYTELOG_TO_LN})
    if count == 0:
        raise InputError(f"{name}: no hypotheses")


# -- Kaldi ----------------------------------------------------------------------------------------
_KEY = re.compile(r"^(.+)-(\d+)$")


def read_kaldi(path) -> Iterator[tuple[str, Utterance]]:
    """Utterances of a Kaldi-style n-best directory (`text` + cost files), in the order of `text`."""
    folder = Path(path)
    text = folder / "text"
    if not folder.is_dir() or not text.is_file():
        raise InputError(f"{path}: expected a directory with a Kaldi `text` file (UTT-N w1 w2 ...) and cost files")
    order: list[str] = []
    utts: dict[str, dict[int, tuple[str, str]]] = {}
    for number, line in read_lines(text):
        if not line.strip():
            continue
        key, _, words = line.strip().partition(" ")
        m = _KEY.match(key)
        if not m:
            raise InputError(f"{text}:{number}: key {key!r} is not UTT-N (Kaldi's n-best keys)")
        utt, n = m.group(1), int(m.group(2))
        if utt not in utts:
            utts[utt] = {}
            order.append(utt)
        if n in utts[utt]:
            raise InputError(f"{text}:{number}: duplicate key {key!r}")
        utts[utt][n] = (key, " ".join(words.split()))
    costs: dict[str, dict[str, float]] = {}
    for f in sorted(p for p in folder.iterdir() if p.is_file() and p.name != "text" and not p.name.startswith(".")):
        values = {}
        for number, line in read_lines(f):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise InputError(f"{f}:{number}: expected 'KEY cost' (a Kaldi cost file)")
            values[parts[0]] = -finite_number(str(f), number, parts[1], "cost")
        costs[f.name] = values
    for utt in order:
        hyps = []
        for n in sorted(utts[utt]):
            key, words = utts[utt][n]
            fields = {}
            for field, values in costs.items():
                if key not in values:
                    raise InputError(f"{folder / field}: no cost for {key!r} (every hypothesis of `text` needs one)")
                fields[field] = values[key]
            fields["score"] = sum(fields.values())
            hyps.append(RecognizerHypothesis(words, fields))
        yield f"utterance {utt}", Utterance(utt, hyps)


# -- NeMo -----------------------------------------------------------------------------------------
def read_nemo(path, beam_size: int | None) -> Iterator[tuple[str, Utterance]]:
    """Utterances of NeMo's beam TSV (`text<TAB>score`, `beam_size` lines each), numbered from 1."""
    name = str(path)
    if not beam_size or beam_size < 1:
        raise InputError(f"{name}: the NeMo beam format has no utterance ids: give --beam-size N "
                         "(the beam width it was decoded with)")
    hyps: list[RecognizerHypothesis] = []
    index, first_line = 0, 1
    last = 0
    for number, line in read_lines(path):
        last = number
        if not hyps:
            first_line = number
        text, tab, score = line.rpartition("\t")
        if not tab:
            raise InputError(f"{name}:{number}: expected text<TAB>score (NeMo's beam TSV)")
        hyps.append(RecognizerHypothesis(text, {"score": finite_number(name, number, score.strip())}))
        if len(hyps) == beam_size:
            index += 1
            yield f"utterance {index} (line {first_line})", Utterance(str(index), hyps)
            hyps = []
    if hyps:
        raise InputError(f"{name}:{last}: {len(hyps)} lines left over: the file's {last} lines are not a multiple "
                         f"of --beam-size {beam_size}")


def read_refs(path) -> dict[str, str]:
    """References in Kaldi's `text` format: `UTT w1 w2 …` per line."""
    refs = {}
    for number, line in read_lines(path):
        if not line.strip():
            continue
        utt, _, words = line.strip().partition(" ")
        if utt in refs:
            raise InputError(f"{path}:{number}: duplicate utterance id {utt!r}")
        refs[utt] = " ".join(words.split())
    return refs


def is_directory(path) -> bool:
    return path not in (None, "-") and os.path.isdir(path)
