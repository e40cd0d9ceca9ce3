"""`POST /v1/rerank` as a reranking backend (issue 31): a batch of utterances, as a list of objects or
as the text of an n-best file in any format `wordlm rerank` reads from one file, gives exactly the
records `wordlm rerank --json` prints for the same file. In process: the CLI through click's runner,
the service through FastAPI's TestClient, the same saved model."""

from __future__ import annotations

import json

import pytest

from conftest import RHYME_LINES
from test_serve import close

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

HYPS = {  # utt_id -> [(text, score)]
    "u1": [("jack and jill went up the hill", -5.0), ("jack an jill went up the hill", -4.5),
           ("jack and jill went up a hill", -4.9)],
    "u2": [("to fetch a pail of water", -3.0), ("to fetch a pale of water", -2.5)],
    "u3": [("and jill came tumbling after", -2.0), ("and jill came tumbling", -1.0), ("", -9.0)],
}


def files(tmp_path) -> dict:
    """The same n-best lists in each single-file format: {format: (path, extra CLI args, beam_size)}."""
    out = {}
    jsonl = tmp_path / "nb.jsonl"
    jsonl.write_text("".join(json.dumps({"utt_id": u, "hyps": [{"text": t, "score": s} for t, s in h]}) + "\n"
                             for u, h in HYPS.items()))
    out["jsonl"] = (jsonl, [], None)
    tsv = tmp_path / "nb.tsv"
    tsv.write_text("".join(f"{u}\t{s}\t{t}\n" for u, h in HYPS.items() for t, s in h))
    out["tsv"] = (tsv, [], None)
    hypo = tmp_path / "nb.hyporadise.json"
    hypo.write_text(json.dumps([{"id": u, "input": [t for t, _ in h], "am_score": [s for _, s in h]}
                                for u, h in HYPS.items()]))
    out["hyporadise"] = (hypo, [], None)
    mlm = tmp_path / "nb.mlm.json"
    mlm.write_text(json.dumps({u: {f"hyp_{i}": {"text": t, "score": s} for i, (t, s) in enumerate(h, 1)}
                               for u, h in HYPS.items()}))
    out["mlm"] = (mlm, [], None)
    nemo = tmp_path / "nb.nemo.tsv"  # fixed beam: two hypotheses per utterance
    nemo.write_text("".join(f"{t}\t{s}\n" for h in HYPS.values() for t, s in h[:2]))
    out["nemo"] = (nemo, ["--format", "nemo", "--beam-size", "2"], 2)
    return out


def cli_rerank(model_dir, path, *args) -> list[dict]:
    from click.testing import CliRunner

    from wordlm.cli import cli

    out = CliRunner().invoke(cli, ["rerank", str(model_dir), str(path), "--json", *args])
    assert out.exit_code == 0, out.output
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def service(served_lm):
    from fastapi.testclient import TestClient

    import wordlm.serve

    with TestClient(wordlm.serve.app(served_lm, max_wait_ms=0)) as c:
        yield c


@pytest.mark.parametrize("fmt", ["jsonl", "tsv", "hyporadise", "mlm", "nemo"])
@pytest.mark.parametrize("weights", [{}, {"lm_weight": 0.5, "word_bonus": 0.25, "all": True}])
def test_batch_rerank_of_a_file_equals_the_cli(service, serve_model_dir, tmp_path, fmt, weights):
    path, args, beam = files(tmp_path)[fmt]
    cli_args = [*args, *(["--lm-weight", str(weights["lm_weight"]), "--word-bonus", str(weights["word_bonus"])]
                         if weights else []), *(["--all"] if weights.get("all") else [])]
    want = cli_rerank(serve_model_dir, path, *cli_args)
    body = {"nbest": path.read_text(), **weights}
    if fmt == "nemo":
        body.update(format="nemo", beam_size=beam)
    r = service.post("/v1/rerank", json=body)
    assert r.status_code == 200, r.text
    close(r.json(), {"results": want})
    assert len(want) == 3


def test_batch_of_objects_equals_one_at_a_time(service, serve_model_dir, tmp_path):
    utterances = [{"utt_id": u, "hyps": [{"text": t, "score": s} for t, s in h]} for u, h in HYPS.items()]
    batch = service.post("/v1/rerank", json={"utterances": utterances, "all": True}).json()
    alone = [service.post("/v1/rerank", json={**u, "all": True}).json() for u in utterances]
    close(batch, {"results": alone})
    close(batch["results"], cli_rerank(serve_model_dir, files(tmp_path)["jsonl"][0], "--all"))


BAD = [
    ({"utterances": [{"utt_id": "a", "hyps": [{"text": "x", "score": 1}]}] * 2}, "duplicate utterance id"),
    ({"utterances": [{"utt_id": "a", "hyps": []}]}, "utterances[0]"),
    ({"nbest": "a\t1\tjack\nb\tx\tjill\n"}, "nbest:2"),
    ({"nbest": "jack\t1\njill\t2\nup\t3\n", "format": "nemo", "beam_size": 2}, "beam"),
    ({"nbest": "   \n"}, "empty"),
    ({"hyps": [{"text": "a", "score": 1}], "nbest": "a\t1\tb\n"}, "give one of"),
    ({"hyps": [{"text": "a", "score": 1}], "format": "tsv"}, "with nbest only"),
    ({"nbest": "a\t1\tb\n", "lm_weight": 1e308, "word_bonus": 1e308}, "nbest"),
]


@pytest.mark.parametrize("body,named", BAD)
def test_bad_batches_are_422_naming_the_place(service, body, named):
    r = service.post("/v1/rerank", json=body)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert named in error, error
    assert "/tmp" not in error and "wordlm-nbest-" not in error  # no server path


def test_one_utterance_answers_as_before(service, served_lm):
    from wordlm.nbest import RecognizerHypothesis, Utterance

    hyps = [{"text": t, "score": s} for t, s in HYPS["u1"]]
    got = service.post("/v1/rerank", json={"utt_id": "u1", "hyps": hyps}).json()
    utt = Utterance("u1", [RecognizerHypothesis(h["text"], {"score": h["score"]}) for h in hyps])
    close(got, json.loads(json.dumps(served_lm.rerank([utt])[0])))
    assert RHYME_LINES  # the rhyme the model was trained on
