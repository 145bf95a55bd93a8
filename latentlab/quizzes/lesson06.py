"""Quiz of lesson 06 · Latent diffusion."""

from ..i18n import N_
from ..quiz import Question, Quiz

QUIZ = Quiz(6, (
    Question(
        "q1", N_("In a text-to-image run, what does *Empty Latent Image* put on the canvas?"),
        answer="c",
        choices=(N_("Gaussian noise drawn from the seed"),
                 N_("the VAE encoder's latent of a blank picture"),
                 N_("zeros: the KSampler adds the noise, from its seed"),
                 N_("a tiny 3-channel picture that the UNet paints over")),
        why={"a": N_("the seed is a KSampler field, not an Empty Latent Image one: the canvas is zeros, and the "
                     "KSampler makes the noise from its seed."),
             "b": N_("in text-to-image the encoder is not used at all: nobody comes in through the doorman. Only "
                     "img2img sends a picture through *VAE Encode*."),
             "d": N_("a latent is not a small picture: it has c channels (4 here) at H/f × W/f positions, and only "
                     "the decoder turns it into pixels.")},
        source="lesson 06, 'The five calls' (1. Empty Latent Image)"),
    Question(
        "q2", N_("img2img in ComfyUI with `steps` = 20 and `denoise` = 0.5. What does the KSampler do?"),
        answer="a",
        choices=(N_("it sets up a schedule of 40 steps and runs the last 20"),
                 N_("it sets up 20 steps and runs the last 10"),
                 N_("it runs all 20 steps of a 20-step schedule, starting from the photo's latent at half strength"),
                 N_("it runs 10 steps of a 40-step schedule")),
        why={"b": N_("that is the *strength* convention of diffusers and AUTOMATIC1111 (run int(steps · strength)); "
                     "in ComfyUI `steps` is always the number of steps that run."),
             "c": N_("a 20-step schedule run in full starts from pure noise; denoise decides how far up the schedule "
                     "the run starts: ComfyUI sets up int(20 / 0.5) = 40 and runs the last 20."),
             "d": N_("the schedule has int(20 / 0.5) = 40 steps, but `steps` = 20 of them run: the photo's latent is "
                     "noised to the 21st of the 40 timesteps.")},
        source="lesson 06, 'img2img: start from a photo'"),
    Question(
        "q3", N_("Same rule, `steps` = 20 and `denoise` = 0.8: for how many steps is the sampler's schedule set up? "
                 "(a number)"),
        answer=25,
        tolerance=0.001,
        why={"": N_("ComfyUI sets up int(steps / denoise) = int(20 / 0.8) = 25 steps and runs the last 20 of them. "
                    "16 = 20 · 0.8 would be the steps that run under diffusers' *strength*, not ComfyUI's schedule.")},
        source="lesson 06, 'img2img: start from a photo' (pipeline.start_timesteps)"),
    Question(
        "q4", N_("At one latent value, the unconditional prediction is ε̂_∅ = 0.2 and the prediction with the prompt "
                 "ε̂_prompt = 0.5. What is the guided ε̂ at CFG w = 7.5? (a number)"),
        answer=2.45,
        tolerance=0.005,
        why={"": N_("ε̂ = ε̂_∅ + w·(ε̂_prompt − ε̂_∅) = 0.2 + 7.5·0.3 = 2.45: far past the conditional 0.5, because "
                    "w > 1 extrapolates. With 1 + w in place of w you would get 2.75; a weighted average of the two "
                    "never leaves [0.2, 0.5].")},
        source="lesson 06, 'The CFG scale' (Ho & Salimans 2022)"),
    Question(
        "q5", N_("What does the model draw at CFG w = 0?"),
        answer="b",
        choices=(N_("the prompt's picture, only paler"),
                 N_("some picture like its training data, unrelated to the prompt"),
                 N_("pure noise: with no guidance nothing is removed"),
                 N_("a plain grey picture")),
        why={"a": N_("at w = 0, ε̂ = ε̂_∅: the prompt's prediction has no weight at all. w = 1 is the unguided prompt; "
                     "w = 0 is the empty prompt."),
             "c": N_("the unconditional prediction is still a noise prediction: the sampler removes the noise, and "
                     "the model draws what it learned from the 10 % of captions replaced by the empty prompt."),
             "d": N_("the unconditional model draws a picture from its training data (a plain background with one "
                     "shape), not an average grey.")},
        source="lesson 06, 'The CFG scale' and exercise 5 (b)"),
    Question(
        "q6", N_("Two independent noises ε_a and ε_b of n = 1024 values each have a norm of about √1024 = 32. About "
                 "what is the norm of their straight-line midpoint, lerp(ε_a, ε_b, 0.5) = (ε_a + ε_b)/2? (a number)"),
        answer=22.6,
        tolerance=0.03,
        why={"": N_("ε_a and ε_b are nearly orthogonal, so ‖ε_a + ε_b‖² ≈ n + n and ‖(ε_a + ε_b)/2‖² ≈ 2n/4 = n/2: "
                    "the midpoint's norm is √(n/2) = √512 ≈ 22.6, about 0.71× the ends'. slerp keeps it near 32.")},
        source="lesson 06, 'Walking between seeds and prompts'"),
    Question(
        "q7", N_("img2img with `ldm-shapes` at denoise 0.1: over 90 % of the photo latent's signal is still in the "
                 "starting point, yet the result has already lost most of the photo. What removes it?"),
        answer="d",
        choices=(N_("the noise added at the start"),
                 N_("the VAE's round trip"),
                 N_("denoise 0.1 runs only 2 of the 20 steps, too few to finish the picture"),
                 N_("the model: it pulls the latent toward what it knows, and to a model of flat shapes a photo's "
                     "texture looks like noise")),
        why={"a": N_("at denoise 0.1 √ᾱ at the first timestep is above 0.9: the starting point is still mostly the "
                     "photo."),
             "b": N_("denoise 0 is the round trip, the best any row can do, and it keeps the photo; what is lost "
                     "beyond it is the model's doing."),
             "c": N_("in ComfyUI's convention `steps` always run (all 20 here); denoise sets where on the schedule "
                     "they start, not how many run.")},
        source="lesson 06, 'The img2img widget'"),
    Question(
        "q8", N_("`ldm-shapes` draws better pictures with `vae-f8c4-shapes`, whose decoder was fine-tuned on shapes, "
                 "than with `vae-f8c4`. What had to be retrained for that?"),
        answer="b",
        choices=(N_("the UNet, because its latents are now drawn differently"),
                 N_("only the decoder: the encoder, and so the latent space, is unchanged"),
                 N_("the text encoder, so that the prompts match the new pictures"),
                 N_("nothing: any VAE's decoder can draw any latent")),
        why={"a": N_("the encoder is the same, so every latent is the same: the UNet works in the same latent space "
                     "and only the drawing of its output changes."),
             "c": N_("the decoder never sees the prompt: the text encoder only makes the context that the UNet's "
                     "cross-attention reads."),
             "d": N_("only a decoder trained for the same latent space can draw it; a UNet trained in one VAE's latents "
                     "cannot work in another's, and the pipeline refuses a mismatched pair.")},
        source="lesson 06, 'Swapping the decoder'"),
))
