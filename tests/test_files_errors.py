"""Files (issue 30, item 7): a full disk names the file being written and leaves nothing half-made;
`export` on a full disk is one line; mixture components stay inside the mixture file's folder and
errors never quote another file; `wordlm.json` and hypotheses per utterance are capped.

A full disk is simulated in-process (the write raising ENOSPC), so no real full disk is needed.
"""

from __future__ import annotations

import errno
import json
import os

import pytest
from click.testing import CliRunner

from wordlm.cli import cli
from wordlm.errors import InputError, ModelError

NBEST = '{"utt_id": "u1", "hyps": [{"text": "jack and jill", "score": -1.0}, {"text": "jack", "score": -2.0}]}\n'
ENOSPC = OSError(errno.ENOSPC, "No space left on device")


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output, result.output
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("Error: ")]
    return line


@pytest.fixture(scope="module")
def model_dir(seq_lm, tmp_path_factory):
    path = tmp_path_factory.mktemp("files") / "m"
    seq_lm.save(path)
    return path


def _full_disk_on_fsync(monkeypatch):
    def fsync(fd):
        raise ENOSPC

    monkeypatch.setattr(os, "fsync", fsync)


def test_rerank_output_on_a_full_disk_names_the_output(model_dir, tmp_path, monkeypatch):
    (tmp_path / "nb.jsonl").write_text(NBEST)
    _full_disk_on_fsync(monkeypatch)
    out = tmp_path / "out.tsv"
    line = one_error_line(run("rerank", model_dir, tmp_path / "nb.jsonl", "-o", out, "--lm-weight", "1"))
    assert line == f"Error: {out}: No space left on device"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nb.jsonl"]  # no temporary left


def test_a_save_on_a_full_disk_names_the_model_file_and_keeps_the_old_model(seq_lm, tmp_path, monkeypatch):
    import keras

    import wordlm

    seq_lm.save(tmp_path / "m")
    before = sorted(p.name for p in (tmp_path / "m").iterdir())

    def save(self, path, *a, **k):
        with open(path, "wb") as f:
            f.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")  # as zipfile/h5py raise it: no file name

    monkeypatch.setattr(keras.Model, "save", save)
    with pytest.raises(OSError) as e:
        seq_lm.save(tmp_path / "m")
    assert e.value.errno == errno.ENOSPC and str(e.value.filename).startswith(str(tmp_path / "m" / "model-"))
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == before  # no temporary left
    assert wordlm.load(tmp_path / "m").score("jack") == seq_lm.score("jack")


