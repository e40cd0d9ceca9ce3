"""The demo: the tutorial's rhyme under each framing, and what each model learned.

Trains the tutorial's three framings (`word`, `line`, `window` 2) and the whole-line `sequence`
framing on the bundled "Jack and Jill" rhyme without boundary markers (the tutorial's setting:
vocabulary 21; 24 / 21 / 23 examples), then shows each model's next words after "jack" and the
lines it generates greedily from "jack" and "jill".
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np

from wordlm.model import ModelSize
from wordlm.training import TrainConfig, train

# The tutorial's network: Embedding(10) → LSTM(50) → softmax, 500 epochs, Adam.
TUTORIAL_SIZE = ModelSize(embedding_dim=10, units=50, layers=1, dropout=0.0)
FRAMINGS = (("word", 1), ("line", 1), ("window", 2), ("sequence", 1))
# The window model reads two words: like the tutorial's Model 3, it is prompted with two.
PROMPTS = {"window": ("jack and", "and jill")}
DEFAULT_PROMPTS = ("jack", "jill")


@dataclass
class DemoResult:
    framing: str
    vocab_words: int
    examples: int
    next_prompt: str
    next_words: list[tuple[str, float]]  # after next_prompt: (word, probability)
    lines: dict[str, str]  # prompt -> greedy line
    seconds: float


def rhyme_path() -> str:
    """Path of the bundled rhyme (ships inside the package)."""
    return str(resources.files("wordlm") / "data" / "rhyme.txt")


def greedy_line(lm, prompt: str, max_tokens: int) -> str:
    """The prompt extended greedily until `</s>` or `max_tokens` tokens in the line."""
    from wordlm.decoding import generate

    return generate(lm, prompt, strategy="greedy", max_words=max(0, max_tokens - len(lm.encode(prompt))))[0].text


def run_demo(epochs: int = 500, seed: int = 4) -> list[DemoResult]:
    path = rhyme_path()
    results = []
    for name, context in FRAMINGS:
        config = TrainConfig(
            framing=name, context=context, boundaries=False, size=TUTORIAL_SIZE, epochs=epochs, batch_size=32, seed=seed
        )
        lm = train([path], config, verbose=0)
        prompts = PROMPTS.get(name, DEFAULT_PROMPTS)
        lp = lm.next_logprobs([lm.history(prompts[0])])[0].astype(np.float64)
        top = np.argsort(-lp)[:3]
        longest = max(len(line.split()) for line in open(path, encoding="utf-8"))
        results.append(
            DemoResult(
                framing=name if name != "window" else f"window {context}",
                vocab_words=lm.vocab.num_words,
                examples=lm.info["examples"],
                next_prompt=prompts[0],
                next_words=[(lm.vocab.id_to_token[i], float(np.exp(lp[i]))) for i in top],
                lines={p: greedy_line(lm, p, longest) for p in prompts},
                seconds=lm.info["train_seconds"],
            )
        )
    return results
