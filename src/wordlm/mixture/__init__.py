"""Mixtures: wordlm models and KenLM n-gram models interpolated per word, used wherever a model is.

    wordlm mix ptb-tied kn5.arpa -o mix.json --tune-on ptb.valid.txt     # EM weights (compute-best-mix)
    wordlm perplexity mix.json ptb.test.txt                               # any command taking MODEL

    import wordlm
    mix = wordlm.load("mix.json")          # a Mixture: score, full_scores, perplexity, next_words, ...

Modules: `file` (the JSON file: components by path, weights, convention), `components` (wordlm word
and character models, KenLM models through the `kenlm` module), `model` (the interpolation and its
OOV rule, the LanguageModel API), `em` (weights by EM on held-out text).
Not here: log-linear combination of several LMs in reranking (`wordlm.rerank`, `--lm A --lm B`).
"""

from __future__ import annotations

from pathlib import Path

from wordlm.mixture.file import ComponentSpec, MixtureSpec, check_weights, detect_kind, is_mixture_file, read, write


def load_mixture(path):
    """The `Mixture` a mixture file describes, its components loaded (errors name the file)."""
    from wordlm.errors import ModelError
    from wordlm.mixture.components import load_component
    from wordlm.mixture.model import Mixture
    from wordlm.text import Tokenizer

    spec = read(path)
    components = []
    for i, c in enumerate(spec.components, 1):
        try:
            components.append(load_component(spec.resolve(c), c.kind, str(path)))
        except ModelError as e:
            message = str(e)
            raise ModelError(message if message.startswith(str(path)) else f"{path}: component {i}: {message}") from None
    tokenizer = Tokenizer(spec.tokenizer["mode"], spec.tokenizer["lower"]) if spec.tokenizer else None
    try:
        return Mixture(components, spec.weights, tokenizer, spec)
    except ModelError as e:
        raise ModelError(f"{path}: {e}") from None


def build(paths, weights=None, where: str = "mix"):
    """A `Mixture` of component paths (model directories, ARPA or KenLM binary files); uniform weights by default."""
    from wordlm.errors import ModelError
    from wordlm.mixture.components import load_component
    from wordlm.mixture.model import Mixture

    paths = [Path(p) for p in paths]
    if not paths:
        raise ModelError(f"{where}: give at least one component")
    weights = check_weights(weights if weights is not None else [1.0 / len(paths)] * len(paths), where)
    if len(weights) != len(paths):
        raise ModelError(f"{where}: {len(weights)} weights for {len(paths)} components")
    components = [load_component(p, detect_kind(p), where) for p in paths]
    return Mixture(components, weights)


__all__ = ["ComponentSpec", "MixtureSpec", "build", "check_weights", "detect_kind", "is_mixture_file", "load_mixture",
           "read", "write"]
