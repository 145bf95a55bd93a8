"""Claims the lessons' prose makes about the shipped models and the schedules, tied to the code here so a
retrained model or a changed default cannot make a sentence false without a failing test."""

import pytest
import torch

from latentlab import metrics
from latentlab.checkpoints import load_pretrained
from latentlab.images import bundled_photo, square_photo, to_uint8
from latentlab.pipeline import decode, encode_image, image_to_image, make_model_sampler, start_timesteps
from latentlab.schedules import NoiseSchedule


def test_cosine_schedule_is_even_in_alpha_bar_not_in_log_snr():
    """Lesson 03: the cosine makes ᾱ fall roughly linearly in the middle (Nichol & Dhariwal §3.2), while
    log SNR falls several times faster near both ends than at t = 500."""
    s = NoiseSchedule.from_name("cosine")
    log_snr = torch.log(s.alpha_bar / (1 - s.alpha_bar))

    def slope(table, t):
        return (table[t + 1] - table[t - 1]).item() / 2

    middle = [slope(s.alpha_bar, t) for t in (300, 500, 700)]
    assert max(middle) / min(middle) < 1.3                                    # ᾱ: about the same rate
    assert abs(slope(s.alpha_bar, 50)) < abs(middle[1]) / 3                   # and slow near t = 0 …
    assert abs(slope(s.alpha_bar, 950)) < abs(middle[1]) / 3                  # … and near t = T
    for t in (50, 950):
        assert abs(slope(log_snr, t)) > 4 * abs(slope(log_snr, 500))         # log SNR: not even at all


def test_shipped_vae_f8c4_training_history_is_in_its_checkpoint():
    """Lesson 02 reads the shipped VAE's steps and hours from its metadata, through every fine-tune."""
    stage, stages = load_pretrained("vae-f8c4").metrics, []
    while stage:
        stages.append(stage)
        stage = stage.get("init_metrics")
    assert len(stages) >= 2 and all(isinstance(s["steps"], int) and s["train_minutes"] > 0 for s in stages)
    assert sum(s["steps"] for s in stages) > 10_000   # "trained much longer" than the lesson's minute


@pytest.fixture(scope="module")
def shapes_model():
    torch.set_grad_enabled(False)
    model = load_pretrained("ldm-shapes")
    yield model, load_pretrained(model.config.vae)
    torch.set_grad_enabled(True)


def test_img2img_keeps_the_photo_only_at_the_lowest_denoise(shapes_model):
    """Lesson 06: with the shipped shapes model, denoise 0.05 keeps the photo recognisable (≥ 50 % of the
    round trip's SSIM, the exercise's bar) while 0.2 has painted it over, although √ᾱ there keeps most of
    the latent's signal: the model, not the noise, removes the photo."""
    model, vae = shapes_model
    photo = square_photo(bundled_photo("astronaut"), model.config.image_size)
    round_trip = metrics.ssim(photo, to_uint8(decode(vae, encode_image(vae, photo)))[0])
    kept = {}
    for denoise in (0.05, 0.2):
        pictures, _ = image_to_image(model, vae, photo, "a large white circle on a blue background", denoise=denoise,
                                     seed=0, steps=20)
        kept[denoise] = metrics.ssim(photo, to_uint8(pictures)[0]) / round_trip
    assert kept[0.05] >= 0.5 > kept[0.2]
    t0 = int(start_timesteps(make_model_sampler(model, "ddim"), 20, 0.2)[0])
    assert model.schedule.alpha_bar[t0].sqrt() > 0.85
    assert int(start_timesteps(make_model_sampler(model, "ddim"), 20, 0.05)[0]) == 38   # "t = 38" in the lesson


def test_lesson_07_reads_the_committed_study_right():
    """Lesson 07's "Reading it" quotes the committed mini LDM study; every figure it names is in the file."""
    import json
    from pathlib import Path

    import nbformat

    root = Path(__file__).resolve().parent.parent
    study = json.loads((root / "latentlab" / "results" / "study-ldm-f.json").read_text())
    runs = {run["space"]: run for run in study["runs"]}
    source = nbformat.read(root / "latentlab" / "lessons" / "sources" / "07_why_latent.ipynb", as_version=4)
    reading = next(c.source for c in source.cells if c.source.startswith("**Reading it.** In the same ten minutes"))

    def shown(value: float, digits: int) -> str:
        return f"{value:,.{digits}f}".replace(",", " ")

    for space, run in runs.items():
        assert shown(run["steps"], 0) in reading, space                                  # "3 699 in f8c4"
    assert f"Fréchet {round(runs['pixel']['final']['frechet'])}" in reading
    assert f"({shown(runs['pixel']['final']['train_pflops'], 2)} PFLOPs)" in reading
    f8, trip = runs["f8c4"]["final"], study["round_trip"]
    assert f"joint {shown(f8['joint'], 2)} and Fréchet {shown(f8['frechet'], 1)}" in reading
    assert f"{shown(trip['f8c4']['joint'], 2)} and {shown(trip['f8c4']['frechet'], 1)}" in reading
    assert f"joint {shown(trip['f16c16']['joint'], 2)}, Fréchet {round(trip['f16c16']['frechet'])}" in reading
    curve = ", ".join(str(round(point["frechet"])) for point in runs["f16c16"]["curve"])
    assert f"({curve})" in reading
    f4 = runs["f4c3"]["final"]["frechet"]
    assert f"Fréchet {shown(f4, 1)} against a round trip of {shown(trip['f4c3']['frechet'], 1)}" in reading
    flops = runs["f4c3"]["step_gflops"] / runs["f8c4"]["step_gflops"]
    assert f"{flops:.1f}× the FLOPs of an f8c4 step" in reading
