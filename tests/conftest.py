"""Shared fixtures: the bundled rhyme, tiny seeded models trained once per session."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import shutil  # noqa: E402

import pytest  # noqa: E402

from helpers import TINY, RHYME_LINES, cli_run, one_line_error, tiny_model  # noqa: E402,F401  (the shared helpers)


def pytest_addoption(parser):
    parser.addoption("--runtime", choices=["auto", "tensorflow", "onnx"], default=None,
                     help="Run the suite's models under this runtime (sets WORDLM_RUNTIME: what `wordlm.load` "
                          "uses; with onnx, the in-process tiny models run through ONNX Runtime too).")


def pytest_configure(config):
    runtime = config.getoption("--runtime")
    if runtime:
        os.environ["WORDLM_RUNTIME"] = runtime


@pytest.fixture(scope="session")
def rhyme_file(tmp_path_factory):
    from wordlm.demo import rhyme_path

    return rhyme_path()


@pytest.fixture(scope="session")
def seq_lm():
    """A 1-layer sequence model with boundaries, trained briefly on the rhyme."""
    return tiny_model("sequence")


@pytest.fixture(scope="session")
def seq_model_dir(tmp_path_factory):
    """`tiny_model("sequence")` saved: a copy of its committed fixture, one per session, shared by
    every test that needs a model directory (read it; copy it to change it: `model_dir_copy`)."""
    path = tmp_path_factory.mktemp("seq") / "model"
    shutil.copytree(TINY / "seq", path)
    return path


@pytest.fixture
def model_dir_copy(seq_model_dir, tmp_path):
    """A copy of `seq_model_dir` of this test's own, to change."""
    path = tmp_path / "m"
    shutil.copytree(seq_model_dir, path)
    return path


@pytest.fixture(scope="session")
def serve_model_dir(seq_model_dir):
    """The sequence model of `seq_lm`'s kind, saved: what the service tests serve."""
    return seq_model_dir


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
