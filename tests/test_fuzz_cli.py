"""A CLI fuzzer: random option combinations and mutated input files for every command.

Every outcome must be exit code 0, 1 or 2 with no traceback (click's runner catches what the
command raises: anything but `SystemExit` is a crash), and the models given to the commands must
be byte for byte unchanged afterwards (a directory hash). The default suite runs a bounded number
of examples per command (about 40 s in all, on 2 cores); `pytest -m slow tests/test_fuzz_cli.py` runs ten
times more. Commands run in this process (click's `CliRunner`), and the golden models are loaded
once and reused (`load_model` is wrapped with a cache for the pristine copies only; a mutated
model directory is always loaded and checked for real).
"""

from __future__ import annotations

import collections
import gzip
import hashlib
import itertools
import os
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wordlm.cli import cli

GOLDEN = Path(__file__).parent / "golden" / "models"
NAMES = ("seq", "char", "win", "back")
RHYME = ["Jack and Jill went up the hill", "To fetch a pail of water", "Jack fell down and broke his crown",
         "And Jill came tumbling after"]
SCALE = {"default": 1, "slow": 10}
_names = itertools.count()


def fresh(folder: Path, prefix: str, suffix: str = "") -> Path:
    """A new path in `folder` (a counter, not a drawn number: hypothesis replays examples)."""
    return folder / f"{prefix}{next(_names)}{suffix}"


def dir_hash(folder: Path) -> dict:
    """Each path under `folder` and the sha256 of its bytes (None for a folder)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
            for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Pristine copies of the golden models (and their hashes), and a scratch folder."""
    root = tmp_path_factory.mktemp("fuzz")
    models = {}
    for name in NAMES:
        shutil.copytree(GOLDEN / name, root / name)
        models[name] = root / name
    return {"root": root, "models": models, "hashes": {n: dir_hash(p) for n, p in models.items()}}


@pytest.fixture(scope="module", autouse=True)
def cached_loads(world):
    """Load each pristine model once: the fuzzer spends its time on the commands, not on Keras."""
    import wordlm.cli.common as common
    from wordlm.cli import decode_cmds, export_cmds, rerank_cmds, score_cmds

    real = common.load_model
    cache = {}
    pristine = {str(p.resolve()) for p in world["models"].values()}

    def load_model(path):
        key = str(Path(path).resolve())
        if key not in pristine:
            return real(path)
        if key not in cache:
            cache[key] = real(path)
        return cache[key]

    modules = [common, decode_cmds, export_cmds, rerank_cmds, score_cmds]
    for m in modules:
        m.load_model = load_model
    yield
    for m in modules:
        m.load_model = real


OUTCOMES: collections.Counter = collections.Counter()  # (command, exit code): what the fuzzer reached


@pytest.fixture(scope="module", autouse=True)
def report_outcomes():
    yield
    print("\nfuzzer outcomes:", dict(sorted(OUTCOMES.items())))


def check(world, args, input=None):
    result = CliRunner().invoke(cli, [str(a) for a in args], input=input)
    OUTCOMES[(str(args[0]), result.exit_code)] += 1
    if os.environ.get("FUZZ_SHOW") and result.exit_code:
        print(args[0], result.exit_code, result.stderr.strip().splitlines()[-1][:150])
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args, "".join(__import__("traceback").format_exception(result.exception)))
    assert "Traceback" not in result.output, (args, result.output)
    if result.exit_code:
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
        assert len(errors) == 1, (args, result.stderr)  # one line saying what went wrong
    for name, path in world["models"].items():
        assert dir_hash(path) == world["hashes"][name], (args, f"model {name} changed")
    return result


