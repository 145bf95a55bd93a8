"""Cross-attention maps (lesson 04): which word of the prompt attends where in the latent.

One DDIM run per (prompt, seed) records, at every step, the softmax weights of every text
cross-attention layer of the UNet (`CrossAttention.keep_attention`). Moving the step or the layer
control afterwards only re-reads that record: the model is not called again.

    app = CrossAttentionApp(model, vae, prompt="a small red circle on a blue background, top left")
    app.controls["step"].value = 10; app.render()["attention_mass"]

What a map is. In a cross-attention layer whose feature map is an H×W grid, every grid cell q asks
every token m of the prompt "how much of you do I take?" (LDM §3.3):

    a[q, m] = softmax_m(Q_q · K_m / √d),   Σ_m a[q, m] = 1   (over all L context positions, padding too)

The heatmap of token m is the column a[:, m], averaged over the heads, laid out on the H×W grid and
upsampled to the picture. The *mass* of token m is that column's mean over the cells: the share
of the layer's attention that went to m (the masses of all L positions sum to 1).

With classifier-free guidance the UNet runs twice per step; only the conditional pass (the one that
reads the prompt) is recorded: the unconditional one attends to the empty prompt.

The tokens under the heatmaps are the words the model reads. A Spanish prompt ("un círculo rojo
pequeño…") is read as its English caption (`latentlab.text.to_english`), and the app says so.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import ipywidgets as W
import numpy as np
import torch
import torch.nn.functional as F

from .. import pipeline
from .. import text as text_module
from ..i18n import N_, tr
from ..images import to_uint8
from ..ldm import check_latent_space
from .kit import App, LRUCache, choices, colormap, course_models, labelled, png, resolve_pair

# Option values (compared in code) whose labels are shown translated.
AVERAGE = N_("average of all layers")
PICTURES = (N_("x̂0 at this step"), N_("final picture"))
SCALES = (N_("each map its own range"), N_("one range for all maps"))
DEFAULT_PROMPT = N_("a small red circle on a blue background, top left")  # the app's first prompt
CACHED_RUNS = 8     # sampling runs kept per app: a few prompts to flip between, bounded memory
TILE = 128          # pixels per side of the picture and of each heatmap on screen
HEAT_OPACITY = 0.6  # the heatmap's weight over the (greyed) picture


@dataclass
class AttentionRecord:
    """One text-to-image run and the cross-attention it went through.

    tokens:    the prompt's tokens, <start> and <end> included, padding left out (positions 0…n−1
               of the context; the padding positions n…L−1 follow them).
    timesteps: the t of each of the `steps` steps.
    pred_x0:   the predicted clean latent at each step, (1, c, h, w) each, on the CPU.
    sample:    the final latent (1, c, h, w).
    attention: layer name → (steps, N, L) softmax weights averaged over the heads, N = H·W cells of
               the layer's grid, L = the text encoder's context length.
    grids:     layer name → (H, W) of that layer's feature map.
    latent_size: (h, w) of the latent.
    model_calls: UNet calls of the run (2 per step with CFG).
    """

    prompt: str
    seed: int
    tokens: list[str]
    timesteps: list[float]
    pred_x0: list[torch.Tensor]
    sample: torch.Tensor
    attention: dict[str, torch.Tensor]
    grids: dict[str, tuple[int, int]]
    latent_size: tuple[int, int]
    model_calls: int

    def maps(self, step: int, layer: str = AVERAGE) -> torch.Tensor:
        """The attention of every context position at `step`, on the latent's grid: (L, h, w).

        One layer's grid is upsampled (bilinear) to h×w; AVERAGE averages every layer's maps."""
        names = list(self.attention) if layer == AVERAGE else [layer]
        if layer != AVERAGE and layer not in self.attention:
            raise ValueError(tr("unknown layer {layer!r}; the layers are {average!r}, {layers}").format(
                layer=layer, average=AVERAGE, layers=", ".join(self.attention)))
        maps = []
        for name in names:
            weights = self.attention[name][step]  # (N, L)
            H, W = self.grids[name]
            grid = weights.T.reshape(1, -1, H, W)  # (1, L, H, W)
            maps.append(F.interpolate(grid, size=self.latent_size, mode="bilinear", align_corners=False)[0])
        return torch.stack(maps).mean(0)  # (L, h, w)

    def mass(self, step: int, layer: str = AVERAGE) -> torch.Tensor:
        """Share of the attention that went to each context position at `step`: (L,), sums to 1."""
        names = list(self.attention) if layer == AVERAGE else [layer]
        return torch.stack([self.attention[name][step].mean(0) for name in names]).mean(0)  # (L,)


def _grid_of(cells: int, latent_size: tuple[int, int]) -> tuple[int, int]:
    """The H×W grid of a layer with `cells` = H·W positions: the latent's h×w halved k times."""
    h, w = latent_size
    for k in range(8):
        if (h >> k) * (w >> k) == cells:
            return h >> k, w >> k
    raise ValueError(tr("a cross-attention layer has {cells} query positions, which is no h/2^k × w/2^k of "
                        "the {h}×{w} latent").format(cells=cells, h=h, w=w))


