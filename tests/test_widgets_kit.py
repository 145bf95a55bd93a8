"""The widget kit and the app registry: one protocol, one resolver, bounded caches, and a registry
that agrees with the lessons manifest."""

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from latentlab.checkpoints import CheckpointError
from latentlab.ldm import LatentDiffusion, LDMConfig
from latentlab.lessons import load_manifest
from latentlab.vae import AutoencoderKL, VAEConfig
from latentlab.widgets import APPS, app_class
from latentlab.widgets.kit import App, LRUCache, held_bytes, resolve_model, resolve_pair

# --- the registry ------------------------------------------------------------------------------------


def test_every_app_a_lesson_names_is_registered_and_every_registered_app_is_used():
    named = [key for lesson in load_manifest() for key in lesson.apps]
    assert sorted(set(named) - set(APPS)) == [], "lessons name apps missing from latentlab.widgets.APPS"
    assert sorted(set(APPS) - set(named)) == [], "apps in latentlab.widgets.APPS that no lesson shows"


@pytest.mark.parametrize("key", list(APPS))
def test_every_registered_app_follows_the_protocol(key):
    cls = app_class(key)
    assert issubclass(cls, App) and cls.__name__ == APPS[key].split(":")[1]
    for method in ("render", "bench_step"):
        assert getattr(cls, method) is not getattr(App, method), f"{cls.__name__} does not define {method}"
    assert cls.__dict__.get("for_bench") is not None, f"{cls.__name__} does not say how it is benchmarked"


def test_an_unknown_app_key_names_the_known_ones():
    with pytest.raises(ValueError, match="compression"):
        app_class("compresion")


def test_importing_the_widgets_package_imports_no_app():
    code = ("import sys, latentlab.widgets as w; "
            "print(sorted(m for m in sys.modules if m.startswith('latentlab.widgets.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_bench_widgets_times_the_registered_apps_and_refuses_unknown_keys():
    from latentlab.bench import bench_widgets

    result = bench_widgets(keys=["trajectory2d"], repeats=1, warmup=0)
    assert list(result["median_ms"]) == ["trajectory2d"] and result["median_ms"]["trajectory2d"] >= 0
    with pytest.raises(ValueError, match="known: compression"):
        bench_widgets(keys=["nope"])
    with pytest.raises(ValueError, match="size"):
        bench_widgets(keys=["compression"], size=-5)


# --- the protocol ------------------------------------------------------------------------------------


class Broken(App):
    def render(self) -> dict:
        raise ValueError("the knob is off the scale")


def test_last_error_starts_as_none_and_keeps_the_traceback_of_a_failed_update():
    app = Broken()
    assert app.last_error is None
    assert app.safe_render() is None
    assert "off the scale" in app.status.value and "Traceback" in app.last_error


# --- one resolver ------------------------------------------------------------------------------------


def _tiny_vae(latent_channels=4):
    return AutoencoderKL(replace(VAEConfig.tiny(), latent_channels=latent_channels))


def test_resolve_model_passes_loaded_models_through_in_eval_mode():
    vae = _tiny_vae().train()
    name, same = resolve_model(vae, "vae")
    assert same is vae and not vae.training and name


def test_resolve_model_refuses_the_wrong_kind_and_unknown_names():
    with pytest.raises(TypeError, match="LatentDiffusion"):
        resolve_model(_tiny_vae(), "ldm")
    with pytest.raises(CheckpointError, match="neither a shipped model nor a checkpoint"):
        resolve_model("vae-f99c1", "vae")
    with pytest.raises(ValueError, match="kind"):
        resolve_model("vae-f8c4", "unet")


def test_resolve_pair_checks_the_latent_space():
    model = LatentDiffusion(LDMConfig.tiny())
    assert resolve_pair(model, _tiny_vae())[0] is model
    with pytest.raises(ValueError, match="3-channel latents"):
        resolve_pair(model, _tiny_vae(latent_channels=3))


# --- bounded caches ----------------------------------------------------------------------------------


def test_lru_cache_keeps_the_most_recently_used():
    cache = LRUCache(2)
    made = []
    for key in ("a", "b", "a", "c"):
        cache.get(key, lambda key=key: made.append(key) or key.upper())
    assert made == ["a", "b", "c"] and cache.keys() == ["a", "c"]  # "a" was used again, so "b" went
    assert cache.put("d", "D") == ["a"] and "a" not in cache
    cache.drop(lambda key: key == "d")
    assert cache.keys() == ["c"]


def test_a_failing_make_leaves_the_cache_unchanged():
    cache = LRUCache(1)
    cache.get("a", lambda: 1)
    with pytest.raises(ZeroDivisionError):
        cache.get("b", lambda: 1 / 0)
    assert cache.keys() == ["a"]


def test_held_bytes_counts_arrays_tensors_and_pngs_inside_containers():
    entry = {"pixels": np.zeros((4, 4, 3), np.uint8), "latent": torch.zeros(2, 3), "png": b"12345",
             "more": [np.zeros(10, np.float32)], "label": "not counted"}
    assert held_bytes(entry) == 48 + 24 + 5 + 40
