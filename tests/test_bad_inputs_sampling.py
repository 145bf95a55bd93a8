"""Bad-input battery: sampling arguments (issue 13). Steps, guidance, strength, seeds, samplers and sizes
that make no sense are refused before the first model call; integers of any kind (NumPy's too) and
one-number tensors are taken as the numbers they hold; the same seed gives the same picture."""

import numpy as np
import pytest
import torch

from latentlab.pipeline import empty_latent, encode_image, make_generator, sample, slerp
from latentlab.samplers import make_sampler
from latentlab.vae import AutoencoderKL, VAEConfig

SHAPE = (1, 4, 4, 4)


class Model:
    """A model callable that counts its calls: a refused argument must cost none."""

    def __init__(self):
        self.calls = 0

    def __call__(self, x, t, context):
        self.calls += 1
        return 0.1 * x


def _sample(**options):
    model = Model()
    settings = {"latent_shape": SHAPE, "steps": 3, "generator": torch.Generator().manual_seed(0), **options}
    return sample(model, make_sampler(settings.pop("sampler", "ddim")), **settings), model


@pytest.mark.parametrize("options, words", [
    ({"steps": 0}, ["steps must be a positive integer", "got 0"]),
    ({"steps": -2}, ["steps must be a positive integer"]),
    ({"steps": 1.5}, ["steps must be a positive integer", "1.5"]),
    ({"steps": True}, ["steps must be a positive integer", "True"]),
    ({"steps": "20"}, ["steps must be a positive integer", "'20'"]),
    ({"steps": 2000}, ["exceeds the 1000 training steps"]),
    ({"cfg": float("nan")}, ["cfg must be a number ≥ 0 and finite", "nan"]),
    ({"cfg": float("inf")}, ["cfg must be a number ≥ 0 and finite", "inf"]),
    ({"cfg": -1.0}, ["cfg must be a number ≥ 0"]),
    ({"cfg": "7.5"}, ["cfg must be a number"]),
    ({"cfg": torch.tensor([1.0, 2.0])}, ["cfg must be a number"]),
    ({"denoise": float("nan")}, ["denoise must be in [0, 1]", "nan"]),
    ({"denoise": 1.5}, ["denoise must be in [0, 1]"]),
    ({"denoise": -0.1}, ["denoise must be in [0, 1]"]),
    ({"denoise": 0.5}, ["needs an initial_latent", "img2img"]),
    ({"noise": torch.zeros(1, 4, 8, 8)}, ["noise is shaped (1, 4, 8, 8)", "(1, 4, 4, 4)"]),
    ({"latent_shape": None}, ["give latent_shape", "initial_latent"]),
])
def test_nonsense_sampling_arguments_are_refused_before_any_model_call(options, words):
    model = Model()
    settings = {"latent_shape": SHAPE, "steps": 3, **options}
    with pytest.raises(ValueError) as info:
        sample(model, make_sampler("ddim"), **settings)
    assert all(word in str(info.value) for word in words), str(info.value)
    assert model.calls == 0


@pytest.mark.parametrize("options, plain", [({"steps": np.int64(3)}, {"steps": 3}),
                                            ({"cfg": torch.tensor(2.0)}, {"cfg": 2.0}),
                                            ({"cfg": np.float64(2.0)}, {"cfg": 2.0})])
def test_numpy_numbers_and_one_number_tensors_mean_the_number(options, plain):
    (got, _), (expected, _) = _sample(**options), _sample(**plain)
    torch.testing.assert_close(got.sample, expected.sample, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["ddim", "euler", "heun", "dpmpp_2m", "ddpm"])
def test_one_step_is_a_valid_run(name):
    trajectory, model = _sample(steps=1, sampler=name)
    assert len(trajectory) == 1 and torch.isfinite(trajectory.sample).all() and model.calls >= 1


@pytest.mark.parametrize("seed, error, words", [
    (-1, ValueError, ["[0, 2**64)", "-1"]),
    (2**64, ValueError, ["[0, 2**64)", str(2**64)]),
    (1.5, TypeError, ["a seed is an integer", "float"]),
    ("42", TypeError, ["a seed is an integer", "str"]),
    (True, TypeError, ["a seed is an integer", "bool"]),
    (None, TypeError, ["a seed is an integer", "NoneType"]),
])
def test_a_seed_outside_what_a_generator_holds_is_refused(seed, error, words):
    with pytest.raises(error) as info:
        make_generator(seed)
    assert all(word in str(info.value) for word in words), str(info.value)


@pytest.mark.parametrize("seed", [0, 2**64 - 1, np.int64(7), np.uint64(2**63 + 5)])
def test_every_64_bit_seed_is_a_seed_and_the_same_seed_gives_the_same_noise(seed):
    first = torch.randn(8, generator=make_generator(seed))
    torch.testing.assert_close(torch.randn(8, generator=make_generator(int(seed))), first, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["nope", "", None, "DDIM "])
def test_an_unknown_sampler_lists_the_known_ones(name):
    with pytest.raises(ValueError, match="unknown sampler .*known samplers: ddpm, ddim"):
        make_sampler(name)


@pytest.mark.parametrize("width, error, words", [
    (0, ValueError, ["width=0 is too small"]), (30, ValueError, ["not a multiple", "try 24 or 32"]),
    (64.0, TypeError, ["integer number of pixels"]), (-64, ValueError, ["too small"]),
])
def test_an_empty_latent_of_no_sensible_size_is_refused(width, error, words):
    with pytest.raises(error) as info:
        empty_latent(width, 64)
    assert all(word in str(info.value) for word in words), str(info.value)


@pytest.mark.parametrize("size", [0, -32, (64, 0), 32.5])
def test_encode_image_refuses_a_size_of_no_pixels(size):
    vae = AutoencoderKL(VAEConfig.tiny()).eval()
    with pytest.raises(ValueError, match="size must be a side or \\(width, height\\) in whole pixels > 0"):
        encode_image(vae, np.zeros((64, 64, 3), np.uint8), size=size)


@pytest.mark.parametrize("weight, words", [(float("nan"), "weight must be in [0, 1]"), (1.5, "weight must be in [0, 1]")])
def test_slerp_refuses_a_weight_outside_the_path(weight, words):
    with pytest.raises(ValueError) as info:
        slerp(torch.randn(4), torch.randn(4), weight)
    assert words in str(info.value)
