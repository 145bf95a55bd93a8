"""The cross-attention app (lesson 04), driven through its controls.

A tiny untrained LatentDiffusion and a tiny VAE keep these fast and independent of the shipped
weights: what is recorded, cached and drawn does not depend on training."""

import pytest
import torch

from latentlab.ldm import LatentDiffusion, LDMConfig
from latentlab.text import TextConfig
from latentlab.unet import UNetConfig
from latentlab.vae import AutoencoderKL, VAEConfig
from latentlab.widgets.cross_attention import AVERAGE, CrossAttentionApp, overlay, record_cross_attention

PROMPT = "a small red circle on a blue background, top left"
STEPS = 4


def _models(config: LDMConfig | None = None):
    torch.manual_seed(0)
    return LatentDiffusion(config or LDMConfig.tiny()).eval(), AutoencoderKL(VAEConfig.tiny()).eval()


@pytest.fixture
def models():
    return _models()


@pytest.fixture
def app(models):
    return CrossAttentionApp(*models, prompt=PROMPT, steps=STEPS)


def _count_calls(model) -> list:
    """Count the UNet calls of `model` (instance attribute: nn.Module.__call__ looks forward up on the instance)."""
    calls = []
    original = model.forward

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    model.forward = counting
    return calls


def test_the_record_holds_every_layer_at_every_step(models):
    model, vae = models
    record = record_cross_attention(model, vae, PROMPT, steps=STEPS)
    layers = model.unet.cross_attention_layers()
    L = model.config.text.context_length
    assert list(record.attention) == [name for name, _ in layers]
    assert record.latent_size == (16, 16) and len(record.timesteps) == STEPS and len(record.pred_x0) == STEPS
    for name, weights in record.attention.items():
        H, W = record.grids[name]
        assert weights.shape == (STEPS, H * W, L)
        # softmax rows: every grid cell spreads exactly one unit of attention over the L positions
        torch.testing.assert_close(weights.sum(-1), torch.ones(STEPS, H * W))
    assert sorted(set(record.grids.values())) == [(8, 8)]  # the tiny UNet attends at its second level only
    assert record.tokens == ["<start>", *PROMPT.replace(",", "").split(), "<end>"]
    assert record.model_calls == 2 * STEPS  # CFG: conditional and unconditional pass per step
    # the model is left as it was found: fused attention, nothing kept
    assert all(not layer.keep_attention and layer.last_attention is None for _, layer in layers)


def test_maps_and_masses_are_consistent(models):
    record = record_cross_attention(*models, PROMPT, steps=STEPS)
    name = next(iter(record.attention))
    L = record.attention[name].shape[-1]
    assert record.maps(0, name).shape == record.maps(0, AVERAGE).shape == (L, 16, 16)
    torch.testing.assert_close(record.mass(1, AVERAGE).sum(), torch.tensor(1.0))
    with pytest.raises(ValueError, match="unknown layer"):
        record.maps(0, "no.such.layer")


def test_render_shows_one_heatmap_per_token(app):
    r = app.render()
    assert r["tokens"][0] == "<start>" and r["tokens"][-1] == "<end>" and "circle" in r["tokens"]
    assert len(app.heatmaps) == len(r["tokens"]) == len(r["attention_mass"]) == len(app.heatmap_box.children)
    assert sum(r["attention_mass"]) + r["padding_mass"] == pytest.approx(1.0, abs=1e-5)
    assert r["steps"] == STEPS and r["layer"] == AVERAGE and r["grid"] is None
    assert bytes(app.picture.value).startswith(b"\x89PNG")
    assert all(bytes(h.value).startswith(b"\x89PNG") for h in app.heatmaps)
    assert "circle" in app.captions[r["tokens"].index("circle")].value
    assert app.status.value == ""


def test_a_longer_prompt_gets_more_heatmaps(app):
    short = app.render()
    app.controls["prompt"].value = "a large green star and a small red square on a white background"
    long = app.render()
    assert len(long["tokens"]) > len(short["tokens"]) and len(app.heatmaps) == len(long["tokens"])
    app.controls["prompt"].value = "a circle"
    assert len(app.heatmaps) == 4 and app.render()["tokens"] == ["<start>", "a", "circle", "<end>"]


