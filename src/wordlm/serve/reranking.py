"""Batch reranking for `POST /v1/rerank`: n-best lists given as objects or as a file's text, read and
validated by the CLI's own readers, and reranked a few hundred hypotheses at a time.

- `utterances_of(objects, am, field)`: `jsonl`-style objects (`{"utt_id", "ref", "hyps"}`) as
  `nbest.Utterance`s, each validated as a line of a file would be, texts read as the CLI reads
  lines (a leading BOM dropped, a line break refused), ids unique, at most `MAX_HYPS` hypotheses;
- `read_nbest_text(text, fmt, am, beam_size)`: the text of an n-best file in any single-file format
  (`read_nbest` on a private temporary copy; errors name `nbest` and the line, never the copy);
- `rerank_in_parts(lm, utts, ...)`: `lm.rerank`, `RERANK_PART_HYPS` hypotheses at a time, the
  budget checked between parts (the scorer's trie calls the network directly, past the watched
  primitives), so that a large batch can be cut or give way to short requests.
Every problem is an `InputError` (the endpoint's 422). The records are those `wordlm rerank --json`
prints (`tests/test_serve_rerank.py`).

Not here: the endpoint and the weights' checks (`app.py`), the formats (`nbest.py`).
"""

from __future__ import annotations

import os
import tempfile

from wordlm.errors import InputError
from wordlm.serve import schemas as s
from wordlm.serve.budget import checkpoint


def _texts(obj: dict, field: str, index: int | None) -> dict:
    """An utterance object with its texts read as the CLI reads lines (`schemas.one_line`)."""
    if not isinstance(obj, dict):
        return obj
    at = field if index is None else f"{field}[{index}]"
    out = dict(obj)
    try:
        if isinstance(out.get("ref"), str):
            out["ref"] = s.one_line(out["ref"])
        if isinstance(out.get("hyps"), list):
            hyps = []
            for i, h in enumerate(out["hyps"]):
                if isinstance(h, dict) and isinstance(h.get("text"), str):
                    try:
                        h = {**h, "text": s.one_line(h["text"])}
                    except ValueError as e:
                        raise ValueError(f"hypothesis {i + 1}: text {e}") from None
                hyps.append(h)
            out["hyps"] = hyps
    except ValueError as e:
        raise InputError(f"{at}: {e}") from None
    return out


def utterances_of(objects: list, am: dict, field: str) -> list:
    """The `nbest.Utterance`s of jsonl-style objects, validated as a file's lines would be."""
    from wordlm.nbest import utterance_from_json

    utts, seen, hyps = [], set(), 0
    for i, obj in enumerate(objects):
        at = field if field == "hyps" else f"{field}[{i}]"
        utt = utterance_from_json(_texts(obj, field, None if field == "hyps" else i), am, at)
        if utt.utt_id in seen:
            raise InputError(f"{at}: duplicate utterance id {utt.utt_id!r}")
        seen.add(utt.utt_id)
        hyps += len(utt.hyps)
        if hyps > s.MAX_HYPS:
            raise InputError(f"more than {s.MAX_HYPS:,} hypotheses in one request: split the batch")
        utts.append(utt)
    return utts


RERANK_PART_HYPS = 512  # hypotheses per model call of a batch rerank: a cut, or a turn for others, between


def rerank_in_parts(lm, utts: list, **weights) -> list[dict]:
    """`lm.rerank(utts, **weights)`, a few hundred hypotheses at a time (the scorer's trie calls the
    network directly, past the watched primitives): the budget is checked between parts."""
    records, part, size = [], [], 0
    for utt in utts:
        part.append(utt)
        size += len(utt.hyps)
        if size >= RERANK_PART_HYPS:
            checkpoint()
            records += lm.rerank(part, **weights)
            part, size = [], 0
    if part:
        checkpoint()
        records += lm.rerank(part, **weights)
    return records


def read_nbest_text(text: str, fmt: str, am: dict, beam_size: int | None) -> list:
    """The utterances of an n-best file given as text, read by the CLI's own reader (`read_nbest`);
    its errors name `nbest` (and the line) instead of a temporary file."""
    from wordlm.nbest import read_nbest

    with tempfile.TemporaryDirectory(prefix="wordlm-nbest-") as folder:
        path = os.path.join(folder, "nbest")
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        try:
            utts, hyps = [], 0
            for utt in read_nbest(path, fmt, required=am, beam_size=beam_size):
                hyps += len(utt.hyps)
                if len(utts) >= s.MAX_UTTERANCES or hyps > s.MAX_HYPS:
                    raise InputError(f"more than {s.MAX_UTTERANCES:,} utterances or {s.MAX_HYPS:,} hypotheses in one "
                                     "request: split the n-best file")
                for h in utt.hyps:
                    h.text = s.one_line_or_error(h.text, f"utterance {utt.utt_id}: hypothesis")
                utts.append(utt)
        except InputError as e:
            raise InputError(str(e).replace(path, "nbest").replace(folder + os.sep, "")) from None
        return utts
