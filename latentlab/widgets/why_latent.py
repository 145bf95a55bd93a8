"""Why latent? (lesson 07): what one UNet step costs on the pixels and on their latent, predicted, and
on a button measured.

Choose the picture side, the latent's factor f and channels c, which levels of the UNet attend, and
which pixel model to compare with; see the step's FLOPs and activation memory in both spaces, split
into the part that follows the positions (convolutions, linear layers, feature maps) and the part
that follows their square (self-attention). The default is the seed's own example: a 512×512 picture
against its 64×64 latent.

    app = WhyLatentApp()
    app.render()["flop_ratio"]                     # predicted: how many times fewer FLOPs in latent space
    app.controls["measure"].click()                # time both at a small size on this machine

FLOPs are counted by `why_latent.flop_counter` on the meta device (the shapes alone, nothing computed:
instant even for 1024 px pixel space); activation memory comes from `memory.predict_activation_bytes`
(fp32, one picture). The button runs the two UNets for real, each at the chosen size or, where a step
would exceed `measure_gflops` (pixel space at 512 px takes minutes on a CPU), at a smaller one whose
time it scales by the counted FLOPs: seconds, not minutes.
"""

from __future__ import annotations

import html
import math
from dataclasses import replace

import ipywidgets as W
import torch

from ..bench import interleaved_medians
from ..i18n import N_, tr
from ..memory import predict_activation_bytes
from ..unet import UNet, UNetConfig
from ..why_latent import fair_pixel_config, flop_counter
from .kit import App, LRUCache, guarded, labelled

# Keys are the option values (compared in code, English); labels and descriptions are shown translated.
PIXEL_MODELS = {N_("same recipe"): N_("the latent model's recipe run on pixels"),
                N_("fair"): N_("DDPM/ADM-style: attention only at ≤ 32×32")}
# Okabe & Ito's colour-blind-safe blue and vermillion; the keys name the parts in the returned numbers
COLOURS = {N_("follows h·w"): "#0072B2", N_("follows (h·w)²"): "#D55E00"}
SPACES = {"pixels": N_("pixels"), "latent": N_("latent")}  # the two spaces, as the text names them


def counted_gflops(config: UNetConfig, side: int) -> dict:
    """({"follows h·w": convolutions and linear layers, "follows (h·w)²": attention} in GFLOPs of one step
    on a (1, C_in, side, side) input, the weights in MiB (fp32)), counted on the meta device (no computation)."""
    with torch.device("meta"):
        model = UNet(config)
        x, context = torch.randn(1, config.in_channels, side, side), torch.randn(1, 8, config.context_dim)
    with torch.no_grad(), flop_counter() as counter:
        model(x, 500, context)
    split = {"follows h·w": 0.0, "follows (h·w)²": 0.0}
    weights_mb = sum(p.numel() for p in model.parameters()) * 4 / 2**20
    for op, flops in counter.get_flop_counts()["Global"].items():
        quadratic = "bmm" in str(op) or "scaled_dot_product" in str(op)  # QKᵀ and AV: only attention uses them
        split["follows (h·w)²" if quadratic else "follows h·w"] += flops / 1e9
    return split, weights_mb


