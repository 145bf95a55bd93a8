"""`latentlab bench why-latent`: the same UNet in every space, and the figures it reports."""

import pytest
import torch

from latentlab.why_latent import SPACES, bench_why_latent, unet_for


def test_every_space_gets_the_same_recipe_with_its_channels():
    for space, (_, c, _) in SPACES.items():
        unet = unet_for(space)
        assert unet.config.in_channels == unet.config.out_channels == c
        assert unet.config.block_channels == unet_for("pixel").config.block_channels


def test_report_shape_and_ratios():
    result = bench_why_latent(size=64, repeats=1, steps=1, spaces=["pixel", "f8c4"])
    rows = {row["space"]: row for row in result["rows"]}
    assert rows["pixel"]["latent_shape"] == [3, 64, 64] and rows["f8c4"]["latent_shape"] == [4, 8, 8]
    assert rows["pixel"]["values"] == 3 * 64 * 64
    # FLOPs are counted, not timed: far fewer positions must mean far fewer FLOPs.
    assert rows["pixel"]["gflops"] > 20 * rows["f8c4"]["gflops"] > 0
    assert result["flop_ratio"]["f8c4"] == pytest.approx(rows["pixel"]["gflops"] / rows["f8c4"]["gflops"], rel=0.05)
    assert set(result["speedup"]) == set(result["end_to_end_speedup"]) == {"f8c4"}
    assert all(row["ms"] > 0 and row["end_to_end_s"] > 0 for row in rows.values())


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown space"):
        bench_why_latent(size=64, spaces=["f32c64"])
    with pytest.raises(ValueError, match="multiple of 64"):
        bench_why_latent(size=100)


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
    from latentlab.why_latent import flop_counter

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
