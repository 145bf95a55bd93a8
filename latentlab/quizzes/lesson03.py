"""Quiz of lesson 03 · Adding noise."""

from ..i18n import N_
from ..quiz import Question, Quiz

QUIZ = Quiz(3, (
    Question(
        "q1", N_("In x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε, ᾱ_t = 0.25. What fraction of x0's *amplitude* is left in x_t?"),
        answer="b",
        choices=("0.25", "0.5", "0.75", "0.0625"),
        why={"a": N_("0.25 is ᾱ_t itself, the fraction of the signal's *variance*; the amplitude is its square root, "
                     "√0.25 = 0.5."),
             "c": N_("0.75 is 1 − ᾱ_t, the noise's share of the variance, not the signal's amplitude."),
             "d": N_("0.0625 is ᾱ_t²; the amplitude is √ᾱ_t = 0.5.")},
        source="lesson 03, 'The math' (DDPM eq. 4)"),
    Question(
        "q2", N_("What is the signal-to-noise ratio SNR_t when ᾱ_t = 0.2? (a number)"),
        answer=0.25,
        why={"": N_("SNR_t = ᾱ_t/(1 − ᾱ_t) = 0.2/0.8 = 0.25 (about −6 dB): four times more noise variance than "
                    "signal variance.")},
        source="lesson 03, the table of symbols"),
    Question(
        "q3", N_("Why can training noise a sample straight to any t, without running the t steps before it?"),
        answer="c",
        choices=(N_("because the UNet learns to skip the steps in between"),
                 N_("because β_t is the same at every step"),
                 N_("because t independent Gaussian noises, each scaled, add up to one Gaussian of variance 1 − ᾱ_t"),
                 N_("because the noise ε is the same at every step")),
        why={"a": N_("the jump is a property of the forward process alone (DDPM eq. 4); no network is involved."),
             "b": N_("the closed form holds for any schedule: ᾱ_t is the product of the (1 − β_s), whatever the β's."),
             "d": N_("each step draws fresh, independent noise; it is because they are independent Gaussians that "
                     "their sum is one Gaussian.")},
        source="lesson 03, 'The math' (DDPM eq. 2 and 4)"),
    Question(
        "q4", N_("At the same t and schedule, which loses its recognisable structure first: an image's latent "
                 "(decoded to look at it) or the image itself in pixel space?"),
        answer="a",
        choices=(N_("the latent"), N_("the image in pixel space"),
                 N_("neither: the same ᾱ_t gives the same signal-to-noise ratio, so they degrade alike")),
        why={"b": N_("neighbouring pixels repeat each other, so the eye averages the noise away over a "
                     "neighbourhood; one latent value stands for a whole 8×8 patch and has no such redundancy."),
             "c": N_("the SNR per value is the same, but what survives depends on redundancy: many correlated "
                     "pixels average the noise away, a latent's few values cannot (Hoogeboom et al. 2023, §3.1).")},
        source="lesson 03, 'Pixels vs latents: the schedule explorer'"),
    Question(
        "q5", N_("Which β schedule does Stable Diffusion v1 use?"),
        answer="b",
        choices=(N_("linear, β from 0.0001 to 0.02 (DDPM's)"),
                 N_("scaled_linear: √β linear from √0.00085 to √0.012"),
                 N_("cosine (Nichol & Dhariwal 2021)")),
        why={"a": N_("that is DDPM's schedule for pixels (Ho et al. 2020); SD v1 uses the gentler scaled_linear."),
             "c": N_("the cosine schedule comes from improved DDPM; SD v1 was trained with scaled_linear.")},
        source="lesson 03, the three schedules"),
    Question(
        "q6", N_("x0 has variance 1 and ε is independent of it with variance 1. What is the variance of x_t at any t? "
                 "(a number)"),
        answer=1.0,
        why={"": N_("var(x_t) = ᾱ_t·1 + (1 − ᾱ_t)·1 = 1 at every t: the forward process is variance preserving, "
                    "which is why SD scales its latents to unit variance first (lesson 02).")},
        source="lesson 03, 'The math'"),
))