class WhyLatentApp(App):
    """Predicted FLOPs and activation memory of one UNet step, pixels vs latent; measured on a button."""

    def __init__(self, size: int = 512, f: int = 8, c: int = 4, pixel_model: str = "same recipe",
                 measure_gflops: float = 20.0, repeats: int = 3):
        super().__init__()
        self.recipe = UNetConfig.shapes()
        self.measure_gflops, self.repeats = measure_gflops, repeats
        self.controls = {
            "size": W.Dropdown(options=[64, 128, 256, 512, 1024], value=size, description=tr("picture side")),
            "f": W.Dropdown(options=[2, 4, 8, 16], value=f, description="f"),
            "c": W.Dropdown(options=[3, 4, 8, 16], value=c, description="c"),
            "pixel_model": W.ToggleButtons(options=labelled(PIXEL_MODELS), value=pixel_model,
                                           description=tr("pixel model")),
            "materialised": W.Checkbox(value=True, description=tr("attention maps materialised (SD v1's code)")),
        }
        for level, attends in enumerate(self.recipe.attention_levels):
            self.controls[f"attention_{level}"] = W.Checkbox(
                value=attends, description=tr("attention at level {level}").format(level=level))
        self.measure = W.Button(description=tr("measure on this machine"), icon="stopwatch")
        self.measure.on_click(self._on_measure)
        self.controls["measure"] = self.measure
        self.figure = W.HTML()
        self.readout, self.measured = W.HTML(), W.HTML()
        levels = [self.controls[f"attention_{level}"] for level in range(len(self.recipe.attention_levels))]
        self.widget = W.VBox([W.HBox([self.controls["size"], self.controls["f"], self.controls["c"]]),
                              W.HBox(levels), W.HBox([self.controls["pixel_model"], self.controls["materialised"]]),
                              self.figure, self.readout, W.HBox([self.measure, self.measured]), self.status])
        self._counts = LRUCache(32)
        self.last_measurement: dict | None = None
        for name, control in self.controls.items():
            if name != "measure":
                control.observe(self._on_change, names="value")

    # -- the two models ----------------------------------------------------------------------------

    def configs(self, size: int) -> tuple[UNetConfig, UNetConfig]:
        """(pixel model, latent model) for `size` px pictures, from the controls."""
        f, c = int(self.controls["f"].value), int(self.controls["c"].value)
        attention = tuple(bool(self.controls[f"attention_{level}"].value)
                          for level in range(len(self.recipe.attention_levels)))
        latent = replace(self.recipe, in_channels=c, out_channels=c, attention_levels=attention,
                         sample_size=size // f)
        pixel = replace(latent, in_channels=3, out_channels=3, sample_size=size)
        if self.controls["pixel_model"].value == "fair":
            pixel = fair_pixel_config(pixel, size)
        return pixel, latent

    def _gflops(self, config: UNetConfig, side: int) -> dict:
        return self._counts.get((config.to_json(), side), lambda: counted_gflops(config, side))[0]

    def _weights_mb(self, config: UNetConfig, side: int) -> float:
        return self._counts.get((config.to_json(), side), lambda: counted_gflops(config, side))[1]

    # -- render ------------------------------------------------------------------------------------

    def render(self) -> dict:
        size, f = int(self.controls["size"].value), int(self.controls["f"].value)
        if size % (4 * f):
            raise ValueError(tr("a {size} px picture at f = {f} gives a {width}-wide latent, which the UNet's three "
                                "levels cannot halve twice; choose a larger picture or a smaller f").format(
                size=size, f=f, width=size // f))
        materialised = bool(self.controls["materialised"].value)
        sides = {"pixels": size, "latent": size // f}
        configs = dict(zip(sides, self.configs(size)))
        flops = {space: self._gflops(configs[space], side) for space, side in sides.items()}
        memory = {}
        for space, side in sides.items():
            parts = predict_activation_bytes(configs[space], side, materialised_attention=materialised)
            memory[space] = {"follows h·w": (parts["skips"] + parts["working"]) / 2**20,
                             "follows (h·w)²": parts["attention"] / 2**20}
        total = {space: sum(parts.values()) for space, parts in flops.items()}
        mb = {space: sum(parts.values()) for space, parts in memory.items()}
        shown = {"size": size, "f": f, "c": int(self.controls["c"].value),
                 "latent_shape": [configs["latent"].in_channels, size // f, size // f],
                 "pixel_model": self.controls["pixel_model"].value, "positions_ratio": f * f,
                 "gflops": flops, "memory_mb": memory, "flop_ratio": total["pixels"] / total["latent"],
                 "memory_ratio": mb["pixels"] / mb["latent"], "measured": self.last_measurement,
                 "weights_mb": {space: self._weights_mb(configs[space], side) for space, side in sides.items()}}
        self.figure.value = self._draw(flops, memory, shown)
        self.readout.value = self._describe(shown, total, mb)
        return shown

    def _draw(self, flops: dict, memory: dict, shown: dict) -> str:
        """Two panels of horizontal bars on a log scale, drawn in HTML (a matplotlib figure would cost
        a few hundred ms per update): per space one bar for the part that follows h·w, one for (h·w)²."""
        labels = {"pixels": tr("pixels 3×{size}²").format(size=shown["size"]),
                  "latent": tr("latent {c}×{side}²").format(c=shown["latent_shape"][0], side=shown["latent_shape"][1])}
        panels = []
        for values, title in ((flops, tr("GFLOPs per step")), (memory, tr("activation memory (MiB, fp32)"))):
            positive = [v for parts in values.values() for v in parts.values() if v > 0]
            low, high = math.log10(min(positive) / 4), math.log10(max(positive) * 2)
            rows = []
            for space, parts in values.items():
                none = tr("none")
                bars = "".join(
                    f"<div style='display:flex;align-items:center;height:14px'>"
                    f"<div title='{html.escape(tr(part))}' style='background:{COLOURS[part]};height:11px;"
                    f"width:{0 if value <= 0 else 100 * (math.log10(value) - low) / (high - low):.1f}%'></div>"
                    f"<span style='font-size:11px;margin-left:4px'>{f'{value:.3g}' if value > 0 else none}</span></div>"
                    for part, value in parts.items())
                rows.append(f"<tr><td style='font-size:12px;white-space:nowrap;padding-right:6px'>{labels[space]}</td>"
                            f"<td style='width:100%'>{bars}</td></tr>")
            log_scale = tr("(log scale)")
            panels.append(f"<div style='flex:1;min-width:320px'><b>{title}</b> <small>{log_scale}</small>"
                          f"<table style='width:100%'>{''.join(rows)}</table></div>")
        legend = " ".join(f"<span style='color:{colour}'>■</span> {html.escape(tr(part))}"
                          for part, colour in COLOURS.items())
        return f"<div style='display:flex;gap:24px;flex-wrap:wrap'>{''.join(panels)}</div><small>{legend}</small>"

    @staticmethod
    def _describe(shown: dict, total: dict, mb: dict) -> str:
        attention_share = shown["gflops"]["pixels"]["follows (h·w)²"] / total["pixels"]
        return tr("<b>{size}×{size} pixels vs a {shape} latent</b> ({model}): {positions}× fewer positions → "
                  "<b>{flop_ratio:,.0f}× fewer FLOPs</b> ({flops_pixels:,.3g} vs {flops_latent:,.3g} GFLOPs; "
                  "attention is {attention:.0%} of the pixel step) and <b>{memory_ratio:,.0f}× less activation "
                  "memory</b> ({mb_pixels:,.4g} vs {mb_latent:,.3g} MiB). Weights: {weights_pixels:,.1f} vs "
                  "{weights_latent:,.1f} MiB, whatever the picture's size.").format(
            size=shown["size"], shape="×".join(map(str, shown["latent_shape"])),
            model=html.escape(tr(PIXEL_MODELS[shown["pixel_model"]])), positions=shown["positions_ratio"],
            flop_ratio=shown["flop_ratio"], flops_pixels=total["pixels"], flops_latent=total["latent"],
            attention=attention_share, memory_ratio=shown["memory_ratio"], mb_pixels=mb["pixels"],
            mb_latent=mb["latent"], weights_pixels=shown["weights_mb"]["pixels"],
            weights_latent=shown["weights_mb"]["latent"])

    # -- the button ----------------------------------------------------------------------------------

    @guarded
    def _on_measure(self, button=None) -> dict:
        self.last_measurement = self.measure_now()
        self.safe_render()
        return self.last_measurement

    def _measurable(self, space: str, size: int) -> tuple[int, UNetConfig, int]:
        """(picture side, config, input side) of `space`: the chosen picture, halved until one step
        is at most `measure_gflops` (pixel space at 512 px would take minutes on a CPU)."""
        f, index = int(self.controls["f"].value), 0 if space == "pixels" else 1
        smallest = 32 if space == "pixels" else 4 * f
        while True:
            config = self.configs(size)[index]
            side = size if space == "pixels" else size // f
            if size // 2 < smallest or sum(self._gflops(config, side).values()) <= self.measure_gflops:
                return size, config, side
            size //= 2

    @torch.no_grad()
    def measure_now(self) -> dict:
        """Both UNets (random weights) timed side by side on this machine, each at the chosen picture
        side or, where one step would exceed `measure_gflops`, a smaller one; a smaller side's time is
        scaled to the chosen side by the counted FLOPs (the FLOPs per second it reached)."""
        size = int(self.controls["size"].value)
        plan = {space: self._measurable(space, size) for space in ("pixels", "latent")}
        models = {space: UNet(config).eval() for space, (_, config, _) in plan.items()}
        inputs = {space: torch.randn(1, config.in_channels, side, side) for space, (_, config, side) in plan.items()}
        context = torch.randn(1, 8, self.recipe.context_dim)
        ms = interleaved_medians({space: lambda s=space: models[s](inputs[s], 500, context) for space in models},
                                 repeats=self.repeats, warmup=1)
        chosen = dict(zip(("pixels", "latent"), self.configs(size)))
        chosen_sides = {"pixels": size, "latent": size // int(self.controls["f"].value)}
        scale = {space: sum(self._gflops(chosen[space], chosen_sides[space]).values())
                 / sum(self._gflops(config, side).values()) for space, (_, config, side) in plan.items()}
        at_size = {space: ms[space] * scale[space] for space in ms}
        result = {"measured_at_px": {space: plan[space][0] for space in plan}, "ms": ms, "ms_at_size": at_size,
                  "speedup": at_size["pixels"] / at_size["latent"]}
        parts = [tr("{space} at {px} px: {ms:,.1f} ms").format(space=tr(SPACES[space]), px=plan[space][0],
                                                                 ms=ms[space])
                 + (" " + tr("(× {scale:,.3g} FLOPs → ≈ {seconds:,.3g} s at {size} px)").format(
                     scale=scale[space], seconds=at_size[space] / 1000, size=size)
                    if plan[space][0] != size else "") for space in ms]
        self.measured.value = tr("measured here: {parts} → <b>≈ {speedup:,.0f}× faster</b> in latent space").format(
            parts="; ".join(parts), speedup=result["speedup"])
        return result

    @classmethod
    def for_bench(cls, size: int) -> WhyLatentApp:
        """The seed's example (512 px vs 64×64); `size` does not apply."""
        app = cls()
        app.render()
        return app

    def bench_step(self, i: int) -> None:
        """A student trying another factor f."""
        options = self.controls["f"].options
        self.controls["f"].value = options[(options.index(self.controls["f"].value) + 1 + i) % len(options)]


__all__ = ["WhyLatentApp", "counted_gflops"]
