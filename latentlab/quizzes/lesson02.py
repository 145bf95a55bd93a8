"""Quiz of lesson 02 · The VAE."""

from ..i18n import N_
from ..quiz import Question, Quiz

QUIZ = Quiz(2, (
    Question(
        "q1", N_("What does the VAE's encoder output for each latent value?"),
        answer="b",
        choices=(N_("one number: the latent value itself"),
                 N_("a mean μ and a log-variance log σ²: 2c channels in all"),
                 N_("a mean μ and a standard deviation σ")),
        why={"a": N_("the encoder outputs a distribution, a diagonal Gaussian per latent value: 2c channels, c means "
                     "and c log-variances. The latent is then μ itself (posterior.mode()) or a sample "
                     "(posterior.sample())."),
             "c": N_("it outputs log σ², a log, so that the network can output any real number and σ² stays "
                     "positive; σ = exp(½·log σ²).")},
        source="lesson 02, 'The math' and 'The encoder, stage by stage'"),
    Question(
        "q2", N_("One latent value has μ = 0 and log σ² = −4. What is its KL to N(0, 1), in nats? (a number)"),
        answer=1.5092,
        why={"": N_("KL = ½(μ² + σ² − 1 − log σ²) = ½(0 + e⁻⁴ − 1 + 4) ≈ ½·3.018 ≈ 1.51 nats. μ = 0 does not make "
                    "it free: a tiny σ is paid for by the −log σ² term.")},
        source="lesson 02, 'The KL term, by hand'"),
    Question(
        "q3", N_("Why does the VAE write its sample as z = μ + σ·ε, with ε ~ N(0, I)?"),
        answer="a",
        choices=(N_("so that gradients reach μ and σ: the randomness sits in ε, and ∂z/∂μ = 1, "
                    "∂z/∂log σ² = ½·σ·ε"),
                 N_("so that z has unit variance, as diffusion needs"),
                 N_("so that the samples are less random than drawing from N(μ, σ²) directly")),
        why={"b": N_("that is the scaling factor's job (1/std of the latents over data). z = μ + σ·ε has the spread "
                     "of the latents, far from 1."),
             "c": N_("z has exactly the same distribution N(μ, σ²) either way: the trick only changes how the sample "
                     "is written, so that it can be differentiated in μ and σ (Kingma & Welling 2014).")},
        source="lesson 02, 'Reparameterisation: sampling with gradients'"),
    Question(
        "q4", N_("With LDM's KL weight of 10⁻⁶, what does the encoder learn?"),
        answer="b",
        choices=(N_("latents close to N(0, I), so that no further scaling is needed"),
                 N_("to be nearly certain: σ is small next to μ, so samples decode to almost the same picture"),
                 N_("σ ≈ 1, so that every sample decodes to a rather different picture")),
        why={"a": N_("at 10⁻⁶ the KL barely constrains the latent: the photo's KL is large, its latent far from "
                     "N(0, I), and the latents' scale is arbitrary. That is exactly why the scaling factor exists."),
             "c": N_("the KL would pull σ towards 1, but reconstruction pulls it towards 0 and wins: the samples "
                     "differ from the mode only a little.")},
        source="lesson 02, 'Reparameterisation' (σ is small next to μ)"),
    Question(
        "q5", N_("Stable Diffusion v1's scaling factor is 0.18215. What does it tell you?"),
        answer="a",
        choices=(N_("SD's raw latents have a std of about 1/0.18215 ≈ 5.49; multiplied by 0.18215 they have unit "
                    "variance, which is what the UNet sees"),
                 N_("SD's raw latents have a std of 0.18215, and the factor shrinks them further"),
                 N_("it is the weight of the KL term in SD's VAE loss"),
                 N_("it maps the latents into [−1, 1], like the pixels")),
        why={"b": N_("the factor is 1/std: it *multiplies* the latents to bring their std to 1, so their std is "
                     "1/0.18215 ≈ 5.49."),
             "c": N_("the KL weight is 10⁻⁶ (LDM App. G). The scaling factor is measured after training, from data: "
                     "1/std of the latents (LDM §4.3.2)."),
             "d": N_("it sets the spread (std) to 1, not the range: unit-variance latents often go beyond ±1. "
                     "[−1, 1] is the range of the pixels fed to the encoder.")},
        source="lesson 02, 'The scaling factor, computed from data'"),
    Question(
        "q6", N_("Raw latents of std 6 go into a noise schedule built for unit variance. At the same t, how many "
                 "times larger is their signal-to-noise ratio than that of scaled latents (std 1)? (a number)"),
        answer=36.0,
        why={"": N_("SNR = ᾱ_t·var(z)/(1 − ᾱ_t): it grows with the variance, 6² = 36, not with the std. At t ≈ 500, "
                    "where the schedule means most of the signal to be gone, raw latents are left almost "
                    "untouched, and x_T is not the N(0, I) that sampling starts from.")},
        source="lesson 02, 'Why it matters' (the SNR table)"),
    Question(
        "q7", N_("ComfyUI shows a live preview of the latent while it samples. How is that preview made?"),
        answer="c",
        choices=(N_("by running the VAE decoder after every step"),
                 N_("by reading channels 0, 1 and 2 as R, G and B"),
                 N_("by a fixed c×3 matrix that maps each latent position to a colour, with no decoder at all"),
                 N_("it cannot be made: a latent is nothing like a picture")),
        why={"a": N_("the preview is meant to be cheap: no decoder at all, just a fixed 4×3 matrix from each latent "
                     "position to a colour."),
             "b": N_("the channels are not colours: in vae-f8c4 channel 0 mostly carries brightness and channels 1 "
                     "and 2 colour. Each colour is a weighted mix of all c channels, a column of the fitted "
                     "matrix."),
             "d": N_("much of the latent is a small colour picture: a linear map already gives a recognisable "
                     "thumbnail. The decoder's job is the rest: edges, texture, detail at 8× the resolution.")},
        source="lesson 02, 'The linear preview'"),
))
