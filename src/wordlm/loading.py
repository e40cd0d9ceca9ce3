"""Loading any model the CLI takes: the one function at the top, `load(path)`.

    import wordlm
    lm = wordlm.load("goose")        # a model directory: a `LanguageModel`
    mix = wordlm.load("mix.json")    # a mixture file (`wordlm mix`): a `Mixture`
    ng = wordlm.load("kn5.arpa")     # an ARPA or KenLM binary file: an n-gram model (a mixture of one)

Every result implements the model interface (`protocol.LanguageModelLike`: vocabulary, tokenizer,
`begin`/`extend`) and the methods of `api.py` (score, full_scores, perplexity, next_words, generate,
rerank). What a path is comes from `files.model_kind`; each file is checked before TensorFlow starts
(a missing or broken model fails at once), and TensorFlow is imported only for a model that has a
network. Not here: reading a model directory (`saving.py`), a mixture file or an n-gram file
(`mixture/`).
"""

from __future__ import annotations

from wordlm.files import model_kind


def load(path):
    """The model at `path` (a model directory, a mixture `.json`, an ARPA/KenLM binary file);
    `ModelError` naming the file for anything wrong with it."""
    kind = model_kind(path)
    if kind == "ngram":  # an n-gram file alone is a model too: a mixture of one
        from wordlm.mixture import build

        return build([path], where=str(path))
    if kind == "mixture":
        from wordlm.mixture import load_mixture, read

        spec = read(path)  # a missing or broken mixture file fails at once
        if any(c.kind == "wordlm" for c in spec.components):
            _import_tensorflow()
        return load_mixture(path)
    from wordlm.saving import read_config

    read_config(path)  # a missing or broken model directory fails at once
    _import_tensorflow()
    from wordlm.saving import load as load_directory

    return load_directory(path)


def _import_tensorflow() -> None:
    from wordlm.tf_quiet import import_tensorflow

    import_tensorflow()
