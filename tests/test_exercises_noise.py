"""Lesson 03/05 checkers: each passes the reference solution, names each of its mistakes, never raises."""

import torch
from checker_suite import checker_tests

from latentlab import exercises as ex

CHECKERS = [
    (ex.check_q_sample, ex.q_sample_reference, ex.Q_SAMPLE_MISTAKES),
    (ex.check_alpha_bar, ex.alpha_bar_reference, ex.ALPHA_BAR_MISTAKES),
    (ex.check_snr_one, ex.snr_one_reference, ex.SNR_ONE_MISTAKES),
    (ex.check_ddim_step, ex.ddim_step_reference, ex.DDIM_STEP_MISTAKES),
]
IDS = ["q_sample", "alpha_bar", "snr_one", "ddim_step"]


globals().update(checker_tests(CHECKERS, IDS))


def test_the_issue_mistakes_are_covered():
    names = {m.name for (_, _, mistakes) in CHECKERS for m in mistakes}
    assert "a missing square root" in names
    assert "ᾱ indexed off by one" in names
    assert "the wrong sign of the noise term" in names


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

    assert ex.check_q_sample(q_sample, quiet=True).passed
    assert ex.check_snr_one(find_snr_one, quiet=True).passed


def test_never_raises_and_explains(capsys):
    def unwritten(x0, t, noise, alpha_bar):
        raise NotImplementedError

    def crashes(x0, t, noise, alpha_bar):
        return x0 @ alpha_bar  # shapes do not fit a matmul

    def wrong_shape(x0, t, noise, alpha_bar):
        return x0[0]

    def nonsense(x0, t, noise, alpha_bar):
        return x0 * 3

    assert "not written yet" in ex.check_q_sample(unwritten).message
    result = ex.check_q_sample(crashes)
    assert not result.passed and "raised RuntimeError" in result.message
    assert "expected shape (4, 3, 4, 4), got (3, 4, 4)" in ex.check_q_sample(wrong_shape).message
    assert "off by up to" in ex.check_q_sample(nonsense).message
    assert "not written yet" in ex.check_snr_one(lambda betas: None).message
    capsys.readouterr()


def test_generic_check_on_a_new_exercise():
    """The framework itself, as a later lesson will use it."""
    mistake = ex.Mistake("a doubled value", "halve it", lambda x: 2 * x)

    def inputs(generator):
        return {"x": torch.randn(3, generator=generator)}

    assert ex.check(lambda x: x.clone(), lambda x: x, inputs, [mistake], quiet=True).passed
    assert ex.check(lambda x: 2 * x, lambda x: x, inputs, [mistake], quiet=True).mistake == "a doubled value"
    assert not ex.check(lambda x: 3 * x, lambda x: x, inputs, [mistake], quiet=True)
