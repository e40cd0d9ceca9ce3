"""Shared fixtures: the bundled rhyme, tiny seeded models trained once per session."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--runtime", choices=["auto", "tensorflow", "onnx"], default=None,
                     help="Run the suite's models under this runtime (sets WORDLM_RUNTIME: what `wordlm.load` "
                          "uses; with onnx, the in-process tiny models run through ONNX Runtime too).")


def pytest_configure(config):
    runtime = config.getoption("--runtime")
    if runtime:
        os.environ["WORDLM_RUNTIME"] = runtime

RHYME_LINES = [
    "Jack and Jill went up the hill",
    "To fetch a pail of water",
    "Jack fell down and broke his crown",
    "And Jill came tumbling after",
]


@pytest.fixture(scope="session")
def rhyme_file(tmp_path_factory):
    from wordlm.demo import rhyme_path

    return rhyme_path()


_MODELS = {}


def tiny_model(framing="sequence", boundaries=True, epochs=30, context=2, units=16, layers=1, **kw):
    """A tiny model trained on the rhyme (cached per process: same arguments, same object)."""
    key = (framing, boundaries, epochs, context, units, layers, tuple(sorted(kw.items())))
    if key not in _MODELS:
        from wordlm.demo import rhyme_path
        from wordlm.model import ModelSize
        from wordlm.training import TrainConfig, train

        config = TrainConfig(framing=framing, boundaries=boundaries, context=context, epochs=epochs,
                             size=ModelSize(8, units, layers, 0.0), batch_size=8, seed=0, **kw)
        _MODELS[key] = train([rhyme_path()], config, verbose=0)
        if os.environ.get("WORDLM_RUNTIME") == "onnx":  # `--runtime onnx`: inference through ONNX Runtime
            from wordlm.runtime.files import use_onnx

            use_onnx(_MODELS[key])
    return _MODELS[key]


@pytest.fixture(scope="session")
def seq_lm():
    """A 1-layer sequence model with boundaries, trained briefly on the rhyme."""
    return tiny_model("sequence")


@pytest.fixture(scope="session")
def serve_model_dir(tmp_path_factory):
    """The sequence model of `seq_lm`'s kind, saved: what the service tests serve."""
    path = tmp_path_factory.mktemp("serve") / "rhyme"
    tiny_model("sequence").save(path)
    return path


@pytest.fixture(scope="session")
def served(serve_model_dir):
    """A real `wordlm serve` process on 127.0.0.1 (a free port), shared by the service tests."""
    from serving import Server

    server = Server(serve_model_dir)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def served_lm(serve_model_dir):
    """The served model, loaded in this process: the library's own answers to compare with."""
    import wordlm

    return wordlm.load(serve_model_dir)
