"""Loading any model the CLI takes: the one function at the top, `load(path)`.

    import wordlm
    lm = wordlm.load("goose")        # a model directory: a `LanguageModel`
    mix = wordlm.load("mix.json")    # a mixture file (`wordlm mix`): a `Mixture`
    ng = wordlm.load("kn5.arpa")     # an ARPA or KenLM binary file: an n-gram model (a mixture of one)

Every result implements the model interface (`protocol.LanguageModelLike`: vocabulary, tokenizer,
`begin`/`extend`) and the methods of `api.py` (score, full_scores, perplexity, next_words, generate,
rerank). What a path is comes from `files.model_kind`; each file is checked before TensorFlow starts
(a missing or broken model fails at once), and TensorFlow is imported only for a model that has a
network run by TensorFlow (`load(path, runtime=...)`: `wordlm.runtime`; a mixture's components run
by the same rule). A mixture's components are loaded here too (`build_mixture`, `load_mixture`): the mixture
package builds from loaded components and never reads a model directory itself.
Not here: reading a model directory (`saving.py`), the mixture file's format (`mixture/file.py`).
"""

from __future__ import annotations

from pathlib import Path

from wordlm.files import model_kind


def load(path, runtime: str | None = None):
    """The model at `path` (a model directory, a mixture `.json`, an ARPA/KenLM binary file);
    `ModelError` naming the file for anything wrong with it. `runtime` ("tensorflow", "onnx",
    "auto"; default `$WORDLM_RUNTIME`, else auto): what runs its network, a mixture's components'
    too (`wordlm.runtime`; under ONNX Runtime no TensorFlow is imported)."""
    kind = model_kind(path)
    if kind == "ngram":  # an n-gram file alone is a model too: a mixture of one
        return build_mixture([path], where=str(path))
    if kind == "mixture":
        return load_mixture(path, runtime)
    from wordlm.saving import read_config

    read_config(path)  # a missing or broken model directory fails at once
    _import_tensorflow(runtime)
    from wordlm.saving import load as load_directory

    return load_directory(path, runtime=runtime)


def load_mixture(path, runtime: str | None = None):
    """The `Mixture` a mixture file describes, its components loaded (errors name the file)."""
    from wordlm.errors import ModelError
    from wordlm.mixture import from_components, read

    spec = read(path)  # a missing or broken mixture file fails at once, before TensorFlow
    if any(c.kind == "wordlm" for c in spec.components):
        _import_tensorflow(runtime)
    components = []
    for i, c in enumerate(spec.components, 1):
        try:
            components.append(load_component(spec.resolve(c), c.kind, str(path), runtime))
        except ModelError as e:
            message = str(e)
            raise ModelError(message if message.startswith(str(path)) else f"{path}: component {i}: {message}") from None
    return from_components(components, spec.weights, spec, str(path))


def build_mixture(paths, weights=None, where: str = "mix", runtime: str | None = None):
    """A `Mixture` of component paths (model directories, ARPA or KenLM binary files); uniform weights by default."""
    from wordlm.errors import ModelError
    from wordlm.mixture import check_weights, detect_kind, from_components

    paths = [Path(p) for p in paths]
    if not paths:
        raise ModelError(f"{where}: give at least one component")
    weights = check_weights(weights if weights is not None else [1.0 / len(paths)] * len(paths), where)
    if len(weights) != len(paths):
        raise ModelError(f"{where}: {len(weights)} weights for {len(paths)} components")
    return from_components([load_component(p, detect_kind(p), where, runtime) for p in paths], weights, where=where)


def load_component(path: Path, kind: str, where: str, runtime: str | None = None):
    """The mixture component at `path` (kind "kenlm": an n-gram file; "wordlm": a model directory,
    its network run by `runtime` as `load`'s); errors name the mixture file (`where`) and the component."""
    if kind == "kenlm":
        from wordlm.mixture.components import NgramModel

        return NgramModel(str(path))
    from wordlm.mixture.components import component_of
    from wordlm.saving import load as load_directory

    return component_of(load_directory(path, runtime=runtime), path, where)


def _import_tensorflow(runtime: str | None = None) -> None:
    """TensorFlow, unless the network will run under ONNX Runtime (`wordlm.runtime.resolve`)."""
    from wordlm.runtime import resolve

    if resolve(runtime) == "onnx":
        return
    from wordlm.tf_quiet import import_tensorflow

    import_tensorflow()
