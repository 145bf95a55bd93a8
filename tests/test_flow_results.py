"""The shipped rectified-flow model, ldm-shapes-flow: what it is, how it was trained, and that it draws."""

from pathlib import Path

import pytest
import torch

from latentlab import checkpoints

MODELS_MD = Path(checkpoints.WEIGHTS_DIR) / "MODELS.md"


def _card(name: str) -> str:
    text = MODELS_MD.read_text()
    start = text.index(f"## {name}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_the_flow_model_is_ldm_shapes_with_only_the_objective_changed():
    flow_model = checkpoints.load_pretrained("ldm-shapes-flow", kind="ldm")
    ddpm = checkpoints.load_pretrained("ldm-shapes", kind="ldm")
    assert flow_model.config.is_flow and not ddpm.config.is_flow
    assert flow_model.config.unet == ddpm.config.unet and flow_model.config.text == ddpm.config.text
    assert flow_model.config.vae == ddpm.config.vae and flow_model.config.image_size == ddpm.config.image_size
    # the same training budget: as many optimiser steps of as many latents, on the same data
    for key in ("steps", "batch_size", "dataset_size", "two_objects", "caption_dropout", "ema_decay"):
        assert flow_model.metrics[key] == ddpm.metrics[key], key
    assert flow_model.metrics["objective"] == "flow" and not flow_model.metrics["interrupted"]
    tensors, meta = checkpoints.load_checkpoint(checkpoints.WEIGHTS_DIR / "ldm-shapes-flow.safetensors")
    assert all(t.dtype == torch.float16 for t in tensors.values() if t.is_floating_point())
    assert meta["metrics"]["command"] in _card("ldm-shapes-flow")


def test_the_flow_model_follows_prompts():
    from latentlab.shapes_eval import load_shapes_evaluator, prompt_adherence

    model = checkpoints.load_pretrained("ldm-shapes-flow", kind="ldm")
    vae = checkpoints.load_pretrained(model.config.vae, kind="vae")
    adherence = prompt_adherence(model, vae, load_shapes_evaluator(), n=24, batch_size=24, progress=False)
    assert adherence["joint"] >= 0.75, adherence  # a broken or swapped checkpoint scores near chance (1/40)