@torch.no_grad()
def record_cross_attention(model, vae, prompt: str, seed: int = 0, steps: int = pipeline.SamplingDefaults.steps,
                           cfg: float = pipeline.SamplingDefaults.cfg,
                           sampler: str = pipeline.SamplingDefaults.sampler) -> AttentionRecord:
    """Text-to-image with `model` (a LatentDiffusion) in `vae`'s latent space, keeping the
    cross-attention weights of every layer at every step (the conditional pass only).

    Raises ValueError for a word the tokenizer does not know (the message names the closest ones)."""
    check_latent_space(model, vae)
    c = vae.config.latent_channels
    ids = model.tokenizer(prompt)[0]  # (L,): raises on an unknown word before anything runs
    tokens = [model.tokenizer.vocab[i] for i in ids.tolist() if i != model.tokenizer.pad_id]
    size = model.config.image_size
    latent = pipeline.empty_latent(size, size, 1, c, vae.downsample_factor).to(model.device)  # (1, c, h, w)
    context = pipeline.encode_prompt(model, prompt)  # (1, L, D)
    uncond = pipeline.encode_prompt(model, "") if cfg != 1 else None
    layers = model.unet.cross_attention_layers()
    kept = {name: [] for name, _ in layers}

    def conditional_recorder(x_t, t, ctx):
        prediction = model(x_t, t, ctx)
        if ctx is context:  # the pass that read the prompt (not CFG's unconditional one)
            for name, layer in layers:
                kept[name].append(layer.last_attention[0].mean(0).cpu())  # (heads, N, L) → (N, L)
        return prediction

    before = [layer.keep_attention for _, layer in layers]
    for _, layer in layers:
        layer.keep_attention = True
    try:
        trajectory = pipeline.sample(conditional_recorder, pipeline.make_model_sampler(model, sampler),
                                     initial_latent=latent, steps=steps, cfg=cfg, context=context,
                                     uncond_context=uncond, generator=pipeline.make_generator(seed))
    finally:  # leave the model as it was: the fused attention kernel is faster
        for (_, layer), keep in zip(layers, before):
            layer.keep_attention = keep
            layer.last_attention = None

    latent_size = tuple(latent.shape[-2:])
    attention = {name: torch.stack(weights) for name, weights in kept.items()}  # (steps, N, L) each
    grids = {name: _grid_of(weights.shape[1], latent_size) for name, weights in attention.items()}
    return AttentionRecord(prompt=prompt, seed=seed, tokens=tokens, timesteps=trajectory.timesteps,
                           pred_x0=trajectory.pred_x0, sample=trajectory.sample.cpu(), attention=attention,
                           grids=grids, latent_size=latent_size, model_calls=trajectory.model_calls)


