"""Lesson 03's checkers beyond the standard tests (tests/test_checkers.py): other correct styles pass,
wrong answers are explained, broadcasting bugs cannot slip through, and the references are the
package's NoiseSchedule."""

import torch

from latentlab.exercises.lesson03 import (
    Q_SAMPLE_MISTAKES,
    _q_sample_inputs,
    alpha_bar_reference,
    check_q_sample,
    check_snr_one,
    q_sample_reference,
    snr_one_reference,
)
from latentlab.schedules import NoiseSchedule, linear_betas


def test_the_issue_mistakes_are_covered():
    names = {m.name for m in Q_SAMPLE_MISTAKES}
    assert "a missing square root" in names
    assert "ᾱ indexed off by one" in names
    assert "the wrong sign of the noise term" in names
    assert "ᾱ_t not reshaped (alpha_bar[t].sqrt() * x0)" in names


def test_student_written_solutions_in_other_styles_pass():
    def q_sample(x0, t, noise, alpha_bar):  # a student who broadcasts with [:, None, None, None]
        a = alpha_bar[t][:, None, None, None]
        return torch.sqrt(a) * x0 + torch.sqrt(1 - a) * noise

    def find_snr_one(betas):  # a student who loops
        alpha_bar = 1.0
        for t, beta in enumerate(betas.tolist()):
            alpha_bar *= 1 - beta
            if alpha_bar / (1 - alpha_bar) <= 1:
                return t

    assert check_q_sample(q_sample, quiet=True).passed
    assert check_snr_one(find_snr_one, quiet=True).passed


def test_never_raises_and_explains(capsys):
    def unwritten(x0, t, noise, alpha_bar):
        raise NotImplementedError

    def crashes(x0, t, noise, alpha_bar):
        return x0 @ alpha_bar  # shapes do not fit a matmul

    def wrong_shape(x0, t, noise, alpha_bar):
        return x0[0]

    def nonsense(x0, t, noise, alpha_bar):
        return x0 * 3

    assert "not written yet" in check_q_sample(unwritten).message
    result = check_q_sample(crashes)
    assert not result.passed and "raised RuntimeError" in result.message
    assert "expected shape (4, 3, 5, 6), got (3, 5, 6)" in check_q_sample(wrong_shape).message
    assert "off by up to" in check_q_sample(nonsense).message
    assert "not written yet" in check_snr_one(lambda betas: None).message
    capsys.readouterr()


def test_q_sample_inputs_leave_no_room_for_broadcasting():
    inputs = _q_sample_inputs(torch.Generator().manual_seed(0))
    B, C, H, W = inputs["x0"].shape
    assert len({B, C, H, W}) == 4 and inputs["t"].shape == (B,)


def test_the_missing_reshape_is_named_with_its_fix(capsys):
    def q_sample(x0, t, noise, alpha_bar):  # the classic: ᾱ_t (B,) times x0 (B, C, H, W)
        return alpha_bar[t].sqrt() * x0 + (1 - alpha_bar[t]).sqrt() * noise

    result = check_q_sample(q_sample)
    assert not result.passed and result.mistake == "ᾱ_t not reshaped (alpha_bar[t].sqrt() * x0)"
    assert "(B, 1, 1, 1)" in result.message and "Traceback" not in capsys.readouterr().out


def test_references_agree_with_the_package():
    schedule = NoiseSchedule(linear_betas())
    x0, noise = torch.randn(4, 3, 5, 6), torch.randn(4, 3, 5, 6)
    t = torch.tensor([0, 10, 500, 999])
    torch.testing.assert_close(q_sample_reference(x0, t, noise, schedule.alpha_bar), schedule.q_sample(x0, t, noise))
    torch.testing.assert_close(alpha_bar_reference(schedule.betas), schedule.alpha_bar)
    for name in ("linear", "scaled_linear", "cosine"):
        schedule = NoiseSchedule.from_name(name)
        assert snr_one_reference(schedule.betas.double()) == schedule.t_for_snr(1.0), name
