"""The ComfyUI graph, and the img2img strength explorer (lesson 06).

ComfyUI draws a text-to-image run as a graph of nodes wired together; `latentlab.pipeline` has one
function per node, so the graph reads as five calls. `comfy_graph()` draws it, each node's latentlab
call under its name; `comfy_graph(img2img=True)` draws the img2img variant, where *Load Image → VAE
Encode* replaces *Empty Latent Image* and the KSampler's `denoise` drops below 1.

img2img (SDEdit, Meng et al. 2022): the photo's latent is noised part of the way up the schedule and
the model denoises it under a prompt. The model can only pull the latent toward pictures it knows
(here: coloured shapes), so a low `denoise` keeps the photo and a high one turns it into shapes.
`denoise` follows ComfyUI's KSampler: with `steps` = 20 and `denoise` = 0.5 the sampler is set up for
int(20 / 0.5) = 40 steps and runs the last 20 (`pipeline.start_timesteps`); `steps` is always the
number of steps taken (diffusers and AUTOMATIC1111 instead run int(steps · strength) of `steps`).

    app = Img2ImgApp(model, vae)                       # load_pretrained("ldm-shapes"), its VAE
    app.controls["denoise"].value = 0.8; app.render()["ssim"]

One (photo, prompt, seed) costs one img2img run per denoise value, computed together the first
time and cached: the denoise slider then only swaps pictures (no model call).
"""

from __future__ import annotations

import html
import math

import ipywidgets as W
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from PIL import Image

from .. import metrics
from ..i18n import N_, tr
from ..images import BUNDLED_PHOTOS, bundled_photo, to_uint8
from ..pipeline import SamplingDefaults, encode_image, image_to_image
from .kit import App, LRUCache, course_models, guarded, photo_choices, png, read_upload, resolve_pair, square_photo

DENOISE_VALUES = (0.05, 0.1, 0.2, 0.4, 0.6, 1.0)  # the strip; the slider adds 0 (the photo's own latent)
THUMB = 96        # pixels per picture of the strip
STRIPS_KEPT = 8   # (photo, prompt, seed) strips kept in memory; each is a handful of small pictures
UPLOADS_KEPT = 4  # uploaded photos kept, at the model's size; older ones leave the list
DEFAULT_PROMPT = N_("a large white circle on a blue background")  # the app's first prompt


# --- the graph -----------------------------------------------------------------------------------

# ComfyUI colours its wires by the type they carry; these are close to its defaults.
WIRE_COLOURS = {"MODEL": "#b39ddb", "CLIP": "#e6c200", "VAE": "#ff6e6e", "CONDITIONING": "#ffa931",
                "LATENT": "#ff9cf9", "IMAGE": "#64b5f6"}


def _graph_nodes(img2img: bool) -> dict[str, tuple[float, float, str, str]]:
    """name → (x, y, ComfyUI node, latentlab call) of the boxes, on a 17.6 × 6.6 canvas."""
    nodes = {
        "checkpoint": (1.7, 2.5, "Load Checkpoint", 'model = load_pretrained(\n    "ldm-shapes")'),
        "positive": (5.6, 5.6, "CLIP Text Encode ({})".format(tr("positive")),
                     "context = encode_prompt(\n    model, prompt)"),
        "negative": (5.6, 3.9, "CLIP Text Encode ({})".format(tr("negative")),
                     'uncond = encode_prompt(\n    model, "")'),
        "sampler": (9.9, 3.6, "KSampler", "trajectory = sample(\n  model, sampler,\n  initial_latent=latent,\n"
                    "  steps, cfg, denoise,\n  context, uncond_context,\n  generator)"),
        "vae": (9.9, 0.6, "Load VAE", 'vae = load_pretrained(\n    "vae-f8c4")'),
        "decode": (13.5, 3.6, "VAE Decode", "pictures = decode(\n  vae, trajectory.sample)"),
        "save": (16.5, 3.6, "Save Image", "to_pil(pictures[0])"),
    }
    if img2img:
        nodes["latent"] = (5.6, 1.0, "VAE Encode", "latent = encode_image(\n    vae, photo, size)")
        nodes["photo"] = (1.7, 0.6, "Load Image", 'photo = bundled_photo(\n    "astronaut")')
    else:
        nodes["latent"] = (5.6, 1.3, "Empty Latent Image", "latent = empty_latent(\n    width, height, batch)")
    return nodes


