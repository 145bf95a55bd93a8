"""Tokenizer and text encoder: the words of the grammar, clear errors, padding that changes nothing."""

import pytest
import torch

from latentlab.data import CaptionedShapes
from latentlab.text import TextConfig, TextEncoder, Tokenizer, caption_vocabulary


def test_every_caption_tokenizes_and_round_trips():
    tok = Tokenizer()
    data = CaptionedShapes(300, seed=0, two_objects=0.5)
    for i in range(len(data)):
        caption = data.scene_and_caption(i)[1]
        ids = tok.encode(caption)
        assert len(ids) == tok.context_length
        assert tok.decode(ids) == " ".join(tok.words(caption))


def test_unknown_word_names_the_nearest_known_words():
    with pytest.raises(ValueError, match="'circel': did you mean circle"):
        Tokenizer().encode("a red circel")
    with pytest.raises(ValueError, match="unknown word"):
        Tokenizer().encode("a pad <pad>x")  # special tokens cannot be typed


def test_too_long_and_wrong_type():
    tok = Tokenizer(context_length=8)
    with pytest.raises(ValueError, match="at most 6"):
        tok.encode("a red circle on a blue background top left")
    with pytest.raises(TypeError, match="a prompt is a string"):
        tok.encode(None)
    with pytest.raises(ValueError, match="at least one"):
        tok([])


def test_empty_prompt_is_start_end_and_padding():
    tok = Tokenizer()
    ids = tok.encode("")
    assert ids[:2] == [tok.start_id, tok.end_id] and set(ids[2:]) == {tok.pad_id}
    assert tok.encode("  ,. ") == ids  # only punctuation: the same empty prompt


def test_encoder_shapes_and_padding_does_not_leak():
    torch.manual_seed(0)
    enc = TextEncoder(TextConfig(width=32, layers=2, heads=2, context_length=12)).eval()
    out = enc.encode(["a red circle", "a blue star on a white background"])
    assert out.shape == (2, 12, 32)
    # Whatever the padding positions hold, the real tokens' vectors are the same (they are masked).
    ids = enc.tokenizer(["a red circle"])
    with torch.no_grad():
        a = enc(ids)
        enc.token_embedding.weight[enc.tokenizer.pad_id] = torch.randn(32) * 5
        b = enc(ids)
    torch.testing.assert_close(a[0, :5], b[0, :5])
    assert not torch.allclose(a[0, 6:], b[0, 6:])
    assert not torch.allclose(enc.encode("a red circle")[0, 2], enc.encode("a blue circle")[0, 2])


def test_vocabulary_is_the_grammars():
    words = caption_vocabulary()
    assert {"circle", "star", "red", "background", "top", "left", "and"} <= set(words)
    assert words == sorted(set(words))


# --- issue 13: prompts of the wrong type, digits and emoji, accented words -------------------------

@pytest.mark.parametrize("prompt, error, message", [
    (None, TypeError, "a prompt is a string, got NoneType"),
    (b"a red circle", TypeError, r"got bytes.*decode it first"),
    (42, TypeError, "a prompt is a string, got int"),
    ("a red circle 2", ValueError, r"holds '2': not letters"),
    ("a red 🔴 circle", ValueError, "holds '🔴'"),
    ("3 red circles", ValueError, "unknown word"),  # an unknown word is named first
])
def test_bad_prompts_get_a_clear_message(prompt, error, message):
    with pytest.raises(error, match=message):
        Tokenizer().encode(prompt)


def test_a_list_of_prompts_must_be_a_list():
    with pytest.raises(TypeError, match="a prompt .str. or a list of prompts, got NoneType"):
        Tokenizer()(None)


def test_accented_words_are_whole_words():
    tok = Tokenizer(words=[*caption_vocabulary(), "círculo", "rojo", "un"])
    assert tok.words("Un círculo ROJO, ¡arriba!") == ["un", "círculo", "rojo", "arriba"]
    # an accent typed as a combining mark (NFD) is the same word
    assert tok.encode("un cı\u0301rculo rojo".replace("ı", "i")) == tok.encode("un círculo rojo")
    assert tok.ids["círculo"] in tok.encode("un círculo rojo")


def test_an_unknown_accented_word_is_named_whole_with_a_suggestion():
    with pytest.raises(ValueError, match="'círculo': did you mean circle"):
        Tokenizer().encode("a red círculo")
