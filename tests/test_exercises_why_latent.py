"""Lesson 07 checkers: the cost-ratio exercise (generic checker tests) and the gap explanation, whose
right answer is worked out from the student's own measurement."""

import pytest
from checker_suite import checker_tests

from latentlab import exercises as ex

CHECKERS = [(ex.check_cost_ratios, ex.cost_ratios_reference, ex.COST_RATIO_MISTAKES)]
globals().update(checker_tests(CHECKERS, ["cost_ratios"]))


def test_cost_ratios_for_stable_diffusions_geometry():
    # 512×512×3 → 64×64×4: 64× fewer positions, 4096× fewer attention pairs
    assert ex.cost_ratios_reference((3, 512, 512), (4, 64, 64)) == (64.0, 4096.0)


def bench(pixel_ms, pixel_gflops, latent_ms, latent_gflops, size=256):
    return {"rows": [{"space": "pixel", "latent_shape": [3, size, size], "ms": pixel_ms, "gflops": pixel_gflops},
                     {"space": "f8c4", "latent_shape": [4, size // 8, size // 8], "ms": latent_ms,
                      "gflops": latent_gflops}]}


@pytest.mark.parametrize("measured, flops, time", [
    (bench(5000, 3000, 20, 3), "A", "A"),    # 1000× fewer FLOPs (attention), only 250× faster (idle cores)
    (bench(64, 64, 1, 1), "C", "C"),         # FLOPs and time both follow the 64× fewer positions
    (bench(1000, 640, 1, 1), "A", "B"),      # 640× fewer FLOPs, 1000× faster: pixel space ran slower per FLOP
])
def test_the_right_gap_answers_follow_the_measurement(measured, flops, time, capsys):
    assert ex.check_why_latent_gaps(flops, time, measured).passed
    assert "✅" in capsys.readouterr().out
    wrong_flops = next(letter for letter in ex.FLOP_GAP_CHOICES if letter != flops)
    result = ex.check_why_latent_gaps(wrong_flops, time, measured)
    assert not result.passed and result.mistake == "flop gap"
    wrong_time = next(letter for letter in ex.TIME_GAP_CHOICES if letter != time)
    result = ex.check_why_latent_gaps(flops, wrong_time, measured)
    assert not result.passed and result.mistake == "time gap"


def test_gap_answers_that_are_missing_or_not_letters_are_told_kindly(capsys):
    measured = bench(5000, 3000, 20, 3)
    assert "not answered yet" in ex.check_why_latent_gaps(None, "A", measured).message
    assert "one of the letters" in ex.check_why_latent_gaps("attention", "A", measured).message
    assert "pass the benchmark" in ex.check_why_latent_gaps("A", "A", {"rows": []}).message
    assert ex.check_why_latent_gaps(" a ", "a", measured).passed  # case and spaces do not matter
    capsys.readouterr()