# -- strategies ---------------------------------------------------------------------------------------
# values: mostly sensible (so the commands get to do their work), sometimes absurd or not numbers
numbers = st.one_of(st.integers(-3, 12), st.sampled_from([0, -1, 10**9, 2**63, 100_001]))
awkward = st.sampled_from(["abc", "nan", "inf", "-inf", "1e309", "", " ", "0x10", "1.5", "-0", "½"])
ints = st.one_of(st.integers(1, 8).map(str), st.integers(1, 8).map(str), numbers.map(str), awkward)
floats = st.one_of(st.floats(0, 2, allow_nan=False).map(lambda x: f"{x:.3g}"),
                   st.floats(-5, 5, allow_nan=False).map(lambda x: f"{x:.3g}"), st.sampled_from(["1e308", "-1e308"]),
                   awkward)
texts = st.one_of(st.sampled_from(RHYME + ["", "jack", "zebra unicorn", "<s> </s> <unk>", "jack\tand\x00jill"]),
                  st.text(max_size=40))


@st.composite
def text_file(draw, folder: Path):
    """A corpus file: the rhyme's lines and random text, then bytes spliced in, maybe gzipped."""
    lines = draw(st.lists(texts, max_size=12))
    data = draw(st.sampled_from(["\n", "\r\n"])).join(lines).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 3)) == 0:
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=12)) + data[cut:]
    kind = draw(st.sampled_from(["txt", "txt", "txt", "gz", "badgz"]))
    path = fresh(folder, "t", ".txt" if kind == "txt" else ".txt.gz")
    path.write_bytes(gzip.compress(data) if kind == "gz" else data)
    return path


def _json_value(depth=3):
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                        st.text(max_size=8), st.sampled_from([1e308, -1e308, 10**400]))
    if depth == 0:
        return scalars
    return st.one_of(scalars, st.lists(_json_value(depth - 1), max_size=3),
                     st.dictionaries(st.text(max_size=6), _json_value(depth - 1), max_size=3))


def _dump(value) -> str:
    try:
        return json.dumps(value)
    except (ValueError, OverflowError):
        return "{}"


@st.composite
def nbest_file(draw, folder: Path):
    """An n-best file in one of the four formats, built valid, then mutated (fields dropped or replaced)."""
    fmt = draw(st.sampled_from(["jsonl", "jsonl", "tsv", "hyporadise", "mlm", "garbage"]))
    utts = []
    for u in range(draw(st.integers(0, 4))):
        hyps = [{"text": draw(texts), "score": draw(st.one_of(st.floats(-50, 0), st.floats(-50, 0),
                                                              st.sampled_from([1e308, -1e308])))}
                for _ in range(draw(st.integers(1, 4)))]
        utts.append({"utt_id": draw(st.one_of(st.just(f"u{u}"), st.just(f"u{u}"), st.text(max_size=4))),
                     "ref": draw(texts), "hyps": hyps})
    for utt in utts:  # mutations
        if draw(st.integers(0, 3)) == 0:
            key = draw(st.sampled_from(["utt_id", "ref", "hyps"]))
            utt[key] = draw(_json_value())
    if fmt == "jsonl":
        body = "".join(_dump(u) + "\n" for u in utts)
    elif fmt == "tsv":
        body = "".join(f"{u.get('utt_id')}\t{h.get('score') if isinstance(h, dict) else h}\t"
                       f"{h.get('text') if isinstance(h, dict) else ''}\n"
                       for u in utts if isinstance(u.get("hyps"), list) for h in u["hyps"])
        if draw(st.booleans()):
            body += draw(st.text(max_size=30))
    elif fmt == "hyporadise":
        body = _dump([{"id": u.get("utt_id"), "input": [h.get("text") for h in u["hyps"] if isinstance(h, dict)]
                       if isinstance(u.get("hyps"), list) else u.get("hyps"),
                       "score": [h.get("score") for h in u["hyps"] if isinstance(h, dict)]
                       if isinstance(u.get("hyps"), list) else 1, "output": u.get("ref")} for u in utts])
    elif fmt == "mlm":
        body = _dump({str(u.get("utt_id")): {f"hyp_{i + 1}": h for i, h in enumerate(u["hyps"])}
                      if isinstance(u.get("hyps"), list) else u.get("hyps") for u in utts})
    else:
        body = draw(st.one_of(st.text(max_size=60), st.just("[" * 5000)))
    path = fresh(folder, "nb", ".tsv" if fmt == "tsv" else ".json")
    path.write_text(body, "utf-8", errors="surrogatepass")
    return path


