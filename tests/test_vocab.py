import pytest

from wordlm.text import Tokenizer
from wordlm.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Vocabulary

from conftest import RHYME_LINES


def lines():
    tok = Tokenizer("keras")
    return [tok.tokenize(line) for line in RHYME_LINES]


def test_rhyme_vocabulary_is_the_tutorials():
    v = Vocabulary.build(lines())
    assert v.num_words == 21
    assert len(v) == 25
    # Keras's Tokenizer order: frequency, then first appearance.
    assert v.id_to_token[4:8] == ["and", "jack", "jill", "went"]  # and 3, jack 2, jill 2
    assert (v.token_to_id["<pad>"], v.token_to_id["<unk>"], v.token_to_id["<s>"], v.token_to_id["</s>"]) == (
        PAD_ID, UNK_ID, BOS_ID, EOS_ID)


def test_encode_decode_round_trip_and_unknowns():
    v = Vocabulary.build(lines())
    ids = v.encode(["jack", "went", "zebra", "<unk>", "<s>", "</s>", "<pad>"])
    assert ids[:2] == [v.token_to_id["jack"], v.token_to_id["went"]]
    assert ids[2:] == [UNK_ID] * 5  # unknown words and typed markers are all <unk>
    assert v.decode(v.encode(["jack", "and", "jill"])) == ["jack", "and", "jill"]
    assert v.is_oov("zebra") and v.is_oov("<unk>") and not v.is_oov("jack")


def test_min_count_and_max_vocab():
    v = Vocabulary.build(lines(), min_count=2)
    assert set(v.id_to_token[4:]) == {"jack", "and", "jill"}
    v = Vocabulary.build(lines(), max_vocab=2)
    assert v.id_to_token[4:] == ["and", "jack"]
    assert v.encode(["jill"]) == [UNK_ID]


def test_literal_unk_in_text_is_not_a_word():
    v = Vocabulary.build([["a", "<unk>", "b", "<unk>", "<unk>"]])
    assert v.num_words == 2 and "<unk>" not in v.id_to_token[4:]


def test_config_round_trip():
    v = Vocabulary.build(lines())
    assert Vocabulary.from_config(v.to_config()).id_to_token == v.id_to_token


def test_reserved_words_rejected():
    with pytest.raises(ValueError):
        Vocabulary(["a", "<s>"])