def overlay(picture: np.ndarray, heat: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """A heatmap laid over a picture: (S, S, 3) uint8 and (S, S) floats → (S, S, 3) uint8.

    The picture is greyed so the colours of the map are not confused with the colours of the shapes."""
    grey = picture.astype(np.float32).mean(axis=2, keepdims=True)  # (S, S, 1)
    colours = colormap(heat, vmin, vmax, "inferno").astype(np.float32)  # (S, S, 3)
    return (HEAT_OPACITY * colours + (1 - HEAT_OPACITY) * grey).round().astype(np.uint8)


class CrossAttentionApp(App):
    """The picture of a prompt at a chosen denoising step, and one attention heatmap per token.

    model: a LatentDiffusion or its name/path; vae: the AutoencoderKL of its latent space, a name/path,
    or None for the one it was trained with. steps, cfg, sampler: the sampling run (DDIM, 20 steps and
    SD's guidance by default); step: where the slider starts. prompt: None means DEFAULT_PROMPT in
    the learner's language.
    """

    def __init__(self, model="ldm-shapes", vae=None, prompt: str | None = None, seed: int = 0, steps: int = pipeline.SamplingDefaults.steps,
                 cfg: float = pipeline.SamplingDefaults.cfg, sampler: str = pipeline.SamplingDefaults.sampler,
                 step: int | None = None):
        super().__init__()
        self.model, self.vae = resolve_pair(model, vae)
        prompt = tr(DEFAULT_PROMPT) if prompt is None else prompt
        self.steps, self.cfg, self.sampler = steps, cfg, sampler
        self.layer_names = [name for name, _ in self.model.unet.cross_attention_layers()]
        self.heads = self.model.unet.config.heads
        self.sampling_runs = 0  # how many times the model sampled: a scrub must not add to it
        self._runs = LRUCache(CACHED_RUNS)  # (token ids, seed) → record and pictures

        self.controls = {
            "prompt": W.Text(value=prompt, description=tr("prompt"), continuous_update=False,
                             layout=W.Layout(width="560px")),
            "seed": W.BoundedIntText(value=seed, min=0, max=2**31 - 1, description=tr("seed"),
                                     layout=W.Layout(width="180px")),
            "step": W.IntSlider(value=steps // 2 if step is None else step, min=0, max=steps - 1,
                                description=tr("step"), continuous_update=True),
            "layer": W.Dropdown(options=choices([(tr(AVERAGE), AVERAGE), *((n, n) for n in self.layer_names)]),
                                value=AVERAGE, description=tr("layer"), layout=W.Layout(width="420px")),
            "picture": W.ToggleButtons(options=labelled(PICTURES), value=PICTURES[0], description=tr("show")),
            "scale": W.ToggleButtons(options=labelled(SCALES), value=SCALES[0], description=tr("colours")),
        }
        self.picture = W.Image(format="png", layout=W.Layout(width=f"{TILE}px", height=f"{TILE}px"))
        self.picture_title = W.HTML()
        self.heatmaps: list[W.Image] = []
        self.captions: list[W.HTML] = []
        self.heatmap_box = W.HBox([], layout=W.Layout(flex_flow="row wrap"))
        self.summary = W.HTML()
        self.reading = W.HTML()  # how a Spanish prompt was read: the English caption the model saw
        self.widget = W.VBox([
            W.HBox([self.controls["prompt"], self.controls["seed"]]), self.reading,
            W.HBox([self.controls["step"], self.controls["layer"]]),
            self.controls["picture"], self.controls["scale"],
            W.HBox([W.VBox([self.picture_title, self.picture], layout=W.Layout(margin="0 16px 0 0")),
                    self.heatmap_box]),
            self.summary, self.status,
        ])
        self.observe_all()

    # --- the sampling run, once per (prompt, seed) -----------------------------------------------

    def run(self) -> dict:
        """The record of the current (prompt, seed) and its decoded pictures; sampled on first use."""
        prompt, seed = self.controls["prompt"].value, int(self.controls["seed"].value)
        ids = tuple(self.model.tokenizer(prompt)[0].tolist())  # "A red circle." and "a red circle" share a run

        def record() -> dict:
            run = {"record": record_cross_attention(self.model, self.vae, prompt, seed=seed, steps=self.steps,
                                                    cfg=self.cfg, sampler=self.sampler), "pictures": {}}
            self.sampling_runs += 1
            return run

        return self._runs.get((ids, seed), record)

    @torch.no_grad()
    def _picture(self, run: dict, step: int | None) -> np.ndarray:
        """The decoded x̂0 of `step` (None: the final latent) as (S, S, 3) uint8; decoded once."""
        if step not in run["pictures"]:
            record = run["record"]
            latent = record.sample if step is None else record.pred_x0[step]  # (1, c, h, w)
            device = next(self.vae.parameters()).device
            run["pictures"][step] = to_uint8(pipeline.decode(self.vae, latent.to(device)).cpu())[0]
        return run["pictures"][step]

    # --- the update: re-read the record ---------------------------------------------------------

    def _tiles(self, count: int) -> None:
        """Exactly `count` heatmap tiles (image + caption) on screen; rebuilt only when the count changes."""
        if len(self.heatmaps) == count and len(self.heatmap_box.children) == count:
            return
        while len(self.heatmaps) < count:
            self.heatmaps.append(W.Image(format="png", layout=W.Layout(width=f"{TILE}px", height=f"{TILE}px")))
            self.captions.append(W.HTML())
        del self.heatmaps[count:], self.captions[count:]
        self.heatmap_box.children = [W.VBox([caption, image], layout=W.Layout(margin="0 6px 6px 0"))
                                     for caption, image in zip(self.captions, self.heatmaps)]

    def render(self) -> dict:
        """Sample if (prompt, seed) is new, then draw the picture and the heatmaps of `step`, `layer`.

        Returns the numbers shown: {"prompt", "seed", "tokens", "step", "steps", "t", "layer", "grid"
        ([H, W] of the layer, None for the average), "attention_mass" (one share per token, in order),
        "padding_mass" (the share that went to padding positions), "picture", "sampling_runs",
        "model_calls" (of the run shown)}."""
        run = self.run()
        record: AttentionRecord = run["record"]
        step, layer = int(self.controls["step"].value), self.controls["layer"].value
        final = self.controls["picture"].value == PICTURES[1]
        picture = self._picture(run, None if final else step)  # (S, S, 3)
        S = picture.shape[0]
        self.picture.value = png(picture)
        t = record.timesteps[step]
        self.picture_title.value = (f"<b>{tr(PICTURES[1])}</b>" if final else
                                    tr("<b>x̂0 at step {step}/{steps}</b> (t = {t:.0f})").format(
                                        step=step + 1, steps=len(record.timesteps), t=t))
        self.reading.value = self._reading(record.prompt)

        n = len(record.tokens)
        mass = record.mass(step, layer)  # (L,)
        maps = F.interpolate(record.maps(step, layer)[None, :n], size=picture.shape[:2], mode="bilinear",
                             align_corners=False)[0].numpy()  # (n, S, S): the prompt's tokens only
        shared = self.controls["scale"].value == SCALES[1]
        self._tiles(n)
        for m in range(n):
            low, high = (float(maps.min()), float(maps.max())) if shared else (float(maps[m].min()), float(maps[m].max()))
            self.heatmaps[m].value = png(overlay(picture, maps[m], low, high))
            self.captions[m].value = (f"<b>{html.escape(record.tokens[m])}</b> "
                                      f"<small>{100 * float(mass[m]):.1f} %</small>")

        grid = None if layer == AVERAGE else list(record.grids[layer])
        where = (tr("the average of {n} layers").format(n=len(record.attention)) if grid is None else
                 tr("layer <code>{layer}</code>: a {H}×{W} grid").format(layer=html.escape(layer), H=grid[0],
                                                                          W=grid[1]))
        padding = float(mass[n:].sum())
        self.summary.value = tr(
            "{where}, {heads} heads averaged; step {step} of {steps} (t = {t:.0f}). The % under each word is its "
            "share of the attention; {padding:.1f} % went to the {positions} padding positions. Picture {S}×{S} px "
            "from a {h}×{w} latent; {calls} model calls for this prompt and seed (cached).").format(
            where=where, heads=self.heads, step=step + 1, steps=len(record.timesteps), t=t, padding=100 * padding,
            positions=len(mass) - n, S=S, h=record.latent_size[0], w=record.latent_size[1], calls=record.model_calls)
        return {"prompt": record.prompt, "seed": record.seed, "tokens": list(record.tokens), "step": step,
                "steps": len(record.timesteps), "t": t, "layer": layer, "grid": grid,
                "attention_mass": [float(x) for x in mass[:n]], "padding_mass": padding,
                "picture": "final" if final else "pred_x0", "sampling_runs": self.sampling_runs,
                "model_calls": record.model_calls}

    def _reading(self, prompt: str) -> str:
        """A line saying which English caption a Spanish prompt was read as ("" for an English prompt)."""
        to_english = getattr(text_module, "to_english", None)
        if to_english is None:
            return ""
        try:
            english = to_english(prompt)
        except ValueError:  # a prompt the course's caption grammar does not read: nothing to say
            return ""
        if english.split() == self.model.tokenizer.words(prompt):  # read as written: an English prompt
            return ""
        return tr("<small>Your prompt was read as the English caption <i>{caption}</i>: the model knows English "
                  "words only, so the words under the maps are the English ones it read.</small>").format(
            caption=html.escape(english))

    @classmethod
    def for_bench(cls, size: int) -> CrossAttentionApp:
        """The shipped models (or untrained twins, same cost), one run recorded; the pictures are the
        model's size (`size` does not apply)."""
        app = cls(*course_models())
        app.render()
        return app

    def bench_step(self, i: int) -> None:
        """A student scrubbing the step slider (the run is cached: only re-reading and drawing)."""
        slider = self.controls["step"]
        new = (7 * i + 3) % self.steps
        slider.value = new if new != slider.value else (new + 1) % self.steps



__all__ = ["AVERAGE", "AttentionRecord", "CrossAttentionApp", "overlay", "record_cross_attention"]