def options(table: dict):
    """A random subset of `table`'s options, each with a drawn value (flags alone), in random order."""
    @st.composite
    def draw_them(draw):
        chosen = draw(st.lists(st.sampled_from(sorted(table)), unique=True, max_size=min(4, len(table))))
        args = []
        for name in chosen:
            value = table[name]
            args += [name] if value is None else [name, draw(value)]
        return args
    return draw_them()


def destination(folder: Path):
    """Where an output might be asked to go: fresh, under a missing folder, under a file, a folder."""
    plain = folder / "plain-file"
    plain.write_text("x")
    return st.sampled_from([folder / "out.json", folder / "missing" / "out.json", plain / "out.json", folder])


SCORING = {"--no-bos": None, "--no-eos": None, "--oov": st.sampled_from(["unk", "skip", "bad"]),
           "--base": st.sampled_from(["e", "2", "10", "3"]), "--batch-size": ints,
           "--shard": st.sampled_from(["0/2", "1/2", "1/1", "2/2", "x", "-1/3"]), "--context-tokens": ints}
MODELS = st.sampled_from(NAMES)
FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def fuzz(examples: int):
    return pytest.mark.parametrize("scale", [pytest.param(SCALE["default"] * examples, id="default"),
                                             pytest.param(SCALE["slow"] * examples, id="slow",
                                                          marks=pytest.mark.slow)])


def model_arg(world, draw_name, data):
    if data.draw(st.integers(0, 9)) == 0:  # sometimes not a model at all
        return data.draw(st.sampled_from([world["root"] / "none", world["root"], GOLDEN.parent / "stubs.py"]))
    return world["models"][draw_name]


# -- one test per command -----------------------------------------------------------------------------
@fuzz(60)
def test_fuzz_score(world, scale):
    extra = {**SCORING, "--json": None, "--per-token": None}

    @settings(FUZZ, max_examples=scale)
    @given(st.data())
    def run(data):
        folder = world["root"]
        args = ["score", model_arg(world, data.draw(MODELS), data), data.draw(text_file(folder)),
                *data.draw(options(extra))]
        if data.draw(st.booleans()):
            args += ["--summary", data.draw(destination(folder))]
        check(world, args)

    run()


@fuzz(40)
def test_fuzz_perplexity(world, scale):
    @settings(FUZZ, max_examples=scale)
    @given(st.data())
    def run(data):
        folder = world["root"]
        files = data.draw(st.lists(text_file(folder), min_size=1, max_size=3))
        args = ["perplexity", model_arg(world, data.draw(MODELS), data), *files, *data.draw(options(
            {**SCORING, "--json": None}))]
        if data.draw(st.integers(0, 3)) == 0:  # summaries to merge, from real ones, mutated
            summary = {"sentences": 4, "words": 25, "oovs": 0, "logprob": -10.5, "ppl": 1.5, "ppl1": 1.6,
                       "scored": 29, "ends": 4, "options": {"unit": "word", "bos": True, "eos": True, "oov": "unk"}}
            if data.draw(st.booleans()):
                key = data.draw(st.sampled_from(sorted(summary)))
                summary[key] = data.draw(_json_value())
            p = fresh(folder, "sum", ".json")
            p.write_text(_dump(summary) + "\n")
            args = ["perplexity", model_arg(world, data.draw(MODELS), data), p, "--merge",
                    *data.draw(options({"--json": None}))]
        check(world, args)

    run()


