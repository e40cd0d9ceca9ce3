"""N-best readers: each format parsed and auto-detected; malformed input rejected naming the utterance."""

import gzip
import json

import pytest

from wordlm.errors import InputError
from wordlm.nbest import detect_format, read_nbest

JSONL = [
    {"utt_id": "u1", "ref": "HELLO WORLD", "hyps": [
        {"rank": 1, "text": "HELLO WORLD", "score": -1.5, "decoder": -0.5, "ctc": -0.25, "lm": -3.0, "note": "kept out"},
        {"rank": 2, "text": "HELLO WORD", "score": -2.0, "decoder": -1.0, "ctc": -0.5, "lm": -2.0},
    ]},
    {"utt_id": "u2", "hyps": [{"text": "", "score": -7}]},  # no reference; an empty hypothesis text is valid
]


def write(tmp_path, name, content):
    path = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(content)
    else:
        path.write_text(content, encoding="utf-8")
    return str(path)


def jsonl_text(rows):
    return "".join(json.dumps(r) + "\n" for r in rows)


def test_jsonl_parsed_with_every_numeric_field(tmp_path):
    path = write(tmp_path, "n.jsonl", jsonl_text(JSONL))
    utts = list(read_nbest(path))
    assert [u.utt_id for u in utts] == ["u1", "u2"]
    assert utts[0].ref == "HELLO WORLD" and utts[1].ref is None
    assert [h.text for h in utts[0].hyps] == ["HELLO WORLD", "HELLO WORD"]
    assert utts[0].hyps[0].fields == {"rank": 1.0, "score": -1.5, "decoder": -0.5, "ctc": -0.25, "lm": -3.0}
    assert utts[1].hyps[0].text == "" and utts[1].hyps[0].fields == {"score": -7.0}
    assert detect_format(path) == "jsonl"


def test_gzip_and_blank_lines(tmp_path):
    path = write(tmp_path, "n.jsonl.gz", "\n" + jsonl_text(JSONL) + "\n\n")
    assert [u.utt_id for u in read_nbest(path)] == ["u1", "u2"]


def test_jsonl_is_read_incrementally(tmp_path):
    # a bad line after the first utterance: the first utterance is still delivered before the error
    path = write(tmp_path, "n.jsonl", jsonl_text(JSONL[:1]) + "{not json\n")
    it = read_nbest(path)
    assert next(it).utt_id == "u1"
    with pytest.raises(InputError, match=r"n\.jsonl:2: invalid JSON"):
        next(it)


def test_hyporadise(tmp_path):
    data = [
        {"id": "a1", "input": ["show me flights", "show me flight"], "output": "show me flights", "am_score": [-0.1, -0.3]},
        {"input": ["list fares"], "score": [-2]},
    ]
    path = write(tmp_path, "h.json", json.dumps(data, indent=2))
    utts = list(read_nbest(path))
    assert detect_format(path) == "hyporadise"
    assert [u.utt_id for u in utts] == ["a1", "2"]  # no id: the 1-based position
    assert utts[0].ref == "show me flights" and utts[1].ref is None
    assert utts[0].hyps[1].fields == {"score": -0.3, "am_score": -0.3}
    assert utts[1].hyps[0].fields == {"score": -2.0}


def test_mlm_dict_in_hyp_number_order(tmp_path):
    entry = {f"hyp_{i}": {"score": -float(i), "text": f"w{i}"} for i in (10, 2, 1)}
    data = {"utt-a": {"ref": "w1", **entry}, "utt-b": {"ref": {"text": "x", "score": 0.1}, "hyp_1": {"score": 1, "text": "x"}}}
    path = write(tmp_path, "m.json", json.dumps(data, indent=1))
    utts = list(read_nbest(path))
    assert detect_format(path) == "mlm"
    assert [h.text for h in utts[0].hyps] == ["w1", "w2", "w10"]
    assert utts[0].ref == "w1" and utts[1].ref == "x"
    one_line = write(tmp_path, "m1.json", json.dumps(data))
    assert detect_format(one_line) == "mlm" and len(list(read_nbest(one_line))) == 2


def test_tsv(tmp_path):
    path = write(tmp_path, "n.tsv", "utt_id\tscore\ttext\nu1\t-1\thello world\nu1\t-2.5\thello word\nu2\t-3\t\n")
    utts = list(read_nbest(path))
    assert detect_format(path) == "tsv"
    assert [(u.utt_id, [h.text for h in u.hyps]) for u in utts] == [("u1", ["hello world", "hello word"]), ("u2", [""])]
    assert utts[0].hyps[1].fields == {"score": -2.5}


