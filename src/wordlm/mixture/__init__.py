"""Mixtures: wordlm models and KenLM n-gram models interpolated per word, used wherever a model is.

    wordlm mix ptb-tied kn5.arpa -o mix.json --tune-on ptb.valid.txt     # EM weights (compute-best-mix)
    wordlm perplexity mix.json ptb.test.txt                               # any command taking MODEL

    import wordlm
    mix = wordlm.load("mix.json")          # a Mixture: score, full_scores, perplexity, next_words, ...

Modules: `file` (the JSON file: components by path, weights, convention), `components` (wordlm word
and character models, KenLM models through the `kenlm` module), `model` (the interpolation and its
OOV rule, the LanguageModel API), `em` (weights by EM on held-out text). Loading a mixture file or
a list of component paths (each a model directory or n-gram file) is `wordlm.loading`'s job
(`load`, `build_mixture`): nothing here reads a model directory.
Not here: log-linear combination of several LMs in reranking (`wordlm.rerank`, `--lm A --lm B`).
"""

from __future__ import annotations

from wordlm.mixture.file import ComponentSpec, MixtureSpec, check_weights, detect_kind, is_mixture_file, read, write


def from_components(components, weights, spec=None, where: str = "mix"):
    """A `Mixture` of loaded components (`components.py`) with their weights; `spec`: the mixture
    file read (its tokenizer). Loading the components' files is `loading.py`'s job."""
    from wordlm.errors import ModelError
    from wordlm.mixture.model import Mixture
    from wordlm.text import Tokenizer

    tokenizer = Tokenizer(spec.tokenizer["mode"], spec.tokenizer["lower"]) if spec is not None and spec.tokenizer \
        else None
    try:
        return Mixture(components, weights, tokenizer, spec)
    except ModelError as e:
        if spec is None:
            raise
        raise ModelError(f"{where}: {e}") from None


__all__ = ["ComponentSpec", "MixtureSpec", "check_weights", "detect_kind", "from_components", "is_mixture_file", "read",
           "write"]
