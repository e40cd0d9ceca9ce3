"""Writing the SavedModel atomically, checking it against the library, and describing it.

Not here: what the graph computes (`graph.py`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
from pathlib import Path

import numpy as np
import tensorflow as tf

from wordlm.errors import ModelError
from wordlm.export.destination import FORMAT, MARKER, check_destination
from wordlm.export.graph import DEFAULT_TOP, build_module
from wordlm.files import naming
from wordlm.lm import LanguageModel
from wordlm.locking import hold
from wordlm.vocab import RESERVED

SIGNATURES = ("score", "next_words")
TOLERANCE = 1e-4  # largest |Δ logprob| the export check accepts (float32 graphs agree to ~1e-6)


def probe_sentences(lm: LanguageModel) -> list[str]:
    """A few sentences to check an export with: in-vocabulary words, upper case, an OOV, punctuation, ''."""
    words = lm.vocab.id_to_token[len(RESERVED) : len(RESERVED) + 6]
    text = lm.tokenizer.detokenize(words)
    return ["", text, text.upper(), f"{text}, zzqxv-{text[:3]}!", " ".join(words[:2]), "<unk> " + text[:4]]


def check_export(lm: LanguageModel, served, sentences) -> float:
    """Largest |logprob difference| between a loaded export and the library over `sentences`.

    Also raises ModelError when token counts or the top next words differ.
    """
    out = served.signatures["score"](sentences=tf.constant(sentences, dtype=tf.string))
    expected = [float(np.sum(s)) for s in lm.stream_logprobs([lm.stream(t) for t in sentences])]
    worst = float(np.max(np.abs(out["logprob"].numpy() - np.array(expected)), initial=0.0))
    for t, n in zip(sentences, out["tokens"].numpy()):
        if n != len(lm.tokens(t)):
            raise ModelError(f"export check failed: {t!r} has {len(lm.tokens(t))} tokens but the graph read {n}")
    prompts = [t for t in sentences if lm.history(t)]
    if prompts:
        nxt = served.signatures["next_words"](prompt=tf.constant(prompts, dtype=tf.string))
        lib = lm.next_logprobs([lm.history(t) for t in prompts])
        k = nxt["logprobs"].shape[1]
        top = -np.sort(-lib, axis=1)[:, :k]
        worst = max(worst, float(np.max(np.abs(np.where(np.isfinite(top), top - nxt["logprobs"].numpy(), 0.0)))))
    if not worst <= TOLERANCE:
        raise ModelError(f"export check failed: the SavedModel's log-probabilities differ from the library's by {worst:.3g}")
    return worst


def export(lm: LanguageModel, out_dir, top: int = DEFAULT_TOP, overwrite: bool = False) -> dict:
    """Write `lm` as a SavedModel to `out_dir` (atomically) and check it; returns a summary dict.

    `out_dir` must not exist, or be an empty folder, or (with `overwrite`) a previous export
    (`destination.check_destination`). TensorFlow Serving loads
    numbered version folders: export to `models/NAME/1`, then `models/NAME/2`, ...
    A model loaded under ONNX Runtime (no `keras_model`) is loaded again from its directory under
    TensorFlow: the SavedModel is built from the Keras network.
    """
    if lm.has_network and lm.keras_model is None and lm.source is not None:
        from wordlm.saving import load

        lm = load(lm.source, runtime="tensorflow")
    out = check_destination(out_dir, overwrite, lm.source)
    out.parent.mkdir(parents=True, exist_ok=True)
    with hold(out, export=True, what="export"):  # one writer per destination (locking.py)
        check_destination(out_dir, overwrite, lm.source)  # again, now that no one else writes it
        return _write(lm, out, top)


def _write(lm: LanguageModel, out: Path, top: int) -> dict:
    tmp = out.with_name(f".{out.name}.tmp-{secrets.token_hex(4)}")
    try:
        module = build_module(lm, top)
        signatures = {"serving_default": module.score, "score": module.score, "next_words": module.next_words}
        with naming(out), _os_errors(out):  # a full disk: one line naming the export, no TensorFlow stack
            tf.saved_model.save(module, str(tmp), signatures=signatures)
            extra = tmp / "assets.extra"
            extra.mkdir(exist_ok=True)
            (tmp / MARKER).write_text(json.dumps(_metadata(lm, module.top), indent=1, ensure_ascii=False), "utf-8")
        probes = probe_sentences(lm)
        difference = check_export(lm, tf.saved_model.load(str(tmp)), probes)
        _replace_dir(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return {"out": str(out), "top": module.top, "probes": len(probes), "max_difference": difference}


@contextlib.contextmanager
def _os_errors(out: Path):
    """TensorFlow's file errors while writing (`ResourceExhaustedError: …/saved_model.pb.tmp…; No space
    left on device`) as the `OSError` they are, naming the export folder and the reason only."""
    try:
        yield
    except tf.errors.OpError as e:
        reason = str(e.message).rsplit("; ", 1)[-1].strip() or type(e).__name__
        code = errno.ENOSPC if "No space left" in reason else errno.EIO
        raise OSError(code, f"cannot write the export: {reason}", str(out)) from None


def _replace_dir(src: Path, dst: Path) -> None:
    """Rename `src` to `dst`; an existing `dst` is first moved aside, then deleted."""
    old = None
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{secrets.token_hex(4)}")
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _metadata(lm: LanguageModel, top: int) -> dict:
    """What the export holds, for people (TensorFlow Serving ignores `assets.extra/`)."""
    return {
        "format": FORMAT,
        "signatures": {"score": "sentences -> logprob, tokens, words, oovs", "next_words": f"prompt -> words, logprobs (top {top})"},
        "conventions": "natural log; </s> predicted and counted; <s> never predicted; OOV scored as <unk>",
        "tokenizer": lm.tokenizer.to_config(),
        "framing": lm.framing.to_config(),
        "reverse": lm.reverse,
        "size": lm.size.to_config(),
        "vocab_size": lm.vocab_size,
        "info": lm.info,
    }


def describe(top: int) -> list[str]:
    """One line per signature: inputs → outputs, with dtypes and shapes."""
    return [
        "score (also serving_default): sentences <string>[B] -> logprob <float64>[B], tokens <int64>[B], "
        "words <int64>[B], oovs <int64>[B]",
        f"next_words: prompt <string>[B] -> words <string>[B, {top}], logprobs <float32>[B, {top}]",
    ]