def test_a_first_train_that_fails_on_a_full_disk_leaves_no_folder(tmp_path, monkeypatch, rhyme_file):
    import keras

    def save(self, path, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", save)
    new = tmp_path / "NEW"
    result = run("train", rhyme_file, "-o", new, "--epochs", "1", "--units", "4", "--embedding-dim", "4", "-q")
    line = one_error_line(result)
    assert line.startswith(f"Error: {new}/model-") and line.endswith(".keras: No space left on device"), line
    assert "<stdout>" not in result.output and not new.exists()


def test_a_lock_note_refused_by_a_full_disk_is_one_line_and_the_new_folder_goes(tmp_path, monkeypatch, rhyme_file):
    from wordlm import locking

    class Full:
        def __init__(self, f):
            self.f = f

        def write(self, text):
            raise ENOSPC

        def __getattr__(self, name):
            return getattr(self.f, name)

    monkeypatch.setattr(locking, "open", lambda *a, **k: Full(open(*a, **k)), raising=False)
    new = tmp_path / "NEW"
    result = run("train", rhyme_file, "-o", new, "--epochs", "1", "-q")
    assert one_error_line(result) == f"Error: {new}/.wordlm.lock: cannot write the lock file: No space left on device"
    assert not new.exists()


def test_export_on_a_full_disk_is_one_line_and_leaves_nothing(model_dir, tmp_path, monkeypatch):
    import tensorflow as tf

    def save(*a, **k):
        raise tf.errors.ResourceExhaustedError(None, None, f"{tmp_path}/.x.tmp/saved_model.pb.tmp1; No space left on device")

    monkeypatch.setattr(tf.saved_model, "save", save)
    out = tmp_path / "exported"
    line = one_error_line(run("export", model_dir, out))
    assert line == f"Error: {out}: cannot write the export: No space left on device"
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def _mixture(folder, path):
    folder.mkdir(parents=True, exist_ok=True)
    mix = folder / "mix.json"
    mix.write_text(json.dumps({"format": "wordlm-mixture", "format_version": 1,
                               "components": [{"path": str(path), "kind": "kenlm", "weight": 1.0}]}))
    return mix


def test_mixture_components_outside_its_folder_are_refused_without_quoting_them(tmp_path, monkeypatch):
    from wordlm.mixture.file import read

    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    for path in ("../passwd", str(secret)):
        mix = _mixture(tmp_path / "mixes", path)
        with pytest.raises(ModelError, match="lies outside the mixture file's folder: refused"):
            read(mix)
        result = run("score", mix, "-", input="jack\n")
        assert "outside the mixture file's folder" in one_error_line(result) and "root:x" not in result.output
    os.symlink(secret, tmp_path / "mixes" / "link.arpa")  # a symlink out of the folder is outside too
    with pytest.raises(ModelError, match="outside"):
        read(_mixture(tmp_path / "mixes", "link.arpa"))
    monkeypatch.setenv("WORDLM_MIXTURE_OUTSIDE", "1")  # allowed: then the file is read as KenLM, never quoted
    result = run("score", _mixture(tmp_path / "mixes", "../passwd"), "-", input="jack\n")
    line = one_error_line(result)
    assert "not an ARPA or KenLM binary n-gram file" in line and "root:x" not in line, line


def test_mix_refuses_components_outside_the_mixture_files_folder(tmp_path):
    (tmp_path / "a.arpa").write_text("\\data\\\n")
    (tmp_path / "sub").mkdir()
    result = run("mix", tmp_path / "a.arpa", "-o", tmp_path / "sub" / "mix.json")
    assert result.exit_code == 2 and "lies outside" in result.output and not (tmp_path / "sub" / "mix.json").exists()


def test_an_oversized_wordlm_json_is_refused_before_it_is_read_whole(model_dir, tmp_path, monkeypatch):
    import shutil

    from wordlm import model_dir as saving

    copy = tmp_path / "big"
    shutil.copytree(model_dir, copy)
    monkeypatch.setattr(saving, "MAX_CONFIG_BYTES", 1000)
    with pytest.raises(ModelError, match=r"wordlm.json: refused: larger than"):
        saving.read_config(copy)


def test_hypotheses_per_utterance_are_capped(tmp_path, monkeypatch):
    from wordlm import nbest
    from wordlm.nbest import types

    monkeypatch.setattr(types, "MAX_HYPS", 3)
    tsv = tmp_path / "nb.tsv"
    tsv.write_text("".join(f"u1\t-{i}\thyp {i}\n" for i in range(5)))
    with pytest.raises(InputError, match=r"utterance u1 \(line 1\): more than 3 hypotheses in one utterance"):
        list(nbest.read_nbest(tsv))
    jsonl = tmp_path / "nb.jsonl"
    jsonl.write_text(json.dumps({"utt_id": "u1", "hyps": [{"text": "a", "score": -1.0}] * 4}) + "\n")
    with pytest.raises(InputError, match="more than 3 hypotheses"):
        list(nbest.read_nbest(jsonl))
    jsonl.write_text(json.dumps({"utt_id": "u1", "hyps": [{"text": "a", "score": -1.0}] * 3}) + "\n")
    assert len(next(nbest.read_nbest(jsonl)).hyps) == 3  # the cap itself is allowed
