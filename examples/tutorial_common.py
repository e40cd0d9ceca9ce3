"""Shared by the tutorial example scripts: train one framing on the rhyme and print as the tutorial did."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from wordlm.decoding import generate  # noqa: E402
from wordlm.demo import TUTORIAL_SIZE, rhyme_path  # noqa: E402
from wordlm.training import TrainConfig, train  # noqa: E402


def accuracy(lm, encoded_lines) -> float:
    """Share of training examples whose target is the model's most likely next token."""
    framing = lm.framing
    hits = total = 0
    for stream in framing.streams(encoded_lines):
        for t in range(framing.first_target, len(stream)):
            lp = lm.next_logprobs([stream[:t]])[0]
            hits += int(np.argmax(lp) == stream[t])
            total += 1
    return hits / total


def run(framing: str, prompts: list[str], context: int = 2, words: int = 6, seed: int = 4) -> None:
    config = TrainConfig(framing=framing, context=context, boundaries=False, size=TUTORIAL_SIZE,
                         epochs=500, batch_size=32, seed=seed)
    lm = train([rhyme_path()], config, verbose=0)
    lines = [lm.encode(line) for line in open(rhyme_path(), encoding="utf-8")]
    print(f"Vocabulary Size: {lm.vocab.num_words}")
    print(f"Total Sequences: {lm.info['examples']}")
    if framing == "line":
        print(f"Max Sequence Length: {lm.framing.max_length}")
    print(f"Training accuracy after 500 epochs: {accuracy(lm, lines):.2f}")
    for prompt in prompts:
        hyp = generate(lm, prompt, strategy="greedy", max_words=words)[0]
        print(hyp.text)