@fuzz(40)
def test_fuzz_next_and_fill(world, scale):
    @settings(FUZZ, max_examples=scale)
    @given(st.data())
    def run(data):
        model = model_arg(world, data.draw(MODELS), data)
        if data.draw(st.booleans()):
            args = ["next", model, *data.draw(options({
                "--prompt": texts, "--top": ints, "--candidates": st.one_of(texts, st.just("jack,,jill, and")),
                "--prefix": st.text(max_size=3), "--json": None}))]
        else:
            sentence = data.draw(st.one_of(texts.map(lambda t: t + " ___"), texts.map(lambda t: "___ " + t), texts,
                                           st.just("___ ___")))
            args = ["fill", model, sentence, *data.draw(options({
                "--top": ints, "--json": None,
                "--backward-model": st.sampled_from([str(world["models"]["back"]), str(world["root"])])}))]
        check(world, args)

    run()


@fuzz(40)
def test_fuzz_generate(world, scale):
    small = st.one_of(st.integers(1, 6).map(str), st.integers(-1, 6).map(str),
                      st.sampled_from(["0", "10001", "1000000", "abc", "1e3"]))
    table = {"--strategy": st.sampled_from(["greedy", "sample", "beam", "bogus"]),
             "--max-words": small, "--min-words": small, "--num": small, "--beam-size": small,
             "--temperature": floats, "--top-k": small, "--top-p": floats, "--length-penalty": floats,
             "--length-norm": st.sampled_from(["none", "avg", "gnmt", "x"]), "--no-repeat-ngram": small,
             "--forbid": st.sampled_from(["jack", "jack,jill", ",", "zebra"]), "--allow-unk": None,
             "--seed": st.one_of(st.integers(-2, 5).map(str), st.just(str(2**32))), "--batch-size": small,
             "--json": None}

    @settings(FUZZ, max_examples=scale)
    @given(st.data())
    def run(data):
        prompt = ["--prompt", data.draw(texts)] if data.draw(st.integers(0, 5)) else []
        check(world, ["generate", model_arg(world, data.draw(MODELS), data), *prompt, *data.draw(options(table))])

    run()


@fuzz(50)
def test_fuzz_rerank_and_tune(world, scale):
    @settings(FUZZ, max_examples=scale)
    @given(st.data())
    def run(data):
        folder = world["root"]
        model = model_arg(world, data.draw(MODELS), data)
        nbest = data.draw(nbest_file(folder))
        fmt = {"--format": st.sampled_from(["auto", "jsonl", "hyporadise", "mlm", "tsv", "xml"]),
               "--am": st.sampled_from(["score", "score=0.5", "decoder=1,ctc=0.4", "=1", "score=abc", "score=inf"])}
        if data.draw(st.booleans()):
            weights = fresh(folder, "w", ".json")
            weights.write_text(_dump(data.draw(st.one_of(
                _json_value(), st.fixed_dictionaries({"lm_weight": st.floats(), "word_bonus": st.floats()})))))
            args = ["rerank", model, nbest, *data.draw(options({
                **fmt, "--lm-weight": floats, "--word-bonus": floats, "--weights": st.just(weights),
                "--json": None, "--all": None, "-o": destination(folder)}))]
        else:
            ranges = st.sampled_from(["0:2:0.5", "0:1:0.25", "1", "0:2:0.5", "2:1:0.1", "0:1:0", "0:99:0.001",
                                      "a:b:c", "0:1"])
            args = ["tune", model, nbest, *data.draw(options({
                **fmt, "--lm-weights": ranges, "--word-bonuses": ranges, "-o": destination(folder)}))]
        check(world, args)

    run()


