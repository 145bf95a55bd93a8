"""The rectified-flow text-to-image model (ldm-shapes-flow): its objective, its sampler, its study."""

import dataclasses

import pytest
import torch

from latentlab import checkpoints, flow
from latentlab.cli import main
from latentlab.flow import FlowSchedule
from latentlab.flow_study import FlowStudySettings, fewest_steps, model_sampler, run_flow_study, summary
from latentlab.ldm import LatentDiffusion, LDMConfig
from latentlab.pipeline import make_model_sampler, text_to_image
from latentlab.samplers import FlowEulerSampler, FlowHeunSampler
from latentlab.shapes_eval import load_shapes_evaluator
from latentlab.train import CaptionedLatents, LDMTrainSettings, ldm_loss_step, train_ldm
from latentlab.vae import AutoencoderKL, VAEConfig


def tiny_config(objective: str = "epsilon") -> LDMConfig:
    config = LDMConfig.tiny()
    config.image_size = 64  # 8×8 latents with the tiny f8c4-shaped VAE
    return dataclasses.replace(config, schedule="flow", prediction_type="velocity") if objective == "flow" else config


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    return AutoencoderKL(VAEConfig.tiny()).eval()


def test_a_flow_config_predicts_the_velocity_and_nothing_else():
    config = LDMConfig.flow()
    assert config.is_flow and config.prediction_type == "velocity"
    assert isinstance(LatentDiffusion(tiny_config("flow")).schedule, FlowSchedule)
    assert not LDMConfig().is_flow
    with pytest.raises(ValueError, match="a flow model predicts the velocity"):
        LDMConfig(schedule="flow")  # still ε: refused
    with pytest.raises(ValueError, match="a flow model predicts the velocity"):
        LDMConfig(prediction_type="velocity")  # a velocity on a DDPM schedule: refused


def test_the_flow_loss_regresses_the_velocity_at_logit_normal_times():
    """Replay the loss step's draws: z_t must lie on the line (1 − t)z0 + tε, the UNet must see
    timestep 1000·t, and the loss of a zero prediction must be ‖ε − z0‖²."""
    model = LatentDiffusion(tiny_config("flow"))
    seen = {}

    def spy(z_t, timestep, context):
        seen["z_t"], seen["timestep"] = z_t, timestep
        return torch.zeros_like(z_t)

    model.unet.forward = spy
    latents = torch.randn(10, 4, 8, 8).half()
    data = CaptionedLatents(latents, model.tokenizer(["a red circle"] * 10), model.tokenizer(""))
    settings = LDMTrainSettings(steps=1, minutes=None, batch_size=6)
    loss, _ = ldm_loss_step(model, data, torch.Generator().manual_seed(3), settings)

    g = torch.Generator().manual_seed(3)  # the same draws, in the same order
    index = torch.randint(0, 10, (6,), generator=g)
    torch.rand(6, generator=g)  # caption dropout
    noise = torch.randn((6, 4, 8, 8), generator=g)
    t = flow.logit_normal_t(6, generator=g)
    z0 = latents[index].float()
    torch.testing.assert_close(seen["timestep"], 1000 * t)
    assert not torch.equal(seen["timestep"], seen["timestep"].round())  # continuous times, not a table
    torch.testing.assert_close(seen["z_t"], (1 - t[:, None, None, None]) * z0 + t[:, None, None, None] * noise)
    torch.testing.assert_close(loss, torch.mean((noise - z0) ** 2))


def test_flow_training_learns_and_the_file_says_what_it_is(tmp_path, vae):
    losses = []
    model, metrics = train_ldm(tmp_path / "f.safetensors",
                               LDMTrainSettings(steps=120, minutes=None, batch_size=8, dataset_size=32, lr=2e-3),
                               config=tiny_config("flow"), vae=vae, progress=False,
                               callback=lambda s, m, model: losses.append(m["loss"]))
    assert metrics["objective"] == "flow" and losses[-1] < 0.8 * losses[0]
    loaded = checkpoints.load_ldm(tmp_path / "f.safetensors")
    assert loaded.config.is_flow and isinstance(loaded.schedule, FlowSchedule)
    pictures, trajectory = text_to_image(loaded, vae, ["a red circle", "a blue square"], steps=3, cfg=2.0)
    assert pictures.shape == (2, 3, 64, 64) and torch.isfinite(pictures).all()
    assert trajectory.sampler == "flow_euler" and trajectory.model_calls == 6
    assert trajectory.timesteps[0] == pytest.approx(1000.0)  # a flow run starts at pure noise, t = 1


