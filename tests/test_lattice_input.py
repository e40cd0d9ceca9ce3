"""Bad lattices get one-line errors naming the file, the line and the field; the size cap holds;
`wordlm lattice` writes n-best lists that `wordlm.nbest.read_nbest` reads, and exits 1 on bad input."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from test_lattice import LINKS, NODES
from wordlm.cli import cli
from wordlm.errors import InputError
from wordlm.lattice import read_slf
from wordlm.lattice.graph import prepare
from wordlm.nbest import read_nbest


def _replace(old, new, text=LINKS):
    assert old in text
    return text.replace(old, new, 1)


BAD = [
    # (lattice text, line number or None, what the message must say)
    (_replace("J=0\tS=0\tE=1\tW=jack\ta=-1.0", "J=0\tS=0\tE=1\tW=jack\ta=minus"), 10, "field a='minus'"),
    (_replace("a=-1.0", "a=nan"), 10, "field a=nan: expected a finite number"),
    (_replace("J=2\tS=1\tE=3", "J=2\tS=1\tE=9"), 12, "field E=9: expected an integer node id in [0, 6)"),
    (_replace("J=2\tS=1\tE=3", "J=2\tS=x\tE=3"), 12, "field S='x'"),
    (_replace("J=2\tS=1\tE=3", "J=2\tE=3"), 12, "field S: missing"),
    (_replace("J=3\t", "J=2\t"), 13, "field J=2: link 2 defined twice"),
    (_replace("I=3\t", "I=2\t"), 7, "field I=2: node 2 defined twice"),
    (_replace("J=9\tS=4\tE=5\tW=hill\ta=-2.25", "J=9\tS=4\tE=5\tW=hill\ta=-2.25\tfoo=1"), 19, "field 'foo': not a link field"),
    (_replace("I=1\tt=0.50", "I=1\tt=0.50\tQ=1"), 5, "field 'Q': not a node field"),
    (_replace("N=6\tL=10", "N=6\tL=11"), None, "field L=11: only 10 links defined (link 10 is missing)"),
    (_replace("N=6\tL=10", "N=7\tL=10"), None, "field N=7: only 6 nodes defined"),
    (_replace("N=6\tL=10\n", ""), 3, "a node or link before the counts line"),
    (_replace("UTTERANCE=utt1", "UTTERANCE=utt1\nSUBLAT=x"), 3, "field SUBLAT"),
    (_replace("UTTERANCE=utt1", "base=1"), 2, "field base=1"),
    (_replace("UTTERANCE=utt1", "lmscale=big"), 2, "field lmscale='big'"),
    (_replace("J=0\tS=0\tE=1", "J=0\tS=0\tE=1 junk"), 10, "field 'junk' is not name=value"),
    ("VERSION=1.0\nUTTERANCE=x\n", None, "no counts line"),
    ("", None, "no counts line"),
]


@pytest.mark.parametrize("text,line,message", BAD)
def test_bad_lattice_one_line(tmp_path, text, line, message):
    path = tmp_path / "bad.slf"
    path.write_text(text)
    with pytest.raises(InputError) as e:
        read_slf(path)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(str(path)), msg
    if line is not None:
        assert msg.startswith(f"{path}:{line}:"), msg
    assert message in msg, msg


@pytest.mark.parametrize("edit,message", [
    (("J=5\tS=3\tE=4", "J=5\tS=4\tE=3"), "is on a cycle"),
    (("VERSION=1.0", "VERSION=1.0\nstart=3\nend=1"), "field end=1: the end node cannot be reached"),
    (("J=8\tS=3\tE=5\tW=down\ta=-3.0", "J=8\tS=3\tE=3\tW=down\ta=-3.0"), "is on a cycle"),
    (("VERSION=1.0", "VERSION=1.0\nstart=2\nend=2"), "field end=2: the start and end are the same node"),
])
def test_bad_shape(tmp_path, edit, message):
    path = tmp_path / "bad.slf"
    path.write_text(_replace(*edit))
    with pytest.raises(InputError) as e:
        prepare(read_slf(path))
    assert message in str(e.value) and str(e.value).startswith(str(path))


def test_two_start_nodes_need_a_header(tmp_path):
    path = tmp_path / "bad.slf"  # node 6 has no links at all: two nodes without incoming links
    path.write_text(LINKS.replace("N=6\tL=10", "N=7\tL=10").replace("I=5\tt=2.00", "I=5\tt=2.00\nI=6\tt=0.00"))
    with pytest.raises(InputError, match="field start: not given, and 2 nodes have no incoming links"):
        read_slf(path)
    path.write_text(path.read_text().replace("VERSION=1.0", "VERSION=1.0\nstart=0\nend=5"))
    assert read_slf(path).start == 0


def test_size_cap_before_reading_links(tmp_path):
    path = tmp_path / "huge.slf"
    path.write_text("VERSION=1.0\nN=10\tL=5000000000\n")
    with pytest.raises(InputError, match="huge.slf:2: field L: 10 nodes and 5,000,000,000 links is over the cap"):
        read_slf(path)
    small = tmp_path / "x.slf"
    small.write_text(LINKS)
    with pytest.raises(InputError, match="over the cap of 5 nodes and 5 links"):
        read_slf(small, max_links=5, max_nodes=5)


def test_quoted_words_and_comments(tmp_path):
    path = tmp_path / "q.slf"
    path.write_text(LINKS.replace("W=hill", 'W="new york"').replace("VERSION=1.0", "# a comment\nVERSION=1.0"))
    lat = read_slf(path)
    assert "new york" in lat.words


def test_cli_nbest_is_read_by_read_nbest(tmp_path):
    lat = tmp_path / "utt1.slf"
    lat.write_text(LINKS)
    nodes = tmp_path / "utt2.slf.gz"
    import gzip

    nodes.write_bytes(gzip.compress(NODES.replace("VERSION=1.0", "VERSION=1.0\nUTTERANCE=utt2").encode()))
    refs = tmp_path / "refs"
    refs.write_text("utt1 jill went up\nutt2 jack fell down\n")
    nb, best, slf = tmp_path / "nb.jsonl", tmp_path / "best.txt", tmp_path / "slf"
    r = CliRunner().invoke(cli, ["lattice", "none", str(lat), str(nodes), "--lm-weight", "0", "--refs", str(refs),
                                 "--nbest-out", str(nb), "-n", "3", "-o", str(best), "--slf-out", str(slf)])
    assert r.exit_code == 0, r.output
    assert best.read_text().splitlines() == ["utt1 jill went", "utt2 jill went up"]
    utts = list(read_nbest(nb, required=("acoustic",)))
    assert [u.utt_id for u in utts] == ["utt1", "utt2"] and utts[0].ref == "jill went up"
    assert utts[0].hyps[0].text == "jill went" and utts[0].hyps[0].fields["acoustic"] == pytest.approx(-3.0)
    assert len(utts[0].hyps) == 3 and (slf / "utt1.slf.gz").is_file()
    assert "lattice oracle 0.00" in r.output  # both references are paths of their lattices
    assert json.loads(nb.read_text().splitlines()[0])["hyps"][0]["words"] == 2


def test_cli_bad_lattice_exits_1_with_one_line(tmp_path):
    bad = tmp_path / "bad.slf"
    bad.write_text(_replace("a=-1.0", "a=oops"))
    r = CliRunner().invoke(cli, ["lattice", "none", str(bad), "--lm-weight", "0"])
    assert r.exit_code == 1
    lines = [x for x in r.output.splitlines() if x.startswith("Error")]
    assert len(lines) == 1 and f"{bad}:10: field a='oops'" in lines[0]
    r = CliRunner().invoke(cli, ["lattice", "none", str(tmp_path / "missing.slf"), "--lm-weight", "0"])
    assert r.exit_code == 1 and "no such file" in r.output
    r = CliRunner().invoke(cli, ["lattice", "none", str(bad), "-k", "x"])
    assert r.exit_code == 2


KALDI = """utt1
0\t1\t1\t0.5,1.0,1_2
0\t2\t2\t0.5,1.5,
1\t3\t3\t0.25,2.0,3_3
2\t3\t3\t0.25,1.0
3\t4\t0\t0,0.5,
4\t0.1,0.0,

