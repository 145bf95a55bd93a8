"""Oracle tests: latentlab's samplers against diffusers' schedulers (the optional `ref` extra).

Stable Diffusion's schedule config for both: beta_start=0.00085, beta_end=0.012,
beta_schedule="scaled_linear", num_train_timesteps=1000. The flags below are diffusers' defaults
unless a test says otherwise; where a default differs from what latentlab implements, the test
sets it and says why. The same fixed stand-in model output (a function of x and t, so that every
step differs) drives both loops from the same starting sample; 20 steps; agreement to 1e-5.
"""

import pytest
import torch

diffusers = pytest.importorskip("diffusers")

from latentlab.samplers import make_sampler  # noqa: E402
from latentlab.schedules import NoiseSchedule  # noqa: E402

SD_CONFIG = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000)
STEPS = 20
TOL = dict(atol=1e-5, rtol=1e-5)

# (our name, diffusers class, diffusers flags beyond SD_CONFIG, our kwargs)
CASES = {
    # DDPM: leading spacing, fixed_small variance (defaults); clip_sample=False as in SD's config
    # (latentlab never clips x̂0: latents are not bounded to [-1, 1]).
    "ddpm": ("DDPMScheduler", dict(clip_sample=False, variance_type="fixed_small", timestep_spacing="leading",
                                   steps_offset=0), {}),
    # DDIM: η=0, leading spacing, set_alpha_to_one=True (ᾱ_{-1} = 1, the last step lands on x̂0),
    # clip_sample=False, steps_offset=0.
    "ddim": ("DDIMScheduler", dict(clip_sample=False, set_alpha_to_one=True, timestep_spacing="leading",
                                   steps_offset=0), {}),
    # Euler: linspace spacing, linear σ interpolation, final σ = 0, no churn (s_churn=0) — defaults.
    "euler": ("EulerDiscreteScheduler", dict(timestep_spacing="linspace", interpolation_type="linear",
                                             final_sigmas_type="zero", use_karras_sigmas=False), {}),
    # DPM-Solver++: order 2, dpmsolver++, midpoint, lower_order_final, final σ = 0, linspace — defaults.
    "dpmpp_2m": ("DPMSolverMultistepScheduler", dict(solver_order=2, algorithm_type="dpmsolver++",
                                                     solver_type="midpoint", lower_order_final=True,
                                                     final_sigmas_type="zero", timestep_spacing="linspace"), {}),
}


def _pair(name, prediction_type):
    class_name, flags, kwargs = CASES[name]
    reference = getattr(diffusers, class_name)(**SD_CONFIG, **flags, prediction_type=prediction_type)
    ours = make_sampler(name, NoiseSchedule.from_name("scaled_linear"), prediction_type=prediction_type, **kwargs)
    return reference, ours


def _stand_in_model(x, t):
    """A fixed, smooth, t-dependent 'model output' (no network needed): mostly "the input is noise",
    so that samples stay O(1) and an absolute tolerance of 1e-5 means something."""
    t = float(t)
    return 0.95 * x + 0.05 * torch.sin(3 * x + t / 100.0)


def test_alpha_bar_matches_diffusers_bit_for_bit():
    reference = diffusers.DDPMScheduler(**SD_CONFIG)
    ours = NoiseSchedule.from_name("scaled_linear")
    assert torch.equal(ours.alpha_bar, reference.alphas_cumprod)
    assert torch.equal(ours.betas, reference.betas)


@pytest.mark.parametrize("name", list(CASES))
def test_timesteps_match(name):
    reference, ours = _pair(name, "epsilon")
    reference.set_timesteps(STEPS)
    ours.set_timesteps(STEPS)
    torch.testing.assert_close(ours.timesteps.double(), reference.timesteps.double(), atol=0, rtol=0)
    if hasattr(reference, "sigmas") and hasattr(ours, "sigmas"):
        torch.testing.assert_close(ours.sigmas, reference.sigmas.float(), **TOL)


