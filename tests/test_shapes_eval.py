"""latentlab.shapes_eval: the one attribute-hit counter, the eval ldm settings and its CFG × steps table."""

import pytest

from latentlab import shapes_eval
from latentlab.shapes_eval import LDMEvalSettings, adherence_prompts, attribute_hits, scene_attributes


def test_attribute_hits_counts_each_attribute_and_joint():
    scenes = [scene for scene, _ in adherence_prompts(4)]
    reads = [scene_attributes(s) for s in scenes]  # all read right
    reads[1] = reads[1] | {"shape": "wrong"}  # shape wrong → joint wrong
    reads[2] = reads[2] | {"background": "wrong", "size": "wrong"}  # joint still right
    reads[3] = reads[3] | {"color": "wrong", "position": "wrong"}
    hits = attribute_hits(scenes, reads)
    assert hits == {"shape": 0.75, "color": 0.75, "background": 0.75, "size": 0.75, "position": 0.75, "joint": 0.5}


def test_attribute_hits_needs_one_reading_per_scene():
    scenes = [scene for scene, _ in adherence_prompts(2)]
    with pytest.raises(ValueError, match="one reading per scene"):
        attribute_hits(scenes, [scene_attributes(scenes[0])])


@pytest.mark.parametrize("kwargs, message", [
    ({"sampler": "nope"}, "unknown sampler 'nope'; known samplers: .*ddim"),
    ({"steps": 0}, "steps must be an integer ≥ 1"),
    ({"samples": 0}, "samples must be an integer ≥ 1"),
    ({"table_samples": -1}, "table_samples must be an integer ≥ 0"),
    ({"cfg": float("nan")}, "cfg must be a finite number"),
])
def test_eval_settings_refuse_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LDMEvalSettings(**kwargs)


def test_the_table_has_one_row_per_cfg_and_steps(monkeypatch):
    calls = []

    def fake_adherence(model, vae, evaluator, n, steps, cfg, **kwargs):
        calls.append((n, steps, cfg))
        return {"shape": 1.0, "color": 0.5, "background": 1.0, "size": 1.0, "position": 1.0, "joint": 0.5,
                "samples": n}

    monkeypatch.setattr(shapes_eval, "prompt_adherence", fake_adherence)
    monkeypatch.setattr(shapes_eval, "round_trip_adherence", lambda vae, evaluator, n, image_size: {"joint": 1.0})
    monkeypatch.setattr(shapes_eval, "evaluator_accuracy", lambda evaluator: {"shape": 1.0})
    model = type("Model", (), {"config": type("Config", (), {"image_size": 64})()})()
    settings = LDMEvalSettings(samples=8, table_samples=3, table_cfgs=(1.0, 7.5), table_steps=(5, 10, 20))
    result = shapes_eval.evaluate_ldm(model, None, None, settings, progress=False)
    assert calls[0] == (8, settings.steps, settings.cfg)
    assert [(row["cfg"], row["steps"]) for row in result["table"]] == [(c, s) for c in (1.0, 7.5) for s in (5, 10, 20)]
    assert all(n == 3 for n, _, _ in calls[1:]) and len(calls) == 7
    assert set(result["table"][0]) == {"cfg", "steps", "joint", "shape", "color", "background"}
    assert result["settings"] == {"samples": 8, "table_samples": 3, "sampler": "ddim", "steps": settings.steps,
                                  "cfg": settings.cfg, "seed": 0, "lang": "en"}
