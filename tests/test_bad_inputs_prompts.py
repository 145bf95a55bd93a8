"""Bad-input battery: prompts, through the functions a student calls (issue 13). A prompt the model
cannot read is refused by name with what it can read; nothing is dropped or repeated without a word."""

from dataclasses import replace

import pytest
import torch

from latentlab.ldm import LatentDiffusion, LDMConfig
from latentlab.pipeline import encode_prompt, text_to_image
from latentlab.vae import AutoencoderKL, VAEConfig


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return LatentDiffusion(replace(LDMConfig.tiny(), image_size=32)).eval(), AutoencoderKL(VAEConfig.tiny()).eval()


@pytest.mark.parametrize("prompt, error, words", [
    (None, TypeError, ["a prompt is a string", "NoneType"]),
    (b"a red circle", TypeError, ["a prompt is a string", "bytes", "prompt.decode()"]),
    (3, TypeError, ["a prompt is a string", "int"]),
    ({"a red circle"}, TypeError, ["a prompt is a string", "set"]),
    (["a red circle", None], TypeError, ["a prompt is a string", "NoneType"]),
    ("a red circle 2", ValueError, ["'2'", "write numbers out as words"]),
    ("a red circle 🙂", ValueError, ["'🙂'", "words only"]),
    ("a\x00red circle", ValueError, ["'\\x00'"]),
    ("a red banana", ValueError, ["unknown word", "banana", "The model knows 26 words"]),
    ("a círculo red", ValueError, ["'círculo'", "did you mean circle"]),  # mostly English: English help
    ("un circlo rojo", ValueError, ["'circlo'", "did you mean círculo"]),  # Spanish: Spanish help
    ("una estrella roja brillante", ValueError, ["'brillante'", "The Spanish captions use"]),
    ("a red circle " * 12, ValueError, ["tokens", "at most"]),
])
def test_a_prompt_the_model_cannot_read_is_refused_by_name(models, prompt, error, words):
    with pytest.raises(error) as info:
        text_to_image(*models, prompt, steps=1)
    assert all(word in str(info.value) for word in words), str(info.value)


@pytest.mark.parametrize("prompt, batch, words", [
    ("a red circle", 0, ["batch must be a positive integer", "got 0"]),
    ("a red circle", -1, ["batch must be a positive integer"]),
    ("a red circle", 1.5, ["batch must be a positive integer"]),
    ("a red circle", True, ["batch must be a positive integer"]),
    (["a red circle", "a blue square"], 3, ["batch=3", "2 prompts", "leave batch out"]),
    ([], None, ["batch must be a positive integer, got 0"]),
])
def test_a_batch_that_is_not_a_count_of_pictures_is_refused(models, prompt, batch, words):
    """Issue 13 item 6: batch=0 used to give one picture without a word."""
    with pytest.raises(ValueError) as info:
        text_to_image(*models, prompt, steps=1, batch=batch)
    assert all(word in str(info.value) for word in words), str(info.value)


def test_batch_gives_that_many_pictures(models):
    pictures, _ = text_to_image(*models, "a red circle", steps=1, batch=2)
    assert pictures.shape[0] == 2


@pytest.mark.parametrize("prompt, same_as", [("a RED Circle", "a red circle"), ("  a red\ncircle  ", "a red circle"),
                                             ("   ", ""), (("a red circle",), "a red circle")])
def test_case_whitespace_and_tuples_are_read_as_documented(models, prompt, same_as):
    """Case and spacing carry no meaning (all blank = the unconditional prompt); a tuple is a list."""
    model, _ = models
    torch.testing.assert_close(encode_prompt(model, prompt), encode_prompt(model, same_as), rtol=0, atol=0)
