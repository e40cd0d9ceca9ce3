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
