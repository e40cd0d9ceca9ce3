"""One text rule for the command line, the Python API and the service (`wordlm.text.one_line`):
a shared table of tricky texts, each scored by all three, which must agree line for line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from wordlm.cli import cli
from wordlm.errors import InputError
from wordlm.nbest import tsv_escape, tsv_unescape
from wordlm.text import one_line, read_lines

# Each text is one line of a file for the CLI, one text for the API and the service.
TRICKY = [
    "jack and jill",
    "\ufeffjack and jill",          # a BOM: dropped from every text, not only a file's first line
    "\ufeff",                       # nothing but a BOM: an empty line
    "jack\tand jill",               # a TAB inside: part of the line, a space to the tokenizers
    "jack\rjill",                   # a CR inside: the same
    "jack and jill\r",              # a trailing CR (a CRLF file): dropped
    "",                             # an empty line: just </s>
    "   jack   fell  ",             # spaces around
    "jack \ufeffjill",              # a BOM inside a line is not a BOM: an OOV word
    "JACK Fell DOWN",               # case: the tokenizer's
    "jack\\n jill",                 # a backslash and an n: two characters, not a line break
    "jack\\tjill\\",                # backslashes, escaped in text output
    "<s> jack </s>",                # markers typed in the text
    "jack\u2028jill\x0bfell\x85down",  # Unicode line separators: whitespace inside a line (the CLI splits on \n only)
    "ja\u0301ck zebra",             # a combining accent; an OOV
]


def _cli_score(model_dir, path):
    result = CliRunner().invoke(cli, ["score", str(model_dir), str(path)])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.stdout.split("\n")[:-1]]
    assert all(len(r) == 5 for r in rows), rows  # TAB and CR escaped: always five columns
    return [(float(lp), int(w), int(o), tsv_unescape(text)) for lp, w, o, _, text in rows]


@pytest.fixture(scope="module")
def client(seq_lm):
    from fastapi.testclient import TestClient

    import wordlm.serve

    with TestClient(wordlm.serve.app(seq_lm, max_wait_ms=0)) as c:
        yield c


def test_cli_api_and_service_agree_on_every_tricky_text(seq_lm, serve_model_dir, tmp_path, client):
    path = tmp_path / "tricky.txt"
    path.write_bytes("".join(t + "\n" for t in TRICKY).encode("utf-8"))
    assert [t for _, t in read_lines(path)] == [one_line(t) for t in TRICKY]  # the file reader is the rule
    cli_rows = _cli_score(serve_model_dir, path)
    api_rows = [(s.logprob, s.words, s.oovs, s.text) for s in seq_lm.score_lines(TRICKY)]
    served = client.post("/v1/score", json={"lines": TRICKY})
    assert served.status_code == 200, served.text
    service_rows = [(r["logprob"], r["words"], r["oovs"], r["text"]) for r in served.json()["results"]]
    assert len(cli_rows) == len(api_rows) == len(service_rows) == len(TRICKY)
    for text, c, a, s in zip(TRICKY, cli_rows, api_rows, service_rows):
        assert c[1:] == a[1:] == s[1:], (text, c, a, s)  # words, OOVs, the text as read
        assert c[0] == pytest.approx(a[0], abs=1e-4) and s[0] == pytest.approx(a[0], abs=1e-5), text
    by_text = dict(zip(TRICKY, api_rows))
    assert by_text["\ufeffjack and jill"] == by_text["jack and jill"]  # the BOM is dropped everywhere
    assert by_text["jack and jill\r"][:3] == by_text["jack and jill"][:3]
    assert by_text["jack \ufeffjill"][2] == 1  # inside a line it is a character of a word


@pytest.mark.parametrize("prompt", ["\ufeffjack and", "jack\tand", "JACK and\r", "jack and\n"])
def test_next_words_agree_on_tricky_prompts(seq_lm, serve_model_dir, client, prompt):
    api = [(w.word, w.logprob) for w in seq_lm.next_words(prompt, top=3)]
    assert api == [(w.word, w.logprob) for w in seq_lm.next_words("jack and", top=3)]
    served = client.post("/v1/next", json={"prompt": prompt, "top": 3})
    assert served.status_code == 200, served.text
    words = served.json()["words"]
    assert [w["word"] for w in words] == [w for w, _ in api]
    assert [w["logprob"] for w in words] == pytest.approx([lp for _, lp in api], abs=1e-6)
    cli_out = CliRunner().invoke(cli, ["next", str(serve_model_dir), "--prompt", prompt, "--top", "3", "--json"])
    assert cli_out.exit_code == 0, cli_out.output
    rows = [json.loads(line) for line in cli_out.stdout.splitlines()]
    assert [r["word"] for r in rows] == [w for w, _ in api]
    assert [r["logprob"] for r in rows] == pytest.approx([lp for _, lp in api], abs=1e-5)


def test_a_line_break_inside_a_text_is_refused_by_the_api_and_the_service(seq_lm, client):
    text = "jack and\njill went"
    for call in (lambda: seq_lm.score(text), lambda: seq_lm.score_lines(["jack", text]),
                 lambda: seq_lm.perplexity(["jack", text]), lambda: seq_lm.next_words(text),
                 lambda: seq_lm.generate(text), lambda: seq_lm.fill("jack ___\ndown"),
                 lambda: seq_lm.candidates(text, ["up"])):
        with pytest.raises(InputError, match="a line break inside the text"):
            call()
    with pytest.raises(InputError, match=r"^texts\[1\]: a line break inside the text"):
        seq_lm.score_lines(["jack", text])
    for path, body in [("/v1/score", {"text": text}), ("/v1/score", {"lines": [text]}), ("/v1/next", {"prompt": text}),
                       ("/v1/generate", {"prompt": text}), ("/v1/perplexity", {"lines": [text]})]:
        answer = client.post(path, json=body)
        assert 400 <= answer.status_code < 500 and "line break" in answer.json()["error"], (path, answer.text)


def test_one_trailing_line_end_is_what_a_file_line_has(seq_lm):
    assert seq_lm.score("jack fell down\n") == seq_lm.score("jack fell down")
    assert seq_lm.score("jack fell down\r\n") == seq_lm.score("jack fell down")
    assert one_line("\ufeffjack\r\n") == "jack" and one_line("\n") == "" and one_line("a\tb\rc") == "a\tb\rc"
    for two_lines in ("a\n\n", "a\nb", "\na", "a\n\r"):
        with pytest.raises(InputError):
            one_line(two_lines)


def test_every_line_of_a_file_drops_its_bom(tmp_path):
    joined = tmp_path / "joined.txt"  # two files that each began with a BOM, joined with cat
    joined.write_bytes(b"\xef\xbb\xbfjack\r\n\xef\xbb\xbfjill\n")
    assert list(read_lines(joined)) == [(1, "jack"), (2, "jill")]
    bad = tmp_path / "bad.txt"  # the slow path (a bad line further on) drops them too
    bad.write_bytes(b"\xef\xbb\xbfjack\n\xef\xbb\xbfjill\n\xff\n")
    lines = []
    with pytest.raises(InputError, match=":3: invalid UTF-8"):
        for item in read_lines(bad):
            lines.append(item)
    assert lines == [(1, "jack"), (2, "jill")]


def test_score_text_output_escapes_tab_and_cr_as_rerank_does(serve_model_dir, tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("jack\tand\rjill\\x\n", encoding="utf-8")
    out = CliRunner().invoke(cli, ["score", str(serve_model_dir), str(path)]).stdout
    assert out.rstrip("\n").split("\t")[4] == tsv_escape("jack\tand\rjill\\x") == "jack\\tand\\rjill\\\\x"


def test_mix_refuses_a_tokenizer_other_than_its_models(serve_model_dir):
    out = serve_model_dir.parent / "tokenizer-mix.json"  # beside its component
    for args in (["--tokenizer", "whitespace"], ["--no-lower"], ["--tokenizer", "keras", "--no-lower"]):
        result = CliRunner().invoke(cli, ["mix", str(serve_model_dir), "-o", str(out), *args])
        assert result.exit_code == 2 and "differs from the tokenizer the wordlm models were trained with" in result.output
        assert not out.exists()
    same = CliRunner().invoke(cli, ["mix", str(serve_model_dir), "-o", str(out), "--tokenizer", "keras"])
    assert same.exit_code == 0, same.output
    out.unlink()