@fuzz(30)
def test_fuzz_info_and_mutated_model_directories(world, scale):
    @settings(FUZZ, max_examples=scale)
    @given(st.data())
    def run(data):
        name = data.draw(MODELS)
        broken = fresh(world["root"], "broken-")
        shutil.copytree(world["models"][name], broken)
        config = json.loads((broken / "wordlm.json").read_text())
        what = data.draw(st.sampled_from(["field", "json", "weights", "none"]))
        if what == "field":
            section = data.draw(st.sampled_from(sorted(config)))
            if isinstance(config[section], dict) and config[section] and data.draw(st.booleans()):
                config[section][data.draw(st.sampled_from(sorted(config[section])))] = data.draw(_json_value())
            else:
                config[section] = data.draw(_json_value())
            (broken / "wordlm.json").write_text(_dump(config))
        elif what == "json":
            text = (broken / "wordlm.json").read_text()
            cut = data.draw(st.integers(0, len(text)))
            (broken / "wordlm.json").write_text(text[:cut] + data.draw(st.text(max_size=10)) + text[cut + 1:])
        elif what == "weights":
            weights = broken / config["weights_file"]
            raw = bytearray(weights.read_bytes())
            for _ in range(data.draw(st.integers(1, 20))):
                raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
            weights.write_bytes(bytes(raw[: data.draw(st.integers(0, len(raw)))]))
        command = data.draw(st.sampled_from(["info", "info --json", "score", "next"]))
        args = command.split() + [broken]
        check(world, args, input="jack and jill\n" if command == "score" else None)

    run()


@fuzz(3)
def test_fuzz_export(world, scale):
    out = world["root"] / "served" / "1"  # one export that succeeds, and its replacement
    for extra in ([], ["--overwrite"]):
        assert check(world, ["export", world["models"]["seq"], out, "--top", "3", *extra]).exit_code == 0

    @settings(FUZZ, max_examples=scale)
    @given(st.data())
    def run(data):
        folder = world["root"]
        model = model_arg(world, data.draw(st.sampled_from(["seq", "win"])), data)
        out = data.draw(st.sampled_from([fresh(folder, "exp") / "1",
                                         world["models"]["seq"], world["models"]["seq"] / "sub",
                                         folder / "plain-file" / "1", folder]))
        (folder / "plain-file").write_text("x")
        check(world, ["export", model, out, *data.draw(options({"--top": ints, "--overwrite": None}))])

    run()


@fuzz(5)
def test_fuzz_train(world, scale):
    out = world["root"] / "trained"  # one training that succeeds
    text = world["root"] / "rhyme.txt"
    text.write_text("\n".join(RHYME) + "\n")
    assert check(world, ["train", text, "-o", out, "--epochs", "1", "--units", "2", "--embedding-dim", "2",
                         "-q"]).exit_code == 0

    @settings(FUZZ, max_examples=scale)
    @given(st.data())
    def run(data):
        folder = world["root"]
        text = data.draw(text_file(folder))
        target = data.draw(st.sampled_from(["fresh", "existing", "pristine"]))
        if target == "pristine":
            out = world["models"]["seq"]  # must be refused (or, with --resume/--overwrite, never touched: see below)
        else:
            out = fresh(folder, "train-")
            if target == "existing":
                shutil.copytree(world["models"]["seq"], out)
        args = ["train", text, "-o", out, "--epochs", "1", "--units", "2", "--embedding-dim", "2", "-q",
                *data.draw(options({
                    "--framing": st.sampled_from(["sequence", "window", "word", "char", "line", "x"]),
                    "--context": st.sampled_from(["1", "2", "0"]), "--tokenizer": st.sampled_from(["keras", "whitespace"]),
                    "--min-count": st.sampled_from(["1", "2", "0"]), "--max-vocab": st.sampled_from(["3", "0"]),
                    "--dropout": st.sampled_from(["0", "0.5", "1", "nan"]), "--batch-size": st.sampled_from(["1", "4", "0"]),
                    "--learning-rate": st.sampled_from(["0.01", "1e35", "0", "inf"]), "--seed": ints,
                    "--resume": None, "--no-boundaries": None, "--reverse": None, "--context-tokens": st.sampled_from(["0", "8"]),
                }))]
        if target == "pristine" and ("--resume" in args or "--overwrite" in args):
            return  # replacing or continuing the model is then what was asked
        check(world, args)
        if target != "pristine" and (out / "wordlm.json").exists():  # whatever happened, a model there loads
            import wordlm

            wordlm.load(out)

    run()
