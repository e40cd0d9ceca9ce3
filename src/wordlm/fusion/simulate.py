"""Simulated CTC emissions from a reference text: for tests, examples and the fusion benchmark.

These are NOT acoustic model outputs: a seeded noise model makes a character-CTC posterior matrix
whose errors look like a weak recogniser's (wrong letters, merged words, unsure frames), so that a
language model inside the search has something to fix. The model, per reference character:

- frames: the character holds 1-3 frames (uniform), followed by 0-2 blank frames; a blank frame is
  always put between two equal characters (CTC needs it); 1-2 blank frames open and close the line;
- dropped spaces: a space becomes a blank frame with probability `drop_space` (words run together);
- substitutions: with probability `sub` the character's frames put their top mass on a confusable
  letter (`CONFUSABLE`: vowels, b/p, d/t, g/k/c, m/n, s/z/c, f/v/ph, l/r, w/v, y/i, ...), the true
  letter second;
- posteriors: each frame is peaked (top label 0.9; with probability 1 − `flat`) or flat (top label
  0.35-0.6); the second label gets half of what is left and the rest is spread (a Dirichlet) over
  every label, so every label has some mass; blank frames are peaked or flat the same way, with a
  confusable of the neighbouring character second.

`emissions(text, labels, rng)` → <float32>[frames, labels] natural-log posteriors (rows sum to 1);
labels are pyctcdecode's (`""` the blank, `" "` the space); upper-case labels spell an upper-cased text.
Not here: decoding (`pyctc.py`, `flashlight.py`).
"""

from __future__ import annotations

import numpy as np

GROUPS = ["aeiou", "bp", "dt", "gkc", "mn", "szc", "fv", "lr", "wv", "yi", "jg", "xks", "qk", "hf"]
CONFUSABLE = {c: sorted({o for g in GROUPS if c in g for o in g if o != c}) for g in GROUPS for c in g}


def emissions(text: str, labels, rng: np.random.Generator, *, sub: float = 0.1, drop_space: float = 0.1,
              flat: float = 0.3, alpha: float = 0.3) -> np.ndarray:
    """<float32>[frames, len(labels)] log-posteriors for `text` under the noise model above."""
    labels = list(labels)
    index = {c: i for i, c in enumerate(labels)}
    blank = index[""]
    upper = all(c.isupper() for c in labels if c.isalpha())
    text = " ".join(text.split())
    text = text.upper() if upper else text.lower()
    frames: list[tuple[int, int]] = []  # (top label, second label)

    def confusable(c: str) -> int:
        options = [o.upper() if upper else o for o in CONFUSABLE.get(c.lower(), [])]
        options = [o for o in options if o in index]
        return index[options[rng.integers(len(options))]] if options else int(rng.integers(len(labels)))

    for _ in range(int(rng.integers(1, 3))):
        frames.append((blank, confusable(text[0]) if text else blank))
    previous = None
    for c in text:
        if c not in index:
            continue
        if c == " " and rng.random() < drop_space:
            frames.append((blank, index[" "]))
            previous = None
            continue
        if previous == c:
            frames.append((blank, index[c]))
        top, second = index[c], confusable(c) if c != " " else blank
        if c != " " and rng.random() < sub:
            top, second = second, top
        for _ in range(int(rng.integers(1, 4))):
            frames.append((top, second))
        for _ in range(int(rng.integers(0, 3))):
            frames.append((blank, index[c]))
        previous = c if frames[-1][0] != blank else None
    for _ in range(int(rng.integers(1, 3))):
        frames.append((blank, index[" "]))
    out = np.empty((len(frames), len(labels)), dtype=np.float64)
    for t, (top, second) in enumerate(frames):
        p_top = 0.9 if rng.random() >= flat else rng.uniform(0.35, 0.6)
        rest = rng.dirichlet(np.full(len(labels), alpha)) * (1 - p_top) / 2
        row = rest
        row[top] += p_top
        row[second] += (1 - p_top) / 2
        out[t] = row / row.sum()
    return np.log(np.maximum(out, 1e-12)).astype(np.float32)


def greedy(log_probs: np.ndarray, labels) -> str:
    """Best path: the top label of each frame, repeats merged, blanks dropped, spaces normalised."""
    labels = list(labels)
    best = np.asarray(log_probs).argmax(axis=1)
    out, previous = [], None
    for i in best.tolist():
        if i != previous and labels[i] != "":
            out.append(labels[i])
        previous = i
    return " ".join("".join(out).split())
