"""The hostile catalogue, second pass (issue 17): rerank numbers that cannot be ranked, TSV that
cannot be split, JSON inputs built to crash a parser, destinations that cannot be written, grids
and files sized to exhaust memory. Each case ends in valid output or a one-line error naming the
file (and line, utterance or field), exit 1 (2 for usage), no traceback, nothing half-written.

The model is the committed golden `seq` model (read only; copied where a test writes).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wordlm.errors import InputError
from wordlm.nbest import read_nbest, tsv_escape, tsv_unescape

import helpers

MODEL = str(Path(__file__).parent / "golden" / "models" / "seq")
DEEP = "[" * 100_000 + "]" * 100_000


def run(*args, input=None):
    return helpers.cli_run(*args, input=input)


def one_line_error(result, *needles, code=1):
    return helpers.one_line_error(result, *needles, code=code, ignore=("reranking ",), error_prefix=True,
                                  stdout_empty=True)


def jsonl(tmp_path, name, utterances):
    p = tmp_path / name
    p.write_text("".join(json.dumps(u) + "\n" for u in utterances))
    return p


@pytest.fixture()
def nbest(tmp_path):
    return jsonl(tmp_path, "nb.jsonl", [
        {"utt_id": "u1", "ref": "jack and jill", "hyps": [{"text": "jack and jill", "score": -1.0},
                                                          {"text": "jack an jill", "score": -0.5}]},
        {"utt_id": "u2", "hyps": [{"text": "to fetch a pail", "score": -2.0}, {"text": "to fetch", "score": -2.1}]},
    ])


# -- rerank: numbers that cannot be ranked ---------------------------------------------------------
def test_huge_finite_scores_that_overflow_are_refused_naming_the_utterance(tmp_path):
    p = jsonl(tmp_path, "huge.jsonl", [{"utt_id": "big", "hyps": [{"text": "jack", "score": 1e308},
                                                                  {"text": "jill", "score": -1e308}]}])
    line = one_line_error(run("rerank", MODEL, p, "--json", "--am", "score=10"), "huge.jsonl", "utterance big",
                          "hypothesis 1", "first-pass score")
    assert "inf" in line


def test_two_huge_fields_whose_sum_overflows(tmp_path):
    p = jsonl(tmp_path, "sum.jsonl", [{"utt_id": "s", "hyps": [{"text": "jack", "a": 1.5e308, "b": 1.5e308}]}])
    one_line_error(run("rerank", MODEL, p, "--json", "--am", "a=1,b=1"), "sum.jsonl", "utterance s")


def test_a_total_that_overflows_only_with_the_lm_weight(nbest):
    one_line_error(run("rerank", MODEL, nbest, "--json", "--lm-weight", "1e308", "--word-bonus", "1e308"),
                   "nb.jsonl", "utterance u1", "total score", "lm_weight 1e+308")


def test_json_output_is_strict_json_for_huge_finite_scores(tmp_path):
    p = jsonl(tmp_path, "edge.jsonl", [{"utt_id": "e", "hyps": [{"text": "jack", "score": 1e307},
                                                                {"text": "jill", "score": -1e307}]}])
    result = run("rerank", MODEL, p, "--json", "--all")
    assert result.exit_code == 0, result.output
    rec = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"{c} in the JSON output"))
    assert rec["rank_before"] == 1 and rec["score"] > 1e306


def test_a_nan_lm_score_is_an_error_naming_the_utterance_never_ranked_first(nbest, monkeypatch):
    from wordlm.rerank import trie

    real = trie.LMCache.__call__

    def poisoned(self, texts):
        out = real(self, texts)
        return np.where([t == "jack an jill" for t in texts], np.nan, out)

    monkeypatch.setattr(trie.LMCache, "__call__", poisoned)
    one_line_error(run("rerank", MODEL, nbest, "--json"), "nb.jsonl", "utterance u1", "hypothesis 2",
                   "LM score is nan")
    one_line_error(run("tune", MODEL, nbest), "utterance u1", "LM score")


def test_choose_and_ranking_never_put_a_nan_first():
    from wordlm.rerank import choose, ranking

    totals = np.array([np.nan, -3.0, -1.0, np.nan])
    assert choose(totals) == 2
    assert ranking(totals).tolist() == [2, 1, 0, 3]
    assert choose(np.array([np.nan, np.nan])) == 0  # nothing better: the first, as for ties


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_non_finite_weights_on_the_command_line_are_usage_errors(nbest, value):
    one_line_error(run("rerank", "/no/such/model", nbest, "--lm-weight", value), "--lm-weight", "finite", code=2)


# -- TSV: one line is one hypothesis ----------------------------------------------------------------
def test_tsv_output_escapes_tabs_newlines_and_backslashes(tmp_path):
    nasty_id, nasty_text = "utt\t1\\x", "jack\tand\njill\\n \r"
    p = jsonl(tmp_path, "tabs.jsonl", [{"utt_id": nasty_id, "hyps": [{"text": nasty_text, "score": -1.0},
                                                                     {"text": "jack", "score": -2.0}]}])
    best = run("rerank", MODEL, p)
    assert best.exit_code == 0, best.output
    assert best.stdout.count("\n") == 1 and best.stdout.rstrip("\n").count("\t") == 3
    assert best.stdout.startswith("utt\\t1\\\\x\t")
    result = run("rerank", MODEL, p, "--all")
    assert result.exit_code == 0 and result.stdout.count("\n") == 2
    out = tmp_path / "out.tsv"
    out.write_text(result.stdout)
    (utt,) = list(read_nbest(out, "tsv"))  # what rerank --all writes reads back as the same n-best
    assert utt.utt_id == nasty_id and sorted(h.text for h in utt.hyps) == sorted([nasty_text, "jack"])


def test_tsv_escape_round_trips_any_text():
    for text in ["", "\\", "\\\\t", "a\tb\nc\rd", "\\q stays", "plain"]:
        assert tsv_unescape(tsv_escape(text)) == text
        assert "\t" not in tsv_escape(text) and "\n" not in tsv_escape(text)
    assert tsv_unescape("C:\\data\\x") == "C:\\data\\x"  # a backslash before another letter is kept


def test_extra_tsv_columns_are_an_error_naming_file_and_line(tmp_path):
    p = tmp_path / "four.tsv"
    p.write_text("u1\t-1\tjack and jill\n" "u1\t-2\tjack\tand jill\n")
    one_line_error(run("rerank", MODEL, p), "four.tsv:2", "3 columns", "got 4", "\\t")


def test_tsv_escaped_tab_in_text_is_a_tab(tmp_path):
    p = tmp_path / "esc.tsv"
    p.write_text("u1\t-1\tjack\\tjill\n")
    (utt,) = list(read_nbest(p))
    assert utt.hyps[0].text == "jack\tjill"


# -- tune: bounded grids -----------------------------------------------------------------------------
def test_a_tune_grid_whose_product_is_too_large_is_refused_before_the_model(nbest):
    line = one_line_error(run("tune", "/no/such/model", nbest, "--lm-weights", "0:99:0.001",
                              "--word-bonuses", "0:10:0.1"), "99,001 × 101", "at most 1,000,000")
    assert "model" not in line


def test_a_grid_axis_with_infinitely_many_values(nbest):
    one_line_error(run("tune", "/no/such/model", nbest, "--lm-weights", "-1e308:1e308:1e-300"),
                   "--lm-weights", "infinitely many")


def test_tune_grid_corner_that_overflows_names_the_utterance(tmp_path):
    p = jsonl(tmp_path, "t.jsonl", [{"utt_id": "ok", "ref": "jack", "hyps": [{"text": "jack", "score": -1}]},
                                    {"utt_id": "w", "ref": "jill", "hyps": [{"text": "jill", "score": 1e308},
                                                                            {"text": "jack", "score": 1e308}]}])
    one_line_error(run("tune", MODEL, p, "--lm-weights", "0", "--word-bonuses", "0:1e308:1e307"),
                   "t.jsonl", "utterance w", "total score")


# -- destinations, checked before any work ----------------------------------------------------------
def _fresh_process(*args):
    """Run `wordlm ARGS` in a fresh interpreter; (exit code, stderr, whether TensorFlow was imported)."""
    code = ("import sys; from wordlm.cli import main; sys.argv = ['wordlm'] + sys.argv[1:]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    print(e.code, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=120)
    status, tf = out.stdout.split()
    return int(status), out.stderr, tf == "True"


@pytest.mark.parametrize("command", ["rerank", "tune"])
def test_output_under_a_missing_folder_fails_before_tensorflow(nbest, tmp_path, command):
    status, err, tf = _fresh_process(command, MODEL, nbest, "-o", tmp_path / "nope" / "out.json")
    assert status == 1 and not tf and "does not exist" in err and len(err.strip().splitlines()) == 1


def test_output_under_a_regular_file(nbest, tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("x")
    one_line_error(run("rerank", "/no/such/model", nbest, "-o", plain / "out.tsv"), "is not a directory")
    assert plain.read_text() == "x"


def test_output_that_is_a_directory(nbest, tmp_path):
    one_line_error(run("tune", "/no/such/model", nbest, "-o", tmp_path), "is a directory", code=2)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_output_in_a_read_only_folder(nbest, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        one_line_error(run("rerank", "/no/such/model", nbest, "-o", ro / "out.tsv"), "not writable")
    finally:
        ro.chmod(0o755)


def test_missing_nbest_file_before_the_model(tmp_path):
    one_line_error(run("rerank", "/no/such/model", tmp_path / "none.jsonl"), "none.jsonl", "no such file")


def test_export_under_a_regular_file_and_into_the_model_through_a_symlink(tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("x")
    one_line_error(run("export", MODEL, plain / "1"), "is not a directory")
    link = tmp_path / "link"
    link.symlink_to(MODEL, target_is_directory=True)
    one_line_error(run("export", MODEL, link, "--overwrite"), "is the model being exported")


def test_a_marker_nested_to_crash_the_parser_is_not_an_export(tmp_path):
    fake = tmp_path / "fake"
    (fake / "assets.extra").mkdir(parents=True)
    (fake / "saved_model.pb").write_text("x")
    (fake / "assets.extra" / "wordlm.json").write_text(DEEP)
    one_line_error(run("export", MODEL, fake, "--overwrite"), "is not a wordlm export")
    assert (fake / "saved_model.pb").read_text() == "x"


# -- JSON inputs built to crash a parser ------------------------------------------------------------
def test_deeply_nested_nbest_line(tmp_path):
    p = tmp_path / "deep.jsonl"
    p.write_text('{"utt_id": "a", "hyps": [{"text": "jack", "score": -1}]}\n{"utt_id": "b", "hyps": ' + DEEP + "}\n")
    one_line_error(run("rerank", MODEL, p), "deep.jsonl:2", "nested deeper than 64")


def test_deeply_nested_whole_file_nbest(tmp_path):
    p = tmp_path / "deep.json"
    p.write_text(DEEP)
    one_line_error(run("rerank", MODEL, p), "deep.json", "nested deeper")


@pytest.mark.parametrize("number", ["1e999", "-1e999", "9" * 400])
def test_nbest_numbers_beyond_float_range(tmp_path, number):
    p = tmp_path / "big.jsonl"
    p.write_text('{"utt_id": "u7", "hyps": [{"text": "jack", "score": %s}]}\n' % number)
    one_line_error(run("rerank", MODEL, p), "big.jsonl", "utterance u7", "'score'", "finite")


def test_a_huge_integer_utterance_id(tmp_path):
    p = tmp_path / "id.jsonl"
    p.write_text('{"utt_id": %s, "hyps": [{"text": "jack", "score": -1}]}\n' % ("7" * 5000))
    one_line_error(run("rerank", MODEL, p), "id.jsonl")


@pytest.mark.parametrize("content,needles", [
    (DEEP, ["nested deeper"]),
    ('{"lm_weight": 1e999, "word_bonus": 0}', ['field "lm_weight"', "1e999"]),
    ('{"lm_weight": NaN, "word_bonus": 0}', ['field "lm_weight"', "NaN"]),
    ('{"lm_weight": 1, "word_bonus": %s}' % ("1" * 400), ['field "word_bonus"']),
    ('{"lm_weight": 1, "word_bonus": 0, "am": [1, 2]}', ['"am"']),
    ('{"lm_weight": "1", "word_bonus": 0}', ["'lm_weight'", "finite number"]),
    ("\xff\xfe not utf-8", ["tuned-weights"]),
])
def test_hostile_weight_files(nbest, tmp_path, content, needles):
    p = tmp_path / "w.json"
    p.write_bytes(content.encode("latin-1") if content.startswith("\xff") else content.encode())
    one_line_error(run("rerank", "/no/such/model", nbest, "--weights", p), "w.json", *needles)


def test_a_weights_file_that_is_a_directory(nbest, tmp_path):
    one_line_error(run("rerank", "/no/such/model", nbest, "--weights", tmp_path), "is a directory")


def _summary(**changes):
    base = {"sentences": 2, "words": 5, "oovs": 0, "logprob": -7.5, "ppl": 3.0, "ppl1": 4.0, "scored": 7, "ends": 2,
            "options": {"unit": "word", "bos": True, "eos": True, "oov": "unk"}}
    base.update(changes)
    return json.dumps(base)


@pytest.mark.parametrize("line,needles", [
    (_summary().replace("-7.5", "-1e999"), ['field "logprob"', "1e999"]),
    (_summary(logprob=-1e308), ['"logprob" must be a number in']),
    (_summary(logprob="-7.5"), ['"logprob"']),
    (_summary(logprob=12.0), ['"logprob"']),
    (_summary().replace('"sentences": 2', '"sentences": ' + "9" * 400), ['field "sentences"']),
    (_summary(words=2**70), ['"words" must be an integer in [0, 2^63)']),
    (_summary(options={"unit": "word", "bos": "yes", "eos": True, "oov": "unk"}), ['"options.bos"']),
    (_summary(options=[1]), ['"options" must be an object']),
    (_summary().replace('"ppl": 3.0', '"ppl": Infinity'), ['field "ppl"']),
    ('{"sentences": ' + DEEP + "}", ["nested deeper"]),
])
def test_hostile_summaries_for_merge(tmp_path, line, needles):
    good = tmp_path / "good.json"
    good.write_text(_summary() + "\n")
    bad = tmp_path / "bad.json"
    bad.write_text(_summary() + "\n" + line + "\n")
    one_line_error(run("perplexity", MODEL, good, bad, "--merge"), "bad.json:2", *needles)


def test_a_merged_sum_of_huge_but_valid_summaries_still_prints(tmp_path):
    files = []
    for i in range(3):
        p = tmp_path / f"s{i}.json"
        p.write_text(_summary(logprob=-1e200, words=2**62, scored=2**62) + "\n")
        files.append(p)
    result = run("perplexity", MODEL, *files, "--merge", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["words"] == 3 * 2**62 and out["ppl"] is None  # overflowed: null, never Infinity


# -- model directories ------------------------------------------------------------------------------
def _copy_model(tmp_path):
    d = tmp_path / "m"
    shutil.copytree(MODEL, d)
    return d


def test_weights_file_that_is_a_directory_or_a_fifo(tmp_path):
    d = _copy_model(tmp_path)
    name = json.loads((d / "wordlm.json").read_text())["weights_file"]
    (d / name).unlink()
    os.mkfifo(d / name)  # opening it would block for ever
    one_line_error(run("score", d, "-", input="jack\n"), name, "not a regular file")
    (d / name).unlink()
    (d / name).mkdir()
    one_line_error(run("score", d, "-", input="jack\n"), "not a regular file")


def test_a_lock_file_full_of_garbage_held_by_another_process(tmp_path):
    import fcntl

    d = _copy_model(tmp_path)
    lock = d / ".wordlm.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    os.write(fd, bytes(range(256)) * 16)
    code = ("import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR); fcntl.flock(fd, fcntl.LOCK_EX); "
            "print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(lock)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"held"
        one_line_error(run("train", MODEL + "/wordlm.json", "-o", d, "--overwrite", "-q"),
                       "locked by another process")
    finally:
        holder.kill()
        holder.wait()
        os.close(fd)
    del fcntl


def test_reader_with_garbage_weights_file_name_in_wordlm_json(tmp_path):
    d = _copy_model(tmp_path)
    cfg = json.loads((d / "wordlm.json").read_text())
    cfg["weights_file"] = "../../etc/passwd"
    (d / "wordlm.json").write_text(json.dumps(cfg))
    one_line_error(run("score", d, "-", input="jack\n"), "weights_file")


def test_save_into_a_directory_holding_a_users_checkpoints(tmp_path):
    import wordlm

    d = _copy_model(tmp_path)
    (d / "model-epoch05.keras").write_bytes(b"PK precious")
    (d / "model-best.keras").write_bytes(b"PK precious too")
    wordlm.load(d).save(d)
    assert (d / "model-epoch05.keras").read_bytes() == b"PK precious"
    assert (d / "model-best.keras").exists()
    assert len([p for p in d.glob("model-*.keras")]) == 3


def test_parse_refuses_every_number_json_cannot_hold(tmp_path):
    from wordlm.jsonfile import parse

    for text, field in [('{"a": [1, {"b": 1e400}]}', "a[1].b"), ("[-Infinity]", "[0]"), ('{"x": -%s}' % ("1" * 301), "x")]:
        with pytest.raises(InputError, match=f'f.json: field "{field}"'.replace("[", r"\[").replace("]", r"\]")):
            parse(text, "f.json")
    assert parse('{"x": 1e308, "y": -%s}' % ("1" * 300), "f.json")["x"] == 1e308


def test_export_into_a_folder_inside_another_model_directory_is_refused(tmp_path):
    """Found by the fuzzer: `export win seq/1` wrote a SavedModel inside the seq model's directory."""
    other = _copy_model(tmp_path)
    before = sorted(p.name for p in other.iterdir())
    one_line_error(run("export", str(Path(MODEL).parent / "win"), other / "1"), "lies inside the model directory")
    assert sorted(p.name for p in other.iterdir()) == before


def test_an_absurd_length_penalty_is_refused_naming_the_limit():
    """Found by the fuzzer: --length-norm gnmt --length-penalty 1e308 was an OverflowError traceback."""
    one_line_error(run("generate", "/no/such/model", "--prompt", "jack", "--length-norm", "gnmt",
                       "--length-penalty", "1e308"), "--length-penalty must be at most 10", code=2)


@pytest.mark.parametrize("temperature", ["5e-324", "1e-310", "1e-300"])
def test_a_vanishing_temperature_samples_what_greedy_picks(temperature):
    """Found by the fuzzer: a subnormal temperature overflowed the division and every sample was empty
    with log-probability 0 (exit 0). Temperature → 0 is greedy."""
    greedy = run("generate", MODEL, "--prompt", "jack and", "--max-words", "5", "--json")
    sampled = run("generate", MODEL, "--prompt", "jack and", "--max-words", "5", "--strategy", "sample",
                  "--temperature", temperature, "--seed", "3", "--json")
    assert sampled.exit_code == 0 and "warning" not in sampled.stderr
    assert json.loads(sampled.stdout) == json.loads(greedy.stdout)

