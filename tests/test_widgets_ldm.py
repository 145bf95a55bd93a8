"""The latent-diffusion apps of lesson 06 (img2img strength, interpolation), their helpers, and its checkers.

Tiny untrained models keep these fast and independent of the shipped weights: what is asserted is the
plumbing (how many steps run, what is cached, what the endpoints are), which does not depend on training."""

import io
import math
from dataclasses import replace
from datetime import datetime, timezone

import numpy as np
import pytest
import torch
from PIL import Image

from latentlab.exercises import lesson06 as exercises
from latentlab.ldm import LatentDiffusion, LDMConfig, check_latent_space
from latentlab.pipeline import encode_image, interpolate_noise, make_generator, slerp, text_to_image
from latentlab.vae import AutoencoderKL, VAEConfig
from latentlab.viz import path_norm_figure
from latentlab.widgets.img2img import DENOISE_VALUES, Img2ImgApp, comfy_graph
from latentlab.widgets.interpolate import InterpolateApp, cfg_sweep, sample_from_noise

STEPS = 4


def _models(image_size=64, seed=0):
    torch.manual_seed(seed)
    model = LatentDiffusion(replace(LDMConfig.tiny(), image_size=image_size)).eval()
    return model, AutoencoderKL(VAEConfig.tiny()).eval()


@pytest.fixture
def models():
    return _models()


class Calls:
    """Counts every model and VAE call: UNet forward passes, prompt encodings, VAE encodes and decodes."""

    def __init__(self, monkeypatch, model, vae):
        self.count = 0
        model.register_forward_hook(lambda *args: self._add())
        for owner, name in ((model, "encode_prompt"), (vae, "encode"), (vae, "decode")):
            original = getattr(owner, name)

            def counted(*args, _original=original, **kwargs):
                self._add()
                return _original(*args, **kwargs)

            monkeypatch.setattr(owner, name, counted)

    def _add(self):
        self.count += 1


@pytest.fixture
def img2img_app(models):
    return Img2ImgApp(*models, steps=STEPS)


@pytest.fixture
def interpolate_app(models):
    return InterpolateApp(*models, frames=5, steps=STEPS)


# --- the ComfyUI graph ------------------------------------------------------------------------------


def _texts(fig):
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


def test_the_graph_names_the_nodes_and_their_calls():
    text = _texts(comfy_graph(shapes={"LATENT": (1, 4, 16, 16)}))
    for node, call in (("Empty Latent Image", "empty_latent("), ("CLIP Text Encode (positive)", "encode_prompt("),
                       ("KSampler", "sample("), ("VAE Decode", "decode(")):
        assert node in text and call in text
    assert "LATENT (1, 4, 16, 16)" in text and "VAE Encode" not in text
    img2img = _texts(comfy_graph(img2img=True))
    assert "VAE Encode" in img2img and "encode_image(" in img2img and "Empty Latent Image" not in img2img


# --- img2img --------------------------------------------------------------------------------------


def test_every_denoise_runs_the_steps_asked_for(img2img_app):
    r = img2img_app.render()
    assert r["steps"] == STEPS and r["image_size"] == 64 and r["latent_shape"] == [4, 8, 8]
    assert [e["denoise"] for e in r["strip"]] == [0.0, *DENOISE_VALUES]
    for denoise in DENOISE_VALUES:  # ComfyUI: `steps` always run; the schedule is int(steps / denoise) long
        img2img_app.controls["denoise"].value = denoise
        shown = img2img_app.render()
        assert shown["steps_run"] == STEPS and shown["model_calls"] == 2 * STEPS  # CFG: two calls a step
        assert shown["schedule_steps"] == int(STEPS / denoise)


def test_denoise_zero_returns_the_photos_own_latent(img2img_app):
    img2img_app.controls["denoise"].value = 0.0
    r = img2img_app.render()
    assert r["steps_run"] == 0 and r["model_calls"] == 0 and r["start_t"] is None and r["signal_kept"] == 1.0
    assert r["latent_distance"] == 0.0
    photo, _ = img2img_app.photo()
    assert photo.shape == (64, 64, 3)
    assert torch.equal(img2img_app.result()["latent"], encode_image(img2img_app.vae, photo))


