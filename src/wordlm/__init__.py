"""wordlm: word-based neural language models in Keras — train, score, rerank n-best lists, decode.

The front door. Everything a program needs is here; imports are lazy (PEP 562), so `import wordlm`
loads neither numpy nor TensorFlow until a name that needs them is used.

    import wordlm
    lm = wordlm.load("goose")                       # a LanguageModel (see wordlm.api for its methods)
    lm.score("jack and jill")                       # ln p(jack and jill </s> | <s>), natural log
    lm.perplexity("valid.txt").ppl
    lm.next_words("jack and", top=3)
    lm.generate("the queen of hearts", strategy="beam", beam_size=8, num=3)
    model = wordlm.train(["corpus.txt"], wordlm.TrainConfig(epochs=5), output="my-model")

Conventions: natural log everywhere; `<s>` is context only, `</s>` predicted and counted (KenLM/SRILM).
Errors: `WordlmError` (bad input: `InputError`; a bad model directory: `ModelError`).
"""

from __future__ import annotations

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "load": "wordlm.saving",
    "save": "wordlm.saving",
    "train": "wordlm.training",
    "TrainConfig": "wordlm.training",
    "ModelSize": "wordlm.model",
    "LanguageModel": "wordlm.lm",
    "TokenScore": "wordlm.api",
    "States": "wordlm.api",
    "Options": "wordlm.scoring",
    "SentenceScore": "wordlm.scoring",
    "Summary": "wordlm.scoring",
    "NextWord": "wordlm.scoring",
    "Filled": "wordlm.scoring",
    "DecodeOptions": "wordlm.decoding",
    "Hypothesis": "wordlm.decoding",
    "Utterance": "wordlm.nbest",
    "RecognizerHypothesis": "wordlm.nbest",
    "read_nbest": "wordlm.nbest",
    "WordlmError": "wordlm.errors",
    "InputError": "wordlm.errors",
    "ModelError": "wordlm.errors",
}

_NEEDS_TENSORFLOW = {"save", "train", "TrainConfig"}  # `load` imports it only for the TensorFlow runtime

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'wordlm' has no attribute {name!r}")
    import importlib

    if name in _NEEDS_TENSORFLOW:
        from wordlm.tf_quiet import import_tensorflow

        import_tensorflow()  # without TensorFlow's C++ start-up chatter on stderr
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
