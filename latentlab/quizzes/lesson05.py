"""Quiz of lesson 05 · Samplers."""

from ..i18n import N_
from ..quiz import Question, Quiz

QUIZ = Quiz(5, (
    Question(
        "q1", N_("One latent value: x_t = 1.0 at a step where ᾱ_t = 0.64, and the model predicts ε̂ = 0.5. What is "
                 "the sampler's guess of the clean value, x̂0? (a number)"),
        answer=0.875,
        tolerance=0.005,
        why={"": N_("x̂0 = (x_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t = (1.0 − 0.6·0.5)/0.8 = 0.7/0.8 = 0.875. The square roots matter: "
                    "with ᾱ_t and 1 − ᾱ_t in their place you get (1.0 − 0.36·0.5)/0.64 ≈ 1.28.")},
        source="lesson 05, 'The loop'"),
    Question(
        "q2", N_("From the same seed and steps, the package's default Euler and DDIM samplers draw slightly different "
                 "pictures. Why?"),
        answer="b",
        choices=(N_("Euler is a second-order method and DDIM a first-order one"),
                 N_("they visit different timesteps: DDIM's grid 950, 900, …, 0 and Euler's 999, 946.4, …, 0"),
                 N_("Euler adds fresh noise at every step and DDIM does not"),
                 N_("Euler solves a different ODE, written in σ instead of t")),
        why={"a": N_("both are first order: Euler's step, multiplied by √ᾱ_{t'}, is DDIM's η = 0 update term for term. "
                     "The second-order solvers of the lesson are DPM++ 2M and Heun."),
             "c": N_("Euler is deterministic, like DDIM with η = 0; fresh noise at every step is what DDPM does."),
             "d": N_("dividing x_t by √ᾱ_t is only a change of variables: it is the same ODE, and Euler's step is "
                     "DDIM's update (DDIM §4.3, eq. 14–15). Give Euler DDIM's grid and the two agree to float32 "
                     "rounding.")},
        source="lesson 05, 'Euler is DDIM'"),
    Question(
        "q3", N_("Heun is second order. On the three blobs, with a perfect model, why did it land the fewest "
                 "particles on the data at 4 steps?"),
        answer="c",
        choices=(N_("because Heun adds fresh noise at every step, like DDPM"),
                 N_("because it made fewer model calls than the other samplers"),
                 N_("because a second-order correction is only accurate when the steps are small, and at 4 steps all "
                     "of its calls are on very long steps"),
                 N_("because the blobs' denoiser makes errors that Heun amplifies")),
        why={"a": N_("Heun is deterministic: it solves the same ODE as DDIM, Euler and DPM++ 2M, without fresh noise."),
             "b": N_("it made more, not fewer: 2·4 − 1 = 7 model calls against 4 for the others. Higher order is not "
                     "always better: it pays off only once the steps are small enough."),
             "d": N_("the blobs' denoiser is exact (a closed form for a mixture of Gaussians): every error you see there "
                     "is the sampler's own.")},
        source="lesson 05, 'The trajectory widget' and its answer"),
    Question(
        "q4", N_("How many model calls does Heun make for a picture with steps = 10 and CFG = 7.5? (a number)"),
        answer=38,
        tolerance=0.001,
        why={"": N_("Heun calls the model twice per step except on the last one: 2·10 − 1 = 19 evaluations. With CFG ≠ 1 "
                    "each evaluation is two calls (with the prompt and with the empty prompt): 2·19 = 38.")},
        source="lesson 05, 'Samplers side by side'"),
    Question(
        "q5", N_("DPM++ 2M is second order for one model call per step. Where does its extra accuracy come from?"),
        answer="a",
        choices=(N_("it re-uses the previous step's x̂0 (a multistep method)"),
                 N_("it calls the model a second time at a trial point, like Heun"),
                 N_("it quietly runs more steps than `steps` asks for"),
                 N_("it adds a little fresh noise that corrects the error")),
        why={"b": N_("that is how Heun buys its second order, and why it costs 2·steps − 1 calls; DPM++ 2M costs one "
                     "call per step."),
             "c": N_("every sampler runs exactly `steps` steps; DPM++ 2M gets its order from the past, not from more "
                     "steps."),
             "d": N_("DPM++ 2M is deterministic; fresh noise is DDPM's, and it does not make a solver more accurate.")},
        source="lesson 05, 'The trajectory widget'"),
    Question(
        "q6", N_("Same prompt and seed; you raise steps from 4 to 30. Whose pictures converge on DDIM's?"),
        answer="b",
        choices=(N_("all four others, DDPM included"),
                 N_("Euler's, DPM++ 2M's and Heun's, but not DDPM's"),
                 N_("none: each sampler has its own picture, whatever the steps"),
                 N_("only Euler's, because Euler is DDIM")),
        why={"a": N_("DDPM adds fresh noise at every step, so it follows a different, random path and lands on another "
                     "picture of the prompt; more steps do not remove that."),
             "c": N_("the deterministic samplers all solve the same probability-flow ODE from the same noise: as their "
                     "steps shrink, they converge on its one solution."),
             "d": N_("DPM++ 2M and Heun solve the same ODE as DDIM; only their errors at few steps differ, and those "
                     "shrink with the steps.")},
        source="lesson 05, 'Samplers side by side' and its answer"),
    Question(
        "q7", N_("In the first steps of a run, the decoded x̂0 is already a blur of the right colour in the right "
                 "place, but vague. Why vague?"),
        answer="d",
        choices=(N_("because the VAE's decoder was trained on clean latents only and cannot draw x̂0"),
                 N_("because the model reads the prompt only in the last steps"),
                 N_("because guidance blurs the early predictions"),
                 N_("because x̂0 is the model's estimate of the average of all the clean pictures that fit x_t, and at "
                     "large t many pictures fit")),
        why={"a": N_("that fact explains what decoded x_t looks like at large t (what the decoder makes of noise); x̂0 "
                     "is an estimate of a clean latent, and it is vague because it is an average."),
             "b": N_("the model receives the prompt's context at every step; that is why the blur is already in the "
                     "right place with the right colour."),
             "c": N_("guidance pushes the other way: it extrapolates beyond the prompt's prediction, which can "
                     "lengthen the early guesses (raise their norm), not blur them.")},
        source="lesson 05, 'What x_t and x̂0 look like'"),
    Question(
        "q8", N_("A latent of 4×16×16 values is pure Gaussian noise ε ~ N(0, I). About how long is it, ‖ε‖? "
                 "(a number)"),
        answer=32,
        tolerance=0.05,
        why={"": N_("N = 4·16·16 = 1024 values, each of variance 1, so ‖ε‖² ≈ N = 1024 and ‖ε‖ ≈ √1024 = 32. 1024 is "
                    "the squared norm; 1 is the size of one value, not of the whole vector.")},
        source="lesson 05, 'The norm of the latent over the steps'"),
))