def test_more_denoise_starts_from_more_noise(img2img_app):
    strip = img2img_app.strip()["results"]
    starts = [strip[d]["start_t"] for d in DENOISE_VALUES]
    kept = [strip[d]["signal_kept"] for d in DENOISE_VALUES]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert kept == sorted(kept, reverse=True) and len(set(kept)) == len(kept) and kept[0] < 1.0


def test_moving_the_cached_slider_calls_no_model(monkeypatch, models, img2img_app):
    calls = Calls(monkeypatch, *models)
    img2img_app.render()
    assert calls.count > 0
    calls.count = 0
    for i in range(len(DENOISE_VALUES) + 2):
        img2img_app.bench_step(i)
    assert calls.count == 0 and img2img_app.status.value == ""
    img2img_app.controls["seed"].value = 5  # a new (photo, prompt, seed): a new strip
    assert calls.count > 0


def test_same_seed_same_strip_and_another_seed_changes_it(models):
    first = Img2ImgApp(*models, steps=STEPS).render()
    again = Img2ImgApp(*models, steps=STEPS).render()
    assert first["strip"] == again["strip"]
    other = Img2ImgApp(*models, steps=STEPS, seed=1).render()
    assert other["strip"][-1]["latent_distance"] != first["strip"][-1]["latent_distance"]
    assert other["strip"][0] == first["strip"][0]  # denoise 0 draws no noise at all


def test_an_unknown_word_goes_to_the_status_line(img2img_app):
    img2img_app.render()
    img2img_app.controls["prompt"].value = "a purple banana"  # the observer renders; nothing raises
    assert "banana" in img2img_app.status.value and "unknown word" in img2img_app.status.value
    img2img_app.controls["denoise"].value = 1.0
    assert "banana" in img2img_app.status.value
    img2img_app.controls["prompt"].value = "a purple star"
    assert img2img_app.status.value == ""


def _upload(app, name, content: bytes):
    app.upload.value = ({"name": name, "type": "image/png", "size": len(content), "content": memoryview(content),
                         "last_modified": datetime.now(timezone.utc)},)


def test_uploads(img2img_app):
    img2img_app.render()
    _upload(img2img_app, "notes.png", b"not an image")
    assert "notes.png" in img2img_app.status.value and img2img_app.controls["photo"].value == "astronaut"
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (50, 90, 3), dtype=np.uint8)).save(buffer, "PNG")
    _upload(img2img_app, "mine.png", buffer.getvalue())
    assert img2img_app.controls["photo"].value == "uploaded: mine.png" and img2img_app.status.value == ""
    assert img2img_app.photo()[0].shape == (64, 64, 3)  # centre-cropped and resized to the model's size


def test_the_image_size_comes_from_the_model():
    app = Img2ImgApp(*_models(image_size=128), steps=2, denoise_values=(0.5, 1.0), denoise=0.5)
    r = app.render()
    assert r["image_size"] == 128 and r["latent_shape"] == [4, 16, 16] and app.photo()[0].shape == (128, 128, 3)


def test_a_vae_of_another_latent_space_is_refused(models):
    other = AutoencoderKL(replace(VAEConfig.tiny(), latent_channels=3))
    with pytest.raises(ValueError, match="channels"):
        check_latent_space(models[0], other)
    with pytest.raises(ValueError, match="channels"):
        Img2ImgApp(models[0], other)
    with pytest.raises(ValueError, match="denoise"):
        Img2ImgApp(*models, denoise=0.5)


# --- slerp and the interpolation app ----------------------------------------------------------------


def test_slerp_keeps_the_norm_and_lerp_shrinks_it():
    a = torch.randn(1, 4, 16, 16, generator=make_generator(0))
    b = torch.randn(1, 4, 16, 16, generator=make_generator(1))
    b = b * a.norm() / b.norm()  # equal norms
    for w in np.linspace(0, 1, 11):
        assert float(slerp(a, b, float(w)).norm()) == pytest.approx(float(a.norm()), rel=1e-5)
    assert float(torch.lerp(a, b, 0.5).norm()) < 0.8 * float(a.norm())  # ≈ 0.71 for near-orthogonal noises
    torch.testing.assert_close(interpolate_noise(a, b, 0.0), a)
    torch.testing.assert_close(interpolate_noise(a, b, 1.0), b)
    with pytest.raises(ValueError, match="path"):
        interpolate_noise(a, b, 0.5, "straight")


