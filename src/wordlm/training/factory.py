"""A new, untrained LanguageModel from a TrainConfig: the one model factory.

`new_model(config, vocab, longest_stream)` builds the framing and a freshly initialised network
(seeded by `config.seed`) around a vocabulary; a `line` framing's input length is the longest
encoded stream. Its two callers differ only in where the vocabulary and that length come from:
`train` counts a streamed corpus on disk (`corpus.encode_corpus`), `new_language_model` an
in-memory `Corpus` (tests and benchmarks that need an untrained model).
"""

from __future__ import annotations

from wordlm.framings import LineFraming, make_framing
from wordlm.lm import LanguageModel
from wordlm.model import build_model
from wordlm.text import Tokenizer
from wordlm.training.config import TrainConfig
from wordlm.training.corpus import Corpus
from wordlm.vocab import Vocabulary


def tokenizer_for(config: TrainConfig) -> Tokenizer:
    return Tokenizer("char" if config.framing == "char" else config.tokenizer, config.lower)


def new_framing(config: TrainConfig):
    return make_framing(config.framing, config.boundaries, config.context)


def new_model(config: TrainConfig, vocab: Vocabulary, longest_stream: int | None = None, framing=None) -> LanguageModel:
    """The untrained model: `config`'s tokenizer, framing (or the one given) and network over `vocab`.

    `longest_stream`: tokens of the longest encoded line, `<s>`/`</s>` included (needed by the
    `line` framing, whose input is a whole padded line)."""
    import keras

    framing = framing or new_framing(config)
    if isinstance(framing, LineFraming):
        framing.set_max_length(longest_stream or 0)
    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
    network = build_model(len(vocab), framing.input_length, framing.recurrent, config.size)
    info = {"reverse": config.reverse, "train_config": config.to_config()}
    return LanguageModel(tokenizer_for(config), vocab, framing, config.size, network, info)


def new_language_model(corpus: Corpus, config: TrainConfig) -> LanguageModel:
    """An untrained model whose vocabulary (and line length) come from an in-memory corpus."""
    config.validate()
    vocab = Vocabulary.build(corpus.lines, config.min_count, config.max_vocab)
    framing = new_framing(config)
    longest = max((len(framing.line(vocab.encode(t))) for t in corpus.lines), default=0)
    return new_model(config, vocab, longest, framing)
