"""`latentlab bench why-latent`: the same UNet in every space, and the figures it reports."""

import pytest
import torch

from latentlab import why_latent
from latentlab.unet import UNetConfig
from latentlab.why_latent import SPACES, bench_why_latent, fair_pixel_config, flop_counter, machine_load, unet_for


def test_every_space_gets_the_same_recipe_with_its_channels():
    for space, (_, c, _) in SPACES.items():
        unet = unet_for(space)
        assert unet.config.in_channels == unet.config.out_channels == c
        assert unet.config.block_channels == unet_for("pixel").config.block_channels


@pytest.mark.parametrize("size", [64, 256, 512])
def test_the_fair_pixel_model_attends_only_at_32_or_less_and_reaches_8x8(size):
    recipe = UNetConfig.shapes()
    config = fair_pixel_config(recipe, size)
    sides = [size >> level for level in range(len(config.block_channels))]
    assert sides[-1] == 8, "halved down to 8×8, as DDPM and ADM do"
    assert config.attention_levels == tuple(side <= 32 for side in sides)
    assert config.block_channels[:3] == recipe.block_channels  # the recipe's widths at the recipe's levels
    assert config.in_channels == config.out_channels == 3
    assert unet_for("pixel-fair", size).config == config


def _counted_gflops(space: str, size: int) -> float:
    with torch.device("meta"):  # FLOPs follow from the shapes: counted without computing
        model = unet_for(space, size)
        x, context = torch.randn(1, 3, size, size), torch.randn(1, 8, 128)
    with torch.no_grad(), flop_counter() as counter:
        model(x, 500, context)
    return counter.get_total_flops() / 1e9


def test_without_full_resolution_attention_the_pixel_model_is_far_cheaper():
    # at 256 px the same-recipe pixel model spends nearly everything on attention over 65 536 positions
    assert _counted_gflops("pixel", 256) > 10 * _counted_gflops("pixel-fair", 256)


@pytest.fixture
def busy(monkeypatch):
    """A shared classroom server: the 1-minute load above the core count."""
    monkeypatch.setattr(why_latent, "load_average", lambda: why_latent.cpu_cores() + 3.0)


def test_report_shape_and_ratios(busy, capsys):
    result = bench_why_latent(size=64, repeats=1, steps=1, spaces=["pixel", "pixel-fair", "f8c4"])
    rows = {row["space"]: row for row in result["rows"]}
    assert rows["pixel"]["latent_shape"] == rows["pixel-fair"]["latent_shape"] == [3, 64, 64]
    assert rows["f8c4"]["latent_shape"] == [4, 8, 8]
    assert rows["pixel"]["values"] == 3 * 64 * 64
    # FLOPs are counted, not timed: far fewer positions must mean far fewer FLOPs.
    assert rows["pixel"]["gflops"] > rows["pixel-fair"]["gflops"] > 20 * rows["f8c4"]["gflops"] > 0
    assert result["flop_ratio"]["f8c4"] == pytest.approx(rows["pixel"]["gflops"] / rows["f8c4"]["gflops"], rel=0.05)
    assert result["flop_ratio_vs_fair_pixel"]["f8c4"] == pytest.approx(
        rows["pixel-fair"]["gflops"] / rows["f8c4"]["gflops"], rel=0.05)
    assert result["speedup_vs_fair_pixel"]["f8c4"] == pytest.approx(rows["pixel-fair"]["ms"] / rows["f8c4"]["ms"],
                                                                   rel=0.05)
    for key in ("speedup", "flop_ratio", "end_to_end_speedup"):
        assert set(result[key]) == set(result[f"{key}_vs_fair_pixel"]) == {"f8c4"}  # keyed by the latent spaces
    assert all(row["ms"] > 0 and row["end_to_end_s"] > 0 and row["weights_mb"] > 0 for row in rows.values())
    # the same weights whatever the input's size: only the first and last convolution see the channels
    assert rows["pixel"]["weights_mb"] == pytest.approx(rows["f8c4"]["weights_mb"], rel=0.01)
    # a busy machine is said, in the JSON and on stderr, with the figure to trust instead
    assert result["load"]["busy"] is True and "FLOP ratio" in result["load"]["note"]
    assert "unreliable" in capsys.readouterr().err


def test_an_idle_machine_prints_no_warning(monkeypatch, capsys):
    monkeypatch.setattr(why_latent, "load_average", lambda: 0.1)
    result = bench_why_latent(size=64, repeats=1, steps=1, spaces=["f16c16"])
    assert result["load"]["busy"] is False and result["load"]["note"] is None
    assert capsys.readouterr().err == ""
    assert "speedup" not in result and "speedup_vs_fair_pixel" not in result  # no pixel row, no ratio


def test_load_is_judged_without_the_benchmarks_own_threads():
    cores = why_latent.cpu_cores()
    assert not machine_load(cores - 0.5, cores + 2.0, own_threads=2)["busy"]  # the end's load was our own
    assert machine_load(cores + 0.5, None, own_threads=2)["busy"]
    assert machine_load(None, cores + 3.0, own_threads=2)["busy"]
    assert not machine_load(None, None, own_threads=2)["busy"]  # no load average on this system: say nothing


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown space"):
        bench_why_latent(size=64, spaces=["f32c64"])
    with pytest.raises(ValueError, match="multiple of 64"):
        bench_why_latent(size=100)
    with pytest.raises(ValueError, match="halve 2 times"):
        fair_pixel_config(UNetConfig.shapes(), 66)


def test_vs_diffusers_times_the_same_computation():
    pytest.importorskip("diffusers", reason="the [ref] extra (diffusers) is not installed")
    from latentlab.vs_diffusers import bench_vs_diffusers

    result = bench_vs_diffusers(size=64, repeats=1, warmup=0)
    assert set(result["ratios"]) == {"vae_decode_64", "vae_encode_64", "unet_forward"}
    assert set(result["max_abs_difference"]) == set(result["ratios"])
    assert all(d < 1e-3 for d in result["max_abs_difference"].values())  # identical weights, identical answer
    assert all(r > 0 for r in result["ratios"].values())


def test_the_flop_counter_counts_attention_on_every_device():
    # torch alone counts 0 FLOPs for the CPU attention kernel; ours counts QKᵀ and AV: 2·(2·N·M·d) per head.
    q = torch.randn(2, 4, 256, 16, requires_grad=True)
    with flop_counter() as counter:
        out = torch.nn.functional.scaled_dot_product_attention(q, q, q)
    assert counter.get_total_flops() == 2 * (2 * 2 * 4 * 256 * 256 * 16)
    with flop_counter() as counter:
        out.sum().backward()
    assert counter.get_total_flops() >= 2 * 2 * (2 * 2 * 4 * 256 * 256 * 16)  # backward: at least twice forward


def test_the_memory_meter_sees_activations_and_their_release():
    from latentlab.why_latent import TensorMemoryMeter

    x = torch.randn(256, 1024)  # 1 MiB made before: not counted
    with TensorMemoryMeter() as meter:
        a = x * 2          # +1 MiB
        b = a.view(-1)     # a view: the same storage, not counted again
        del a, b           # freed
        c = x + 1          # +1 MiB again: live peaks at 1 MiB, not 2
        d = torch.cat([c, c])  # +2 MiB: the peak is 3 MiB
        del d
    assert meter.peak == 3 * 2**20
    assert meter.live == 2**20  # c is still alive
    del c
