"""Lesson 07's widget: pixels vs latent, predicted from the shapes and measured on a button, driven
through every control (tiny measurements: a small FLOP budget)."""

import pytest

from latentlab.widgets.why_latent import WhyLatentApp, counted_gflops


def test_the_default_answers_the_seeds_example_at_a_glance():
    shown = WhyLatentApp().render()
    assert shown["size"] == 512 and shown["latent_shape"] == [4, 64, 64]  # 512×512 pixels vs a 64×64 latent
    assert shown["positions_ratio"] == 64
    # the same recipe on pixels: attention's (h·w)² term dwarfs everything that follows h·w
    pixels = shown["gflops"]["pixels"]
    assert pixels["follows (h·w)²"] > 10 * pixels["follows h·w"]
    assert shown["flop_ratio"] > 64 and shown["memory_ratio"] > 64
    assert shown["weights_mb"]["pixels"] == pytest.approx(shown["weights_mb"]["latent"], rel=0.01)


def test_every_control_changes_what_is_shown():
    app = WhyLatentApp(size=128)
    base = app.render()
    app.controls["f"].value = 4
    assert app.render()["latent_shape"] == [4, 32, 32]
    app.controls["c"].value = 16
    assert app.render()["latent_shape"] == [16, 32, 32]
    app.controls["size"].value = 256
    assert app.render()["latent_shape"] == [16, 64, 64]
    app.controls["size"].value, app.controls["f"].value, app.controls["c"].value = 128, 8, 4
    assert app.render()["flop_ratio"] == pytest.approx(base["flop_ratio"])
    for level in range(3):  # no attention at a level: its quadratic FLOPs are gone, in both spaces
        before = app.render()["gflops"]["pixels"]["follows (h·w)²"]
        app.controls[f"attention_{level}"].value = False
        assert app.render()["gflops"]["pixels"]["follows (h·w)²"] < before
    app.controls["attention_0"].value = True
    assert app.render()["memory_mb"]["latent"]["follows (h·w)²"] > 0  # maps materialised: the default
    app.controls["materialised"].value = False
    assert app.render()["memory_mb"]["latent"]["follows (h·w)²"] == 0
    app.controls["pixel_model"].value = "fair"
    fair = app.render()
    assert fair["pixel_model"] == "fair" and fair["flop_ratio"] < base["flop_ratio"]
    assert app.last_error is None and "GFLOPs per step" in app.figure.value and "#D55E00" in app.figure.value


def test_a_latent_too_small_for_the_unet_is_said_in_the_status_line():
    app = WhyLatentApp(size=64, f=16)  # a 4-wide latent: the smallest the three levels can halve
    assert app.safe_render() is not None
    app.controls["size"].options = [32, 64]
    app.controls["size"].value = 32  # a 2-wide latent cannot be halved twice
    assert "cannot halve" in app.status.value and "larger picture" in app.status.value


def test_the_button_measures_both_spaces_here():
    app = WhyLatentApp(size=128, measure_gflops=0.3, repeats=1)
    app.render()
    app.controls["measure"].click()
    measured = app.last_measurement
    assert app.last_error is None and measured is not None
    assert set(measured["ms"]) == {"pixels", "latent"} and all(ms > 0 for ms in measured["ms"].values())
    # pixel space at 128 px is over the budget: measured smaller, its time scaled up by the counted FLOPs
    assert measured["measured_at_px"]["pixels"] < 128 and measured["ms_at_size"]["pixels"] > measured["ms"]["pixels"]
    assert "faster" in app.measured.value
    assert app.render()["measured"] is measured  # shown beside the prediction


def test_counted_flops_split_attention_from_the_rest():
    from latentlab.unet import UNetConfig

    with_attention, weights = counted_gflops(UNetConfig.shapes(), 16)
    without, same_weights = counted_gflops(UNetConfig(attention_levels=(False, False, False)), 16)
    assert with_attention["follows (h·w)²"] > without["follows (h·w)²"] > 0  # the middle block always attends
    assert weights > same_weights > 0


def test_bench_steps_change_f_without_error():
    app = WhyLatentApp.for_bench(256)
    for i in range(3):
        app.bench_step(i)
    assert app.last_error is None