def run_both(name, prediction_type, seed=0):
    """The full loop through both; returns (max |Δ| over every prev_sample and pred_x0, our final sample)."""
    reference, ours = _pair(name, prediction_type)
    reference.set_timesteps(STEPS)
    ours.set_timesteps(STEPS)
    x0 = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(seed))
    # the same starting sample for both (diffusers' Euler starts at σ_max rather than √(σ_max²+1))
    x_ref = x_ours = x0 * ours.init_noise_sigma
    g_ref, g_ours = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    worst = 0.0
    for t_ref, t in zip(reference.timesteps, ours.timesteps):
        in_ref = reference.scale_model_input(x_ref, t_ref)
        in_ours = ours.scale_model_input(x_ours, t)
        torch.testing.assert_close(in_ours, in_ref, **TOL)
        out_ref = reference.step(_stand_in_model(in_ref, t_ref), t_ref, x_ref, generator=g_ref)
        out = ours.step(_stand_in_model(in_ours, t), t, x_ours, generator=g_ours)
        torch.testing.assert_close(out.prev_sample, out_ref.prev_sample, **TOL)
        # DPM-Solver's output has no x0 field; its x0-prediction is the last of its model_outputs
        pred_x0_ref = out_ref.pred_original_sample if name != "dpmpp_2m" else reference.model_outputs[-1]
        torch.testing.assert_close(out.pred_x0, pred_x0_ref, **TOL)
        worst = max(worst, (out.prev_sample - out_ref.prev_sample).abs().max().item(),
                    (out.pred_x0 - pred_x0_ref).abs().max().item())
        x_ref, x_ours = out_ref.prev_sample, out.prev_sample
    return worst, x_ours


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("name", list(CASES))
def test_full_loop_matches(name, prediction_type):
    worst, final = run_both(name, prediction_type)
    assert torch.isfinite(final).all()
    print(f"{name} {prediction_type}: max |Δ| = {worst:.2e} (final max |x| = {final.abs().max().item():.2f})")
    assert worst <= 1e-5


def test_ddim_eta_one_matches_with_the_same_generator():
    """η = 1 draws noise; with generators seeded alike both draw the same noise."""
    reference = diffusers.DDIMScheduler(**SD_CONFIG, **CASES["ddim"][1])
    ours = make_sampler("ddim", eta=1.0)
    reference.set_timesteps(STEPS)
    ours.set_timesteps(STEPS)
    x_ref = x_ours = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    g_ref, g_ours = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    for t_ref, t in zip(reference.timesteps, ours.timesteps):
        x_ref = reference.step(_stand_in_model(x_ref, t_ref), t_ref, x_ref, eta=1.0, generator=g_ref).prev_sample
        x_ours = ours.step(_stand_in_model(x_ours, t), t, x_ours, generator=g_ours).prev_sample
    torch.testing.assert_close(x_ours, x_ref, **TOL)


# Heun: linspace spacing, linear σ interpolation, final σ = 0, γ = 0 — defaults. diffusers runs it
# as 2n − 1 calls of step() on an interleaved grid (t0, t1, t1, t2, t2, …) with a hidden first/
# second-order flag; latentlab runs n steps, each asking for its second call via correct_at.
# Each of diffusers' calls is compared with the matching step() or correct().
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_heun_matches_diffusers(prediction_type):
    reference = diffusers.HeunDiscreteScheduler(**SD_CONFIG, prediction_type=prediction_type,
                                                timestep_spacing="linspace", use_karras_sigmas=False)
    ours = make_sampler("heun", NoiseSchedule.from_name("scaled_linear"), prediction_type=prediction_type)
    reference.set_timesteps(STEPS)
    ours.set_timesteps(STEPS)
    assert len(reference.timesteps) == 2 * STEPS - 1
    torch.testing.assert_close(ours.timesteps, reference.timesteps[::2], atol=0, rtol=0)
    x = x_ref = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0)) * ours.init_noise_sigma
    reference_calls = iter(reference.timesteps)
    for t in ours.timesteps:
        t_ref = next(reference_calls)
        in_ref, in_ours = reference.scale_model_input(x_ref, t_ref), ours.scale_model_input(x, t)
        torch.testing.assert_close(in_ours, in_ref, **TOL)
        out_ref = reference.step(_stand_in_model(in_ref, t_ref), t_ref, x_ref)
        out = ours.step(_stand_in_model(in_ours, t), t, x)
        torch.testing.assert_close(out.prev_sample, out_ref.prev_sample, **TOL)  # the Euler predictor
        torch.testing.assert_close(out.pred_x0, out_ref.pred_original_sample, **TOL)
        if out.correct_at is not None:  # diffusers' next call is the second-order one, at t_{i+1}
            t_ref = next(reference_calls)
            assert float(t_ref) == out.correct_at
            in_ref = reference.scale_model_input(out_ref.prev_sample, t_ref)
            in_ours = ours.scale_model_input(out.prev_sample, out.correct_at)
            out_ref = reference.step(_stand_in_model(in_ref, t_ref), t_ref, out_ref.prev_sample)
            out = ours.correct(_stand_in_model(in_ours, out.correct_at), t, x, out)
            torch.testing.assert_close(out.prev_sample, out_ref.prev_sample, **TOL)
        x, x_ref = out.prev_sample, out_ref.prev_sample
    assert next(reference_calls, None) is None  # both made 2n − 1 model calls