def _graph_wires(img2img: bool) -> list[tuple[str, str, str]]:
    """(from, to, type) of every wire."""
    wires = [("checkpoint", "sampler", "MODEL"), ("checkpoint", "positive", "CLIP"), ("checkpoint", "negative", "CLIP"),
             ("positive", "sampler", "CONDITIONING"), ("negative", "sampler", "CONDITIONING"),
             ("latent", "sampler", "LATENT"), ("sampler", "decode", "LATENT"), ("vae", "decode", "VAE"),
             ("decode", "save", "IMAGE")]
    if img2img:
        wires += [("photo", "latent", "IMAGE"), ("vae", "latent", "VAE")]
    return wires


def _box_size(title: str, call: str) -> tuple[float, float]:
    lines = call.split("\n")
    return 0.45 + max(0.085 * len(title), 0.076 * max(len(line) for line in lines)), 0.6 + 0.22 * len(lines)


def _edge_point(centre: tuple[float, float], size: tuple[float, float], toward: tuple[float, float]):
    """Where the line from a box's centre toward a point leaves the box."""
    (x, y), (w, h), (tx, ty) = centre, size, toward
    dx, dy = tx - x, ty - y
    scale = min(w / 2 / abs(dx) if dx else math.inf, h / 2 / abs(dy) if dy else math.inf)
    return x + dx * scale, y + dy * scale