def test_a_flow_model_gets_a_flow_sampler_and_refuses_a_stochastic_one():
    flow_model, ddpm_model = LatentDiffusion(tiny_config("flow")), LatentDiffusion(tiny_config())
    assert isinstance(make_model_sampler(flow_model, "ddim"), FlowEulerSampler)
    assert isinstance(make_model_sampler(flow_model, "euler"), FlowEulerSampler)
    assert isinstance(make_model_sampler(flow_model, "heun"), FlowHeunSampler)
    with pytest.raises(ValueError, match="rectified-flow model"):
        make_model_sampler(flow_model, "ddpm")
    assert type(make_model_sampler(ddpm_model, "ddim")).__name__ == "DDIMSampler"
    assert model_sampler(flow_model) == "flow_euler" and model_sampler(ddpm_model) == "ddim"


def test_study_settings_are_checked():
    with pytest.raises(ValueError, match="steps must be a non-empty list"):
        FlowStudySettings(steps=())
    with pytest.raises(ValueError, match="path_steps"):
        FlowStudySettings(path_steps=1)
    with pytest.raises(ValueError, match="cfg"):
        FlowStudySettings(cfg=float("nan"))
    assert FlowStudySettings(steps=(8, 2, 8)).steps == (2, 8)


def test_fewest_steps_reads_the_curve():
    curve = {"2": {"joint": 0.3}, "4": {"joint": 0.91}, "8": {"joint": 0.95}}
    assert fewest_steps(curve, 0.9) == 4 and fewest_steps(curve, 0.99) is None


def test_the_study_runs_both_models_on_the_same_prompts():
    torch.manual_seed(0)
    ddpm, flow_model = LatentDiffusion(LDMConfig.tiny()).eval(), LatentDiffusion(LDMConfig.flow(
        unet=LDMConfig.tiny().unet, text=LDMConfig.tiny().text)).eval()
    vae = checkpoints.load_pretrained("vae-f8c4-shapes", kind="vae")
    settings = FlowStudySettings(samples=4, steps=(1, 2), batch_size=4, speed_batch=2, speed_repeats=1,
                                 path_samples=2, path_steps=3, speed_steps=2)
    result = run_flow_study({"eps": ddpm, "flow": flow_model}, vae, load_shapes_evaluator(), settings, progress=False)
    assert result["samplers"] == {"eps": "ddim", "flow": "flow_euler"}
    for name in ("eps", "flow"):
        assert set(result["adherence"][name]) == {"1", "2"}
        assert all(0 <= cell["joint"] <= 1 for cell in result["adherence"][name].values())
        assert result["pictures_per_second"][name] > 0
        assert result["straightness"][name]["paths"] == 2 and result["straightness"][name]["mean"] >= 0
    assert result["straightness"]["flow"]["t_start"] == 1.0 and result["straightness"]["eps"]["t_start"] < 1
    assert "flow_euler" in summary(result)


def test_study_cli_refuses_models_in_the_wrong_order(tmp_path, capsys):
    eps, velocity = tmp_path / "eps.safetensors", tmp_path / "flow.safetensors"
    checkpoints.save_ldm(eps, LatentDiffusion(LDMConfig.tiny()))
    checkpoints.save_ldm(velocity, LatentDiffusion(LDMConfig.flow(unet=LDMConfig.tiny().unet,
                                                                  text=LDMConfig.tiny().text)))
    code = main(["study", "flow", "--ddpm-model", str(velocity), "--flow-model", str(eps), "--samples", "2",
                 "--out", str(tmp_path / "r.json")])
    assert code != 0 and "--ddpm-model must predict ε" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()
