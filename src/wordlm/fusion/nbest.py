"""From search to rerank: a decoder's final beams as an n-best list that `wordlm rerank`/`tune` read.

One JSON object per utterance (the `jsonl` n-best format, `wordlm.nbest`):
`{"utt_id", "ref"?, "hyps": [{"text", "score", "ctc", "lm", "words"}, ...]}`, best first, where
- `ctc`: the acoustic (CTC) log-score of the beam (pyctcdecode's logit score; flashlight's
  emittingModelScore), natural log;
- `lm`: what the fused LM added: pyctcdecode: combined − logit = α·ln p(text </s>) + β·words (+ OOV
  offsets); flashlight: its `lmScore` (ln p(text </s>), raw: the decoder's lm_weight not applied);
- `score`: the decoder's own total (what it ranked by).
So `wordlm rerank OTHER fused.jsonl --am score=1 --lm-weight W` adds another LM to the decoder's own
total, and `--am ctc=1` rescores the acoustic score with an LM alone (`wordlm tune` picks the
weights). With the fused model itself and the same α, β, `--am ctc=1` differs from the decoder's
choice only on OOV words: rerank scores them as `<unk>`, without pyctcdecode's `unk_score_offset`.

Not here: the decoders (`pyctc.py`, `flashlight.py`), reading n-best files (`wordlm.nbest`).
"""

from __future__ import annotations

import json
from typing import Iterable


def pyctcdecode_record(utt_id: str, beams, ref: str | None = None) -> dict:
    """The record of one utterance from pyctcdecode's `decode_beams` output
    (text, lm_state, word_frames, logit_score, combined_score)."""
    hyps = []
    for beam in beams:
        text, logit, combined = beam[0], float(beam[-2]), float(beam[-1])
        hyps.append({"text": text, "score": combined, "ctc": logit, "lm": combined - logit,
                     "words": len(text.split())})
    return _record(utt_id, hyps, ref)


def flashlight_record(utt_id: str, results, words, ref: str | None = None) -> dict:
    """The record of one utterance from flashlight's `DecodeResult`s; `words`: the decoder's word list."""
    hyps = []
    for r in results:
        text = " ".join(words[i] for i in r.words if i >= 0)
        hyps.append({"text": text, "score": float(r.score), "ctc": float(r.emittingModelScore),
                     "lm": float(r.lmScore), "words": len(text.split())})
    return _record(utt_id, hyps, ref)


def _record(utt_id, hyps, ref):
    if not hyps:
        hyps = [{"text": "", "score": 0.0, "ctc": 0.0, "lm": 0.0, "words": 0}]
    record = {"utt_id": str(utt_id)}
    if ref is not None:
        record["ref"] = ref
    record["hyps"] = hyps
    return record


def write_jsonl(records: Iterable[dict], path) -> int:
    """Write records one per line; returns how many."""
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
            n += 1
    return n