def test_explicit_format_overrides_detection(tmp_path):
    path = write(tmp_path, "n.txt", jsonl_text(JSONL))
    assert len(list(read_nbest(path, "jsonl"))) == 2
    with pytest.raises(InputError, match="not a list|expected a JSON list"):
        list(read_nbest(write(tmp_path, "m.json", json.dumps({"u": {"hyp_1": {"score": 1, "text": "a"}}})), "hyporadise"))


def bad(tmp_path, rows, **kw):
    path = write(tmp_path, "bad.jsonl", jsonl_text(rows))
    with pytest.raises(InputError) as e:
        list(read_nbest(path, **kw))
    message = str(e.value)
    assert "bad.jsonl" in message and "\n" not in message
    return message


def ok_utt(utt_id="u1", **hyp):
    return {"utt_id": utt_id, "hyps": [{"text": "a b", "score": -1.0, **hyp}]}


def test_malformed_jsonl_names_the_utterance(tmp_path):
    assert "utterance u9" in bad(tmp_path, [ok_utt(), {"utt_id": "u9", "hyps": []}]) and "empty" in bad(
        tmp_path, [{"utt_id": "u9", "hyps": []}])
    assert "u9" in bad(tmp_path, [{"utt_id": "u9"}]) and "missing" in bad(tmp_path, [{"utt_id": "u9"}])
    m = bad(tmp_path, [ok_utt(), ok_utt("u7", score="-3.2")])
    assert "u7" in m and "'score'" in m and "string" in m
    m = bad(tmp_path, [ok_utt(), ok_utt("u1")])
    assert "duplicate utterance id 'u1'" in m and "line 1" in m
    m = bad(tmp_path, [{"hyps": [{"text": "a", "score": 1}]}])
    assert "utterance id" in m and "line 1" in m
    m = bad(tmp_path, [{"utt_id": "u3", "hyps": [{"score": 1}]}])
    assert "u3" in m and "hypothesis 1" in m and "text" in m


def test_nan_and_infinite_scores_rejected(tmp_path):
    for value in ("NaN", "Infinity", "-Infinity"):
        path = write(tmp_path, "nan.jsonl", '{"utt_id": "u5", "hyps": [{"text": "a", "score": %s}]}\n' % value)
        with pytest.raises(InputError, match=r"nan\.jsonl: utterance u5 \(line 1\): hypothesis 1: field 'score' is "
                                             r"(nan|inf|-inf), expected a finite number"):
            list(read_nbest(path))


def test_required_fields_checked(tmp_path):
    m = bad(tmp_path, [{"utt_id": "u1", "hyps": [{"text": "a", "score": 1, "decoder": 1},
                                                 {"text": "b", "score": 2}]}], required=["decoder"])
    assert "u1" in m and "hypothesis 2" in m and "'decoder'" in m
    bad_path = write(tmp_path, "noscore.jsonl", jsonl_text([{"utt_id": "u1", "hyps": [{"text": "a"}]}]))
    with pytest.raises(InputError, match="'score'"):
        list(read_nbest(bad_path))
    assert list(read_nbest(bad_path, required=[]))[0].hyps[0].fields == {}


def test_malformed_other_formats(tmp_path):
    cases = [
        ("h.json", json.dumps([{"id": "z1", "input": ["a", "b"], "am_score": [-1]}]), "z1"),
        ("h.json", json.dumps([{"id": "z1", "input": [], "am_score": []}]), "empty"),
        ("h.json", json.dumps([{"id": "z1", "input": ["a"], "am_score": ["x"]}]), "string"),
        ("h.json", json.dumps([{"id": "z1", "input": ["a"], "am_score": [1]}, {"id": "z1", "input": ["a"], "am_score": [1]}]),
         "duplicate utterance id 'z1'"),
        ("m.json", json.dumps({"q": {"ref": "a"}}), "utterance q: no hypotheses"),
        ("m.json", json.dumps({"q": {"hyp_1": {"score": "1", "text": "a"}}}), "utterance q: hyp_1"),
        ("m.json", '{"q": {"hyp_1": ', "invalid JSON"),
        ("t.tsv", "u1\t-1\ta\nu2\t-1\tb\nu1\t-2\tc\n", "utterance u1"),
        ("t.tsv", "u1\tnan\ta\n", "finite"),
        ("t.tsv", "u1\tminus one\ta\n", "utterance u1: score 'minus one' is not a number"),
        ("t.tsv", "u1\t-1\n", "t.tsv:1: expected 3 columns utt_id<TAB>score<TAB>text, got 2"),
        ("x.txt", "hello\n", "cannot tell the n-best format"),
        ("e.jsonl", "\n\n", "empty n-best file"),
    ]
    for name, content, expected in cases:
        path = write(tmp_path, name, content)
        with pytest.raises(InputError) as e:
            list(read_nbest(path))
        assert expected in str(e.value) and name in str(e.value), (name, content, str(e.value))


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        list(read_nbest(str(tmp_path / "nope.jsonl")))
