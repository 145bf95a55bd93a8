"""Lesson 07's checkers: the cost-ratio exercise beyond the standard tests (tests/test_checkers.py), and
the gap explanation, whose right letters follow from counting and never from a timing or a size."""

import pytest
import torch

from latentlab.exercises.lesson07 import (
    FLOP_GAP_ANSWER,
    FLOP_GAP_CHOICES,
    TIME_GAP_ANSWER,
    TIME_GAP_CHOICES,
    check_why_latent_gaps,
    cost_ratios_reference,
)
from latentlab.why_latent import SPACES, flop_counter, unet_for


def test_cost_ratios_for_stable_diffusions_geometry():
    # 512×512×3 → 64×64×4: 64× fewer positions, 4096× fewer attention pairs
    assert cost_ratios_reference((3, 512, 512), (4, 64, 64)) == (64.0, 4096.0)


def bench(pixel_ms, pixel_gflops, latent_ms, latent_gflops, size=256):
    return {"rows": [{"space": "pixel", "latent_shape": [3, size, size], "ms": pixel_ms, "gflops": pixel_gflops},
                     {"space": "f8c4", "latent_shape": [4, size // 8, size // 8], "ms": latent_ms,
                      "gflops": latent_gflops}]}


MEASUREMENTS = [
    bench(5000, 3000, 20, 3),     # 1000× fewer FLOPs (attention), only 250× faster (idle cores)
    bench(64, 64, 1, 1),          # FLOPs and time both follow the 64× fewer positions
    bench(1000, 640, 1, 1),       # 640× fewer FLOPs, 1000× faster: pixel space ran slower per FLOP
    bench(90, 140, 1, 1, size=128),  # another size: the same letters
    None,                         # no measurement at all
]


@pytest.mark.parametrize("measured", MEASUREMENTS, ids=["idle-cores", "even", "caches", "128px", "none"])
def test_the_right_letters_do_not_depend_on_the_measurement(measured, capsys):
    assert check_why_latent_gaps(FLOP_GAP_ANSWER, TIME_GAP_ANSWER, measured).passed
    assert "✅" in capsys.readouterr().out
    for wrong_flops in set(FLOP_GAP_CHOICES) - {FLOP_GAP_ANSWER}:
        result = check_why_latent_gaps(wrong_flops, TIME_GAP_ANSWER, measured, quiet=True)
        assert not result.passed and result.mistake == "flop gap"
    for wrong_time in set(TIME_GAP_CHOICES) - {TIME_GAP_ANSWER}:
        result = check_why_latent_gaps(FLOP_GAP_ANSWER, wrong_time, measured, quiet=True)
        assert not result.passed and result.mistake == "time gap"


def test_the_students_numbers_are_shown_beside_the_verdict():
    result = check_why_latent_gaps(FLOP_GAP_ANSWER, TIME_GAP_ANSWER, bench(5000, 3000, 20, 3), quiet=True)
    assert "64× fewer positions, 1000× fewer FLOPs, 250× faster" in result.message
    assert "below the FLOP ratio" in result.message
    caches = check_why_latent_gaps(FLOP_GAP_ANSWER, TIME_GAP_ANSWER, bench(1000, 640, 1, 1), quiet=True)
    assert "above the FLOP ratio" in caches.message


def test_gap_answers_that_are_missing_or_not_letters_are_told_kindly(capsys):
    measured = bench(5000, 3000, 20, 3)
    assert "not answered yet" in check_why_latent_gaps(None, "A", measured).message
    assert "one of the letters" in check_why_latent_gaps("attention", "A", measured).message
    assert "pass the benchmark" in check_why_latent_gaps("A", "A", {"rows": []}).message
    answer = f" {FLOP_GAP_ANSWER.lower()} ", TIME_GAP_ANSWER.lower()
    assert check_why_latent_gaps(*answer, measured).passed  # case and spaces do not matter
    capsys.readouterr()


@pytest.mark.parametrize("pixel", [space for space in SPACES if space.startswith("pixel")])
def test_the_flop_answer_holds_for_the_course_unet_at_the_smallest_size(pixel):
    """FLOP_GAP_ANSWER says attention makes the counted FLOP ratio exceed the positions ratio. Counted at
    64 px, the smallest SIZE lesson 07 measures; attention's share only grows with the size."""
    assert FLOP_GAP_ANSWER == "A" and "attention" in FLOP_GAP_CHOICES[FLOP_GAP_ANSWER]
    size, flops = 64, {}
    for space in (pixel, "f8c4"):
        f, c = SPACES[space].f, SPACES[space].c
        with torch.device("meta"):  # FLOPs follow from shapes alone: count them without computing
            model, x, context = unet_for(space), torch.randn(1, c, size // f, size // f), torch.randn(1, 8, 128)
        with torch.no_grad(), flop_counter() as counter:
            model(x, 500, context)
        flops[space] = counter.get_total_flops()
    positions = (size * size) / (size // SPACES["f8c4"].f) ** 2
    assert flops[pixel] / flops["f8c4"] > 1.2 * positions


def test_the_vram_answer_is_the_two_big_terms_of_stable_diffusions_budget():
    """Exercise 3's function keeps the weights and the attention maps of `memory.sd_v1_budget`, and with
    SD v1's numbers it gives the lesson's verdict: 512 px fits 8 GB in latent space, not in pixel space."""
    from latentlab.exercises.lesson07 import vram_gb_reference
    from latentlab.memory import SDv1, sd_v1_budget

    unet = SDv1().unet_params
    for f in (1, 8):
        budget = sd_v1_budget(512, f)
        assert vram_gb_reference(512, f, unet, batch=2, heads=8, bytes_per_value=2) == pytest.approx(
            budget["unet_weights"] + budget["attention"])
    assert vram_gb_reference(512, 8, unet, 2, 8, 2) < 8 < vram_gb_reference(512, 1, unet, 2, 8, 2)