def test_scrubbing_steps_and_layers_does_not_call_the_model_again(app):
    first = app.render()
    calls = _count_calls(app.model)
    seen = []
    for step in range(STEPS):
        app.controls["step"].value = step
        for layer in app.controls["layer"].options:
            app.controls["layer"].value = layer
            seen.append(app.render())
    app.controls["picture"].value = "final picture"
    app.controls["scale"].value = "one range for all maps"
    app.render()
    assert calls == [] and app.sampling_runs == first["sampling_runs"] == 1
    assert len({r["t"] for r in seen}) == STEPS  # every step is a different noise level
    layer = app.layer_names[0]
    one_layer = [r for r in seen if r["layer"] == layer]
    assert one_layer[0]["grid"] == [8, 8]
    assert one_layer[0]["attention_mass"] != one_layer[-1]["attention_mass"]  # the attention changes over steps


def test_a_new_prompt_or_seed_samples_again_and_an_old_one_is_cached(app):
    app.render()
    calls = _count_calls(app.model)
    app.controls["seed"].value = 1
    assert app.render()["sampling_runs"] == 2 and len(calls) == 2 * STEPS
    app.controls["seed"].value = 0
    assert app.render()["sampling_runs"] == 2 and len(calls) == 2 * STEPS  # (prompt, seed 0) was cached
    app.controls["prompt"].value = "A small red circle on a blue background top left."  # the same tokens
    assert app.render()["sampling_runs"] == 2


def test_the_picture_changes_with_the_step(app):
    app.controls["step"].value = 0
    early = bytes(app.picture.value)
    app.controls["step"].value = STEPS - 1
    assert bytes(app.picture.value) != early


def test_an_unknown_word_goes_to_the_status_line(app):
    app.render()
    app.controls["prompt"].value = "a small red sqare"  # observers call safe_render: no exception
    assert "ValueError" in app.status.value and "sqare" in app.status.value and "square" in app.status.value
    assert app.sampling_runs == 1
    app.controls["prompt"].value = "a small red square"
    assert app.status.value == "" and app.sampling_runs == 2


def test_sizes_come_from_the_model():
    """Another context width, three levels with attention everywhere, 64 px pictures: nothing hard-coded."""
    config = LDMConfig(unet=UNetConfig(block_channels=(16, 16, 32), attention_levels=(True, True, True), heads=2,
                                       context_dim=24, norm_groups=8),
                       text=TextConfig(width=24, layers=1, heads=2), image_size=64)
    model, vae = _models(config)
    app = CrossAttentionApp(model, vae, prompt="a star", steps=3, cfg=1.0)
    r = app.render()
    record = app.run()["record"]
    assert record.latent_size == (8, 8) and record.model_calls == 3  # cfg = 1: one call per step
    assert sorted(set(record.grids.values())) == [(2, 2), (4, 4), (8, 8)]
    assert len(app.controls["layer"].options) == len(model.unet.cross_attention_layers()) + 1
    assert r["tokens"] == ["<start>", "a", "star", "<end>"]
    assert app.picture.layout.width and bytes(app.picture.value).startswith(b"\x89PNG")


def test_a_vae_of_another_latent_width_is_a_clear_error(models):
    model, _ = models
    vae = AutoencoderKL(VAEConfig(block_out_channels=(8, 8, 16, 16), layers_per_block=1, latent_channels=3,
                                  norm_groups=4))
    with pytest.raises(ValueError, match="3-channel latents"):
        record_cross_attention(model, vae, "a star", steps=2)


def test_overlay_shape_and_range():
    picture = torch.randint(0, 256, (32, 32, 3), dtype=torch.uint8).numpy()
    heat = torch.rand(32, 32).numpy()
    out = overlay(picture, heat, 0.0, 1.0)
    assert out.shape == (32, 32, 3) and out.dtype.name == "uint8"
    assert (overlay(picture, heat, 0.5, 0.5) >= 0).all()  # a flat range does not divide by zero


def test_bench_steps_move_the_step_without_sampling_again(models, monkeypatch):
    from latentlab.widgets import cross_attention

    monkeypatch.setattr(cross_attention, "course_models", lambda: models)  # tiny models, not the shipped ones
    app = CrossAttentionApp.for_bench(256)
    before = app.controls["step"].value
    for i in range(5):
        app.bench_step(i)
        assert app.controls["step"].value != before
        before = app.controls["step"].value
    assert app.status.value == "" and app.sampling_runs == 1


def test_registered_in_the_benchmark():
    from latentlab.widgets import APPS, app_class

    assert APPS["cross_attention"] == "latentlab.widgets.cross_attention:CrossAttentionApp"
    assert app_class("cross_attention") is CrossAttentionApp