def comfy_graph(img2img: bool = False, shapes: dict[str, tuple[int, ...]] | None = None) -> Figure:
    """ComfyUI's default text-to-image graph (or its img2img variant) with the latentlab call of each node.

    shapes: optional type → tensor shape, e.g. {"LATENT": (1, 4, 16, 16)}, written on those wires."""
    nodes = _graph_nodes(img2img)
    shapes = shapes or {}
    fig = Figure(figsize=(15, 5.8))
    ax = fig.subplots()
    ax.set(xlim=(0.0, 17.8), ylim=(-0.1, 6.5), aspect="equal")
    ax.axis("off")
    sizes = {key: _box_size(title, call) for key, (_, _, title, call) in nodes.items()}
    for key, (x, y, title, call) in nodes.items():
        w, h = sizes[key]
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.12",
                                    facecolor="#353535", edgecolor="#999999", zorder=2))
        ax.text(x, y + h / 2 - 0.2, title, ha="center", va="center", color="white", fontsize=9, weight="bold", zorder=3)
        ax.text(x, y - 0.12, call, ha="center", va="center", color="#9fe0a0", fontsize=7.5, family="monospace",
                zorder=3)
    for source, target, kind in _graph_wires(img2img):
        (sx, sy, *_), (tx, ty, *_) = nodes[source], nodes[target]
        start = _edge_point((sx, sy), sizes[source], (tx, ty))
        end = _edge_point((tx, ty), sizes[target], (sx, sy))
        ax.annotate("", xy=end, xytext=start, zorder=1,
                    arrowprops=dict(arrowstyle="-|>", color=WIRE_COLOURS[kind], lw=2, shrinkA=2, shrinkB=2))
        label = kind if kind not in shapes else f"{kind} {tuple(shapes[kind])}"
        flat = abs(end[1] - start[1]) < 0.3 * abs(end[0] - start[0])  # a level wire: its label sits above it
        middle = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + (0.2 if flat else 0.0))
        ax.text(*middle, label, ha="center", va="center", fontsize=6.5, color="#333333", zorder=4,
                bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none"))
    kind = tr("img2img: VAE Encode → KSampler (denoise < 1) → VAE Decode") if img2img else \
        tr("text-to-image: Empty Latent Image → KSampler → VAE Decode")
    ax.set_title(tr("ComfyUI's graph, {kind}").format(kind=kind), fontsize=11)
    fig.tight_layout()
    return fig


# --- the app -------------------------------------------------------------------------------------


class Img2ImgApp(App):
    """A photo, the img2img result at the chosen denoise, and the strip over every denoise value.

    model: a LatentDiffusion or its name/path (its `config.image_size` is the size photos are resized
    to); vae: the AutoencoderKL of its latent space, a name/path, or None for the one it was trained
    with. steps, cfg, sampler: the KSampler's settings. prompt: None means DEFAULT_PROMPT in the
    learner's language.
    """

    def __init__(self, model="ldm-shapes", vae=None, photo: str = "astronaut",
                 prompt: str | None = None, seed: int = 0, denoise: float = 0.6,
                 denoise_values: tuple[float, ...] = DENOISE_VALUES,
                 steps: int = SamplingDefaults.steps, cfg: float = SamplingDefaults.cfg,
                 sampler: str = SamplingDefaults.sampler):
        super().__init__()
        self.model, self.vae = resolve_pair(model, vae)
        prompt = tr(DEFAULT_PROMPT) if prompt is None else prompt
        if photo not in BUNDLED_PHOTOS:
            raise ValueError(tr("unknown photo {photo!r}; bundled photos: {photos}").format(
                photo=photo, photos=", ".join(BUNDLED_PHOTOS)))
        if not denoise_values or not all(0 < d <= 1 for d in denoise_values):
            raise ValueError(tr("denoise_values must be in (0, 1], got {values}").format(values=denoise_values))
        self.denoise_values = (0.0, *sorted(set(denoise_values)))
        if denoise not in self.denoise_values:
            raise ValueError(tr("denoise must be one of {values}, got {denoise}").format(
                values=self.denoise_values, denoise=denoise))
        self.size = self.model.config.image_size
        self.steps, self.cfg, self.sampler = steps, cfg, sampler
        self._uploads = LRUCache(UPLOADS_KEPT)  # label → (S, S, 3) uint8 at the model's size
        self._photos = LRUCache(len(BUNDLED_PHOTOS) + UPLOADS_KEPT)  # name → (S, S, 3) uint8 and its PNG
        self._strips = LRUCache(STRIPS_KEPT)    # (photo, prompt, seed) → results per denoise

        self.controls = {
            "photo": W.Dropdown(options=photo_choices(BUNDLED_PHOTOS), value=photo, description=tr("photo")),
            "prompt": W.Text(value=prompt, description=tr("prompt"), continuous_update=False,
                             layout=W.Layout(width="480px")),
            "seed": W.BoundedIntText(value=seed, min=0, max=2**31 - 1, description=tr("seed"),
                                     layout=W.Layout(width="180px")),
            "denoise": W.SelectionSlider(options=[(f"{d:g}", d) for d in self.denoise_values], value=denoise,
                                         description=tr("denoise"), continuous_update=True),
        }
        # Not in `controls`: an upload does not re-render by itself, it adds a photo and selects it.
        self.upload = W.FileUpload(accept="image/*", multiple=False, description=tr("upload a photo"))
        self.upload.observe(self._on_upload, names="value")

        big = W.Layout(width="256px", height="256px", object_fit="contain")
        self.photo_view, self.result_view = W.Image(format="png", layout=big), W.Image(format="png", layout=big)
        self.result_title = W.HTML()
        self.thumbs = [W.Image(format="png", layout=W.Layout(width=f"{THUMB}px", height=f"{THUMB}px"))
                       for _ in self.denoise_values]
        strip = [W.VBox([W.HTML("<small>{}</small>".format(tr("0 (VAE only)") if d == 0 else f"{d:g}")), thumb])
                 for d, thumb in zip(self.denoise_values, self.thumbs)]
        self.explanation = W.HTML()
        self.widget = W.VBox([
            W.HBox([self.controls["photo"], self.upload]),
            W.HBox([self.controls["prompt"], self.controls["seed"]]),
            self.controls["denoise"],
            W.HBox([W.VBox([W.HTML(tr("<b>photo, {S}×{S} (the model's size)</b>").format(S=self.size)),
                            self.photo_view]),
                    W.VBox([self.result_title, self.result_view])]),
            W.HTML(tr("<b>every denoise, same seed</b> (computed once per photo, prompt and seed)")),
            W.HBox(strip, layout=W.Layout(flex_flow="row wrap")),
            self.explanation, self.status,
        ])
        self.observe_all()

    # --- inputs ----------------------------------------------------------------------------------

    def photo(self, name: str | None = None) -> tuple[np.ndarray, bytes]:
        """The chosen photo centre-cropped and resized to the model's size: (S, S, 3) uint8, and its PNG."""
        name = name or self.controls["photo"].value

        def load() -> tuple[np.ndarray, bytes]:
            array = self._uploads[name] if name in self._uploads else square_photo(bundled_photo(name), self.size)
            return array, png(array)

        return self._photos.get(name, load)

    @guarded
    def _on_upload(self, change) -> None:
        upload = read_upload(change, self.size)
        if upload is None:
            return
        label, picture = upload
        for old in [label, *self._uploads.put(label, picture)]:  # a new file under an old name replaces it
            self._photos.drop(lambda key, old=old: key == old)
            self._strips.drop(lambda key, old=old: key[0] == old)
        self.show_upload(label, self._uploads.keys())

    # --- the strip: one img2img run per denoise, once per (photo, prompt, seed) ------------------

    @torch.no_grad()
    def strip(self) -> dict:
        """{"photo": (S, S, 3) uint8, "photo_latent": (1, c, h, w), "results": {denoise: entry}}, cached.

        Each entry holds the result's latent, its picture and the numbers render() shows."""
        key = (self.controls["photo"].value, self.controls["prompt"].value, self.controls["seed"].value)
        return self._strips.get(key, lambda: self._run_strip(*key))

    @torch.no_grad()
    def _run_strip(self, name: str, prompt: str, seed: int) -> dict:
        picture, _ = self.photo(name)
        runs = len(self.denoise_values) - 1
        self.status.value = "⏳ " + tr("{runs} img2img runs of {steps} steps (once per photo, prompt and seed)…").format(
            runs=runs, steps=self.steps)
        photo_latent = encode_image(self.vae, picture)  # (1, c, S/f, S/f): already the model's size
        alpha_bar = self.model.schedule.alpha_bar
        results = {}
        for denoise in self.denoise_values:
            # VAE Encode → KSampler (denoise) → VAE Decode; the same seed, so the same noise, every time
            pictures, trajectory = image_to_image(self.model, self.vae, picture, prompt, denoise=denoise, seed=seed,
                                                  steps=self.steps, cfg=self.cfg, sampler=self.sampler)
            image = to_uint8(pictures)[0]  # (S, S, 3)
            start_t = trajectory.timesteps[0] if len(trajectory) else None
            results[denoise] = {
                "latent": trajectory.sample, "image": image, "png": png(image),
                "thumb": png(np.asarray(_thumbnail(image))),
                "steps_run": len(trajectory), "model_calls": trajectory.model_calls,
                "schedule_steps": int(self.steps / denoise) if denoise > 0 else 0,
                "start_t": start_t,
                # √ᾱ at the first timestep: how much of the photo's latent the noised start keeps
                "signal_kept": 1.0 if start_t is None else float(alpha_bar[round(start_t)].sqrt()),
                "latent_distance": float((trajectory.sample - photo_latent).pow(2).mean().sqrt()),  # RMS
                "psnr": metrics.psnr(picture, image), "ssim": metrics.ssim(picture, image),
            }
        return {"photo": picture, "photo_latent": photo_latent, "results": results}

    def result(self) -> dict:
        """The cached entry of the current denoise (its "latent", "image" and numbers)."""
        return self.strip()["results"][self.controls["denoise"].value]

    # --- the update ------------------------------------------------------------------------------

    def render(self) -> dict:
        """Show the photo, the result at the chosen denoise and the strip. Returns the numbers shown:

        {"photo", "prompt", "seed", "denoise", "steps" (asked for), "steps_run", "schedule_steps"
         (int(steps/denoise)), "model_calls", "start_t" (first timestep, None at denoise 0),
         "signal_kept" (√ᾱ there), "latent_distance" (RMS of result − photo latent), "psnr", "ssim"
         (result vs the resized photo), "image_size", "latent_shape",
         "strip": the same numbers (from "steps_run" on) for every denoise, with its "denoise"}"""
        state = self.strip()
        denoise = self.controls["denoise"].value
        entry = state["results"][denoise]
        self.photo_view.value = self.photo()[1]
        self.result_view.value = entry["png"]
        self.result_title.value = tr("<b>result, denoise {denoise:g}</b>: SSIM {ssim:.2f}, PSNR {psnr:.1f} dB vs "
                                     "the photo").format(denoise=denoise, ssim=entry["ssim"], psnr=entry["psnr"])
        for d, thumb in zip(self.denoise_values, self.thumbs):
            thumb.value = state["results"][d]["thumb"]
            thumb.layout.border = "3px solid #e65100" if d == denoise else "3px solid transparent"
        self.explanation.value = self._explain(denoise, entry)
        keep = ("steps_run", "schedule_steps", "model_calls", "start_t", "signal_kept", "latent_distance", "psnr",
                "ssim")
        return {
            "photo": self.controls["photo"].value, "prompt": self.controls["prompt"].value,
            "seed": self.controls["seed"].value, "denoise": denoise, "steps": self.steps,
            **{k: entry[k] for k in keep},
            "image_size": self.size, "latent_shape": list(entry["latent"].shape[1:]),
            "strip": [{"denoise": d, **{k: e[k] for k in keep}} for d, e in state["results"].items()],
        }

    def _explain(self, denoise: float, entry: dict) -> str:
        prompt = html.escape(self.controls["prompt"].value)
        if denoise == 0:
            return tr("<b>denoise 0</b>: nothing is re-done. The KSampler returns the photo's latent unchanged "
                      "(0 steps, 0 model calls); what you see is the VAE's round trip, encode then decode.")
        kept, noise = entry["signal_kept"], math.sqrt(max(0.0, 1 - entry["signal_kept"] ** 2))
        text = tr("<b>denoise {denoise:g}</b> re-does that fraction of the noise schedule (ComfyUI's rule): the "
                  "sampler is set up for int({steps} / {denoise:g}) = {schedule_steps} steps and runs the last "
                  "{steps_run} ({calls} model calls with CFG {cfg:g}). They start from the photo's latent noised to "
                  "t = {start_t:.0f}: √ᾱ = {kept:.2f} of the latent plus noise of std {noise:.2f}. Then the model "
                  "pulls it toward “{prompt}” and what it knows: shapes.").format(
            denoise=denoise, steps=self.steps, schedule_steps=entry["schedule_steps"], steps_run=entry["steps_run"],
            calls=entry["model_calls"], cfg=self.cfg, start_t=entry["start_t"], kept=kept, noise=noise, prompt=prompt)
        if denoise == 1:
            text += " " + tr("At denoise 1 only that {kept:.2f} of the photo is left in the start (how little depends "
                             "on where the sampler's first timestep lies): this is nearly text-to-image.").format(
                kept=kept)
        return text

    @classmethod
    def for_bench(cls, size: int) -> Img2ImgApp:
        """The shipped models (or untrained twins, same cost); photos are the model's size (`size` does not apply)."""
        return cls(*course_models())

    def bench_step(self, i: int) -> None:
        """A student drags the denoise slider one notch (cached: pictures are swapped, no model call)."""
        values = self.denoise_values
        self.controls["denoise"].value = values[(values.index(self.controls["denoise"].value) + 1) % len(values)]


def _thumbnail(image: np.ndarray) -> Image.Image:
    return Image.fromarray(image).resize((THUMB, THUMB), Image.Resampling.LANCZOS)



__all__ = ["Img2ImgApp", "comfy_graph", "DENOISE_VALUES"]