def test_the_frames_start_and_end_at_the_seeds_noise(interpolate_app):
    state = interpolate_app.all_frames()
    shape = interpolate_app.latent_shape
    torch.testing.assert_close(state["noise"][:1], torch.randn(shape, generator=make_generator(0)))
    torch.testing.assert_close(state["noise"][-1:], torch.randn(shape, generator=make_generator(1)))
    assert state["weights"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert state["model_calls"] == 2 * STEPS  # every frame in one batch


def test_the_end_frames_are_text_to_image_of_each_seed_and_prompt(models, interpolate_app):
    model, vae = models
    state = interpolate_app.all_frames()
    for k, (seed, prompt) in ((0, (0, interpolate_app.controls["prompt_a"].value)),
                              (-1, (1, interpolate_app.controls["prompt_b"].value))):
        _, trajectory = text_to_image(model, vae, prompt, seed=seed, steps=STEPS)
        torch.testing.assert_close(state["latents"][k], trajectory.sample[0], atol=1e-4, rtol=1e-4)


def test_slerp_frames_keep_the_norm_and_lerp_frames_lose_it(interpolate_app):
    interpolate_app.controls["weight"].value = 0.5
    r = interpolate_app.render()
    assert r["path"] == "slerp" and r["frame"] == 2 and r["weight"] == 0.5
    assert r["norm_ratio"] == pytest.approx(1.0, abs=0.03)
    assert r["expected_norm"] == pytest.approx(math.sqrt(4 * 8 * 8))
    interpolate_app.controls["path"].value = "lerp"
    r = interpolate_app.render()
    assert r["path"] == "lerp" and r["norm_ratio"] < 0.8
    interpolate_app.controls["weight"].value = 0.0
    r = interpolate_app.render()
    assert r["noise_norm"] == r["norm_a"]
    assert r["norm_ratio"] == pytest.approx(r["norm_a"] / ((r["norm_a"] + r["norm_b"]) / 2))


def test_moving_the_weight_calls_no_model(monkeypatch, models, interpolate_app):
    calls = Calls(monkeypatch, *models)
    interpolate_app.render()
    calls.count = 0
    seen = set()
    for i in range(6):
        interpolate_app.bench_step(i)
        seen.add(interpolate_app.render()["frame"])
    assert calls.count == 0 and seen == {0, 1, 2, 3, 4}
    interpolate_app.controls["seed_b"].value = 7
    assert calls.count > 0 and interpolate_app.status.value == ""


def test_an_unknown_word_in_a_prompt_goes_to_the_status_line(interpolate_app):
    interpolate_app.render()
    interpolate_app.controls["prompt_b"].value = "a blue banana"
    assert "banana" in interpolate_app.status.value
    assert interpolate_app.safe_render() is None


def test_sample_from_noise_without_guidance_calls_the_model_once_a_step(models):
    model, _ = models
    from latentlab.pipeline import encode_prompt, make_model_sampler

    noise = torch.randn(2, 4, 8, 8, generator=make_generator(3))
    trajectory = sample_from_noise(model, make_model_sampler(model), noise, steps=3, cfg=1.0,
                                   context=encode_prompt(model, "a red star", batch=2))
    assert len(trajectory) == 3 and trajectory.model_calls == 3 and trajectory.sample.shape == noise.shape


def test_cfg_sweep(models):
    model, vae = models
    pictures, trajectories = cfg_sweep(model, vae, "a red star", seed=2, scales=(1.0, 7.5), steps=2)
    assert pictures.shape == (2, 3, 64, 64) and [t.model_calls for t in trajectories] == [2, 4]
    plain, _ = text_to_image(model, vae, "a red star", seed=2, steps=2, cfg=1.0)
    torch.testing.assert_close(pictures[:1], plain)
    assert not torch.allclose(pictures[0], pictures[1])


def test_norm_figure_shows_lerp_dipping_below_slerp():
    fig = path_norm_figure((1, 4, 8, 8), samples=200, points=11)
    left = fig.axes[0]
    slerp_line, lerp_line = left.lines[0].get_ydata(), left.lines[1].get_ydata()
    assert min(lerp_line) < 0.8 * min(slerp_line)


def test_bench_registration():
    from latentlab.widgets import APPS, app_class

    assert app_class("img2img") is Img2ImgApp and app_class("interpolate") is InterpolateApp
    assert APPS["img2img"].startswith("latentlab.widgets.img2img:")
    assert callable(Img2ImgApp.for_bench) and callable(InterpolateApp.for_bench)


# --- the lesson's checkers ----------------------------------------------------------------------------


def test_latent_shape_checker():
    right = exercises.latent_shape_reference
    assert exercises.check_latent_shape(right, quiet=True)
    swapped = exercises.check_latent_shape(lambda width, height, batch, channels, factor:
                                           (batch, channels, width // factor, height // factor), quiet=True)
    assert not swapped and swapped.mistake == "width and height swapped"
    floats = exercises.check_latent_shape(lambda width, height, batch, channels, factor:
                                          (batch, channels, height / factor, width / factor), quiet=True)
    assert not floats and "//" in floats.message
    assert "not written" in exercises.check_latent_shape(lambda **kw: None, quiet=True).message


def test_img2img_steps_checker():
    assert exercises.check_img2img_steps(exercises.img2img_steps_reference, quiet=True)
    a1111 = exercises.check_img2img_steps(lambda steps, denoise: (steps, int(steps * denoise)), quiet=True)
    assert a1111.mistake == "diffusers' and AUTOMATIC1111's convention"
    rounded = exercises.check_img2img_steps(lambda steps, denoise: (round(steps / denoise), steps), quiet=True)
    assert rounded.mistake == "rounding instead of truncating"


def test_the_img2img_steps_reference_matches_the_pipeline(models):
    from latentlab.pipeline import make_model_sampler, start_timesteps

    sampler = make_model_sampler(models[0])
    for steps, denoise in ((20, 0.5), (20, 0.3), (7, 0.9)):
        schedule, run = exercises.img2img_steps_reference(steps, denoise)
        assert len(start_timesteps(sampler, steps, denoise)) == run and len(sampler.timesteps) == schedule


def test_slerp_checker():
    def my_slerp(a, b, weight):
        theta = torch.arccos((a * b).sum() / (a.norm() * b.norm()))
        return (torch.sin((1 - weight) * theta) * a + torch.sin(weight * theta) * b) / torch.sin(theta)

    assert exercises.check_slerp(my_slerp, quiet=True)
    assert exercises.check_slerp(lambda a, b, weight: torch.lerp(a, b, weight), quiet=True).mistake == \
        "a straight line (lerp)"
    assert exercises.check_slerp(lambda a, b, weight: my_slerp(a, b, 1 - weight), quiet=True).mistake == \
        "the weight measured from b"

    def unnormalised(a, b, weight):
        theta = torch.arccos((a * b).sum())
        return (torch.sin((1 - weight) * theta) * a + torch.sin(weight * theta) * b) / torch.sin(theta)

    result = exercises.check_slerp(unnormalised, quiet=True)
    assert not result and "‖a‖·‖b‖" in result.message


def test_recognisable_denoise_checker():
    strip = [{"denoise": 0.0, "ssim": 0.6}, {"denoise": 0.2, "ssim": 0.4}, {"denoise": 0.4, "ssim": 0.31},
             {"denoise": 0.6, "ssim": 0.2}]
    check = exercises.check_recognisable_denoise
    assert check(0.4, strip, quiet=True) and "largest" in check(0.4, strip, quiet=True).message
    assert check(0.2, strip, quiet=True) and "go further" in check(0.2, strip, quiet=True).message
    assert not check(0.6, strip, quiet=True)
    for wrong in (None, 0, 0.3, "0.4"):
        assert not check(wrong, strip, quiet=True)
    assert "render()['strip']" in check(0.2, None, quiet=True).message


def test_recognisable_denoise_checker_on_a_real_strip(img2img_app):
    strip = img2img_app.render()["strip"]
    bar = exercises.RECOGNISABLE_FRACTION * strip[0]["ssim"]  # strip[0] is denoise 0, the VAE's round trip
    for entry in strip[1:]:
        result = exercises.check_recognisable_denoise(entry["denoise"], strip, quiet=True)
        assert bool(result) == (entry["ssim"] >= bar), result.message
