"""Property-based tests (hypothesis) for text handling: encode–decode round trips."""

from hypothesis import given, settings
from hypothesis import strategies as st

from wordlm.text import KERAS_FILTERS, Tokenizer
from wordlm.vocab import RESERVED, UNK, Vocabulary

words = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"), min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(words, max_size=12), max_size=10))
def test_vocabulary_round_trip_of_known_words(lines):
    vocab = Vocabulary.build(lines)
    for line in lines:
        decoded = vocab.decode(vocab.encode(line))
        assert decoded == [w if w not in RESERVED else UNK for w in line]


@settings(max_examples=200, deadline=None)
@given(st.lists(words, max_size=12), st.integers(1, 3), st.integers(1, 20))
def test_vocabulary_limits_map_the_rest_to_unk(line, min_count, max_vocab):
    vocab = Vocabulary.build([line], min_count=min_count, max_vocab=max_vocab)
    assert vocab.num_words <= max_vocab
    for w, i in zip(line, vocab.encode(line)):
        assert vocab.id_to_token[i] == (w if w in vocab else UNK)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_whitespace_tokenizer_round_trip(text):
    tok = Tokenizer("whitespace", lower=False)
    tokens = tok.tokenize(text)
    assert tok.tokenize(tok.detokenize(tokens)) == tokens
    assert all(t and not any(c.isspace() for c in t) for t in tokens)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_keras_tokenizer_is_idempotent_and_filters(text):
    tok = Tokenizer("keras")
    tokens = tok.tokenize(text)
    assert tok.tokenize(tok.detokenize(tokens)) == tokens
    for t in tokens:
        assert t in ("<unk>", "<s>", "</s>") or not set(t) & set(KERAS_FILTERS)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_char_tokenizer_round_trip(text):
    tok = Tokenizer("char", lower=False)
    line = text.replace("\r", "").replace("\n", "")
    assert tok.detokenize(tok.tokenize(line)) == line


# -- n-best readers, WER, perplexity summaries ----------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["utt_id", "id", "hyps", "text", "score", "ref", "input", "output", "am_score", "hyp_1", "x"]),
        children, max_size=5),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.sampled_from(["auto", "jsonl", "hyporadise", "mlm", "tsv"]), st.booleans())
def test_nbest_readers_never_crash_on_arbitrary_json(tmp_path_factory, value, fmt, as_lines):
    import json

    from wordlm.errors import WordlmError
    from wordlm.nbest import read_nbest

    path = tmp_path_factory.mktemp("nb") / "in.json"
    if as_lines and isinstance(value, list):
        path.write_text("\n".join(json.dumps(v) for v in value) + "\n")
    else:
        path.write_text(json.dumps(value))
    try:
        utterances = list(read_nbest(path, fmt))
    except WordlmError as e:
        assert "\n" not in str(e)
        return
    for u in utterances:
        assert u.hyps, "a parsed utterance always has hypotheses"


sentences = st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=8).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(sentences, sentences)
def test_wer_is_a_metric(a, b):
    from wordlm.wer import count_errors

    ab = count_errors([a], [b])[0]
    ba = count_errors([b], [a])[0]
    assert (ab.errors == 0) == (a.split() == b.split())
    assert ab.errors == ba.errors  # edit distance is symmetric
    assert ab.errors <= max(len(a.split()), len(b.split()))
    # (S/D/I splits may differ between equally short alignments; only the count is symmetric.)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["jack", "jill", "hill", "zebra"]), max_size=6).map(" ".join), max_size=12),
       st.integers(0, 12))
def test_perplexity_summaries_merge(lines, cut):
    from stubs import TableLM

    from wordlm.scoring import Options, Summary, score_sentences

    lm = TableLM(["jack", "jill", "hill"])
    options = Options()
    whole, first, second = Summary(options=options), Summary(options=options), Summary(options=options)
    scores = score_sentences(lm, lines, options)
    for i, s in enumerate(scores):
        whole.add(s)
        (first if i < cut else second).add(s)
    first.merge(second)
    assert first.to_json() == whole.to_json()