utt2
0\t1\t4\t1,2,
1
"""
WORDS_TXT = "<eps> 0\njack 1\njill 2\nwent 3\nup 4\n"


def test_kaldi_text_lattices(tmp_path):
    from wordlm.lattice import best_path, expand
    from wordlm.lattice.kaldi import read_kaldi, read_words

    ark, words = tmp_path / "lat.txt", tmp_path / "words.txt"
    ark.write_text(KALDI)
    words.write_text(WORDS_TXT)
    lats = list(read_kaldi(ark, read_words(words)))
    assert [x.utt_id for x in lats] == ["utt1", "utt2"]
    best = best_path(expand(lats[0]))  # acoustic only: jill (−1.5) went (−1.0) beats jack (−1) went (−2)
    assert best.text == "jill went" and best.acoustic == pytest.approx(-3.0)
    r = CliRunner().invoke(cli, ["lattice", "none", str(ark), "--format", "kaldi", "--words", str(words),
                                 "--lm-weight", "0", "--first-lm-weight", "1"])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == ["utt1 jill went", "utt2 up"]
    bad = tmp_path / "bad.txt"
    bad.write_text(KALDI.replace("1\t3\t3\t0.25,2.0,3_3", "1\t3\t9\t0.25,2.0,3_3"))
    with pytest.raises(InputError, match=r"bad.txt:4: field word 9: not in words.txt"):
        list(read_kaldi(bad, read_words(words)))
    bad.write_text(KALDI.replace("0.5,1.5,", "0.5,x,"))
    with pytest.raises(InputError, match=r"bad.txt:3: field acoustic cost 'x'"):
        list(read_kaldi(bad, read_words(words)))
