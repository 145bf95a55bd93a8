"""Latent channel viewer/editor (lesson 02): what does each of the c latent channels hold?

The photo is encoded once; the c channels of the latent are shown as heatmaps with histograms.
Scale a channel, zero it, or swap two, and the edited latent is decoded live next to the
unedited reconstruction. A fitted linear map latent → RGB (`metrics.fit_latent_to_rgb`) shows how
much of the latent is "just a small colour picture", as in SD's cheap latent previews.

    app = ChannelsApp("vae-f8c4")
    app.controls["zero_0"].value = True; app.render()["decode_change"]

Edits, in the order the decoder sees them: the channel order (swaps) first, then per-slot
scale, then zeroing: edited[k] = 0 if zero[k] else scale[k] · z[order[k]].
"""

from __future__ import annotations

import html

import ipywidgets as W
import numpy as np
import torch

from .. import metrics
from ..i18n import tr
from ..images import BUNDLED_PHOTOS, bundled_photo, to_uint8
from .compression import SIZES
from .kit import App, LRUCache, course_vae, guarded, heatmap_png, photo_choices, png, resolve_model, square_photo

HEATMAP_PX = 96  # side of each channel's heatmap on screen
HIST_BINS, HIST_HEIGHT = 48, 28  # histogram bars: 2 px each in a 96 px wide strip


def edit_latent(latent: torch.Tensor, order: list[int], scales: list[float], zeroed: list[bool]) -> torch.Tensor:
    """latent (1, c, h, w) → the edited latent (1, c, h, w): slot k holds scale[k]·latent[order[k]], or 0."""
    c = latent.shape[1]
    if sorted(order) != list(range(c)) or len(scales) != c or len(zeroed) != c:
        raise ValueError(tr("order must be a permutation of 0..{last} and scales/zeroed have {c} entries; "
                            "got order={order}, {scales} scales, {zeroed} zero flags").format(
            last=c - 1, c=c, order=order, scales=len(scales), zeroed=len(zeroed)))
    gains = torch.tensor([0.0 if z else float(s) for s, z in zip(scales, zeroed)], dtype=latent.dtype)
    return latent[:, order] * gains.to(latent.device)[None, :, None, None]


def histogram_strip(values: np.ndarray, limit: float, width: int = HEATMAP_PX) -> np.ndarray:
    """A bar chart of `values` over [-limit, limit] (values beyond fall in the edge bins), drawn with numpy.

    → (HIST_HEIGHT, width, 3) uint8: grey bars on white, a thin red line at 0."""
    counts, _ = np.histogram(np.clip(values, -limit, limit), bins=HIST_BINS, range=(-limit, limit))
    heights = np.round(counts / max(counts.max(), 1) * (HIST_HEIGHT - 1)).astype(int)  # (bins,)
    rows = np.arange(HIST_HEIGHT)[::-1, None]  # row 0 is the top of the image
    bars = rows < heights[None, :]  # (HIST_HEIGHT, bins): True where a bar covers the pixel
    strip = np.where(bars[:, :, None], np.uint8(90), np.uint8(255)).repeat(3, axis=2)
    strip = np.repeat(strip, max(1, width // HIST_BINS), axis=1)  # (HIST_HEIGHT, width, 3)
    strip[:, strip.shape[1] // 2] = (200, 40, 40)
    return strip


class ChannelsApp(App):
    """Heatmaps, histograms and edits of the latent channels of one VAE, with the decode live.

    vae: an AutoencoderKL, a shipped model's name or a checkpoint path. The encode happens once per
    (photo, size); moving a slider only decodes again.
    """

    def __init__(self, vae="vae-f8c4", photo: str = "astronaut", size: int = 256, sizes: tuple[int, ...] = SIZES):
        super().__init__()
        self.vae_name, self.vae = resolve_model(vae, "vae")
        if photo not in BUNDLED_PHOTOS:
            raise ValueError(tr("unknown photo {photo!r}; bundled photos: {photos}").format(
                photo=photo, photos=", ".join(BUNDLED_PHOTOS)))
        if size not in sizes:
            raise ValueError(tr("size must be one of {sizes}, got {size}").format(sizes=sizes, size=size))
        c = self.vae.config.latent_channels
        self.order = list(range(c))  # the decoder's slot k reads channel order[k]; swaps change it
        self._encoded = LRUCache(1)  # (photo, size) → the encode: only the current one, photos add up
        self._quiet = False

        self.controls = {
            "photo": W.Dropdown(options=photo_choices(BUNDLED_PHOTOS), value=photo, description=tr("photo")),
            "size": W.Dropdown(options=list(sizes), value=size, description=tr("size (px)")),
        }
        for k in range(c):
            self.controls[f"scale_{k}"] = W.FloatSlider(value=1.0, min=-2.0, max=3.0, step=0.05,
                                                       description=tr("scale"), continuous_update=False,
                                                       layout=W.Layout(width="180px"))
            self.controls[f"zero_{k}"] = W.Checkbox(value=False, description=tr("zero"), indent=False)
        self.controls["swap_a"] = W.Dropdown(options=list(range(c)), value=0, description=tr("swap"),
                                             layout=W.Layout(width="170px"),  # "intercambiar" fits too
                                             style={"description_width": "initial"})
        self.controls["swap_b"] = W.Dropdown(options=list(range(c)), value=min(1, c - 1), description=tr("with"),
                                             layout=W.Layout(width="130px"))
        # Buttons act once per click, so they are not value controls: `swap()` and `reset()` do their work.
        self.buttons = {"swap": W.Button(description=tr("swap")), "reset": W.Button(description=tr("reset edits"))}
        self.buttons["swap"].on_click(lambda _: self._clicked(self.swap))
        self.buttons["reset"].on_click(lambda _: self._clicked(self.reset))

        big = W.Layout(width="256px", height="256px", object_fit="contain")
        self.original, self.unedited, self.edited, self.preview = (W.Image(format="png", layout=big) for _ in range(4))
        self.heatmaps = [W.Image(format="png") for _ in range(c)]
        self.histograms = [W.Image(format="png") for _ in range(c)]
        self.channel_titles = [W.HTML() for _ in range(c)]
        cards = [W.VBox([self.channel_titles[k], self.heatmaps[k], self.histograms[k],
                         self.controls[f"scale_{k}"], self.controls[f"zero_{k}"]],
                        layout=W.Layout(margin="0 8px 8px 0"))
                 for k in range(c)]
        titled = [W.VBox([W.HTML(f"<b>{html.escape(t)}</b>"), im]) for t, im in
                  ((tr("original"), self.original), (tr("decode of the latent"), self.unedited),
                   (tr("decode of the edited latent"), self.edited), (tr("linear latent→RGB preview"), self.preview))]
        self.summary = W.HTML()
        self.widget = W.VBox([
            W.HBox([self.controls["photo"], self.controls["size"]]),
            W.HBox(titled, layout=W.Layout(flex_flow="row wrap")),
            W.HBox([self.controls["swap_a"], self.controls["swap_b"], self.buttons["swap"], self.buttons["reset"]]),
            W.HBox(cards, layout=W.Layout(flex_flow="row wrap")),
            self.summary, self.status,
        ])
        self.observe_all()

    # --- edits that are actions, not values ------------------------------------------------------

    def swap(self) -> None:
        """Swap the channels in the slots chosen by swap_a and swap_b (clicking twice undoes it)."""
        a, b = self.controls["swap_a"].value, self.controls["swap_b"].value
        self.order[a], self.order[b] = self.order[b], self.order[a]

    def reset(self) -> None:
        """Channel order back to 0..c-1, every scale 1, nothing zeroed."""
        self.order = list(range(len(self.order)))
        self._quiet = True  # 2c controls change: render once afterwards, not 2c times
        try:
            for k in range(len(self.order)):
                self.controls[f"scale_{k}"].value, self.controls[f"zero_{k}"].value = 1.0, False
        finally:
            self._quiet = False

    def _on_change(self, change=None) -> None:
        if not self._quiet:
            self.safe_render()

    @guarded
    def _clicked(self, action) -> None:
        action()
        self.safe_render()

    # --- the encode, once per (photo, size) ----------------------------------------------------

    def encoded(self) -> dict:
        """image (S, S, 3) uint8, latent (1, c, h, w), the unedited decode, the linear fit; cached."""
        return self._encoded.get((self.controls["photo"].value, self.controls["size"].value), self._encode)

    @torch.no_grad()
    def _encode(self) -> dict:
        name, size = self.controls["photo"].value, self.controls["size"].value
        f = self.vae.downsample_factor
        image = square_photo(bundled_photo(name), size)
        S = image.shape[0] - image.shape[0] % f
        image = image[:S, :S]
        device = next(self.vae.parameters()).device
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float().to(device) / 127.5 - 1.0  # (1, 3, S, S)
        latent = self.vae.encode(x).mode()  # (1, c, S/f, S/f)
        decoded = self.vae.decode(latent).cpu()  # (1, 3, S, S)
        matrix, bias = metrics.fit_latent_to_rgb(latent.cpu(), x.cpu())
        # One colour range for every heatmap and histogram: channels compare by eye, and a
        # scale of 2 visibly saturates.
        limit = float(latent.abs().max().clamp_min(1e-6))
        return {"image": image, "image_png": png(image), "x": x, "latent": latent, "decoded": decoded,
                "decoded_png": png(to_uint8(decoded)[0]), "matrix": matrix, "bias": bias, "limit": limit}

    # --- the update: decode the edited latent ----------------------------------------------------

    @torch.no_grad()
    def render(self) -> dict:
        """Apply the edits, decode, redraw. Returns the numbers shown:

        {"latent_shape", "order", "scales", "zeroed", "channel_mean", "channel_std" (edited latent),
         "psnr" (edited decode vs photo), "psnr_unedited" (unedited decode vs photo),
         "decode_change" (mean |edited − unedited decode| in [-1, 1] units, 0 when nothing is edited),
         "preview_psnr" (linear preview vs the photo pooled f×f)}"""
        state = self.encoded()
        c = len(self.order)
        scales = [self.controls[f"scale_{k}"].value for k in range(c)]
        zeroed = [self.controls[f"zero_{k}"].value for k in range(c)]
        latent = edit_latent(state["latent"], self.order, scales, zeroed)  # (1, c, h, w)
        decoded = self.vae.decode(latent).cpu()  # (1, 3, S, S)
        decoded_u8 = to_uint8(decoded)[0]

        f = self.vae.downsample_factor
        preview = metrics.latent_to_rgb(latent.cpu(), state["matrix"], state["bias"])  # (1, 3, h, w)
        pooled = torch.nn.functional.avg_pool2d(state["x"].cpu(), f)  # (1, 3, h, w): what the fit aimed at
        preview_u8 = to_uint8(preview)[0]
        self.original.value = state["image_png"]
        self.unedited.value = state["decoded_png"]
        self.edited.value = png(decoded_u8)
        self.preview.value = png(preview_u8.repeat(f, axis=0).repeat(f, axis=1))  # nearest-neighbour: show the grid

        values = latent[0].cpu().numpy()  # (c, h, w)
        limit = state["limit"]
        zoom = max(1, HEATMAP_PX // values.shape[1])
        for k in range(c):
            heat = values[k].repeat(zoom, axis=0).repeat(zoom, axis=1)  # (h·zoom, w·zoom)
            self.heatmaps[k].value = heatmap_png(heat, -limit, limit, "RdBu_r")
            self.histograms[k].value = png(histogram_strip(values[k].ravel(), limit, heat.shape[1]))
            source = tr("channel {k}").format(k=self.order[k])
            self.channel_titles[k].value = tr("<b>slot {k}</b>: {source}<br><small>mean {mean:+.2f}, "
                                              "std {std:.2f}</small>").format(k=k, source=source,
                                                                              mean=values[k].mean(),
                                                                              std=values[k].std())

        result = {
            "latent_shape": list(latent.shape[1:]), "order": list(self.order), "scales": scales, "zeroed": zeroed,
            "channel_mean": values.reshape(c, -1).mean(axis=1).tolist(),
            "channel_std": values.reshape(c, -1).std(axis=1).tolist(),
            "psnr": metrics.psnr(state["image"], decoded_u8),
            "psnr_unedited": metrics.psnr(state["image"], to_uint8(state["decoded"])[0]),
            "decode_change": float((decoded - state["decoded"]).abs().mean()),
            "preview_psnr": metrics.psnr(to_uint8(pooled)[0], preview_u8),
        }
        self.summary.value = tr("{vae}: latent {shape}. PSNR of the edited decode {psnr:.2f} dB (unedited "
                                "{psnr_unedited:.2f} dB); linear preview {preview_psnr:.2f} dB against the photo "
                                "averaged over {f}×{f} patches.").format(
            vae=html.escape(self.vae_name), shape="×".join(map(str, result["latent_shape"])), psnr=result["psnr"],
            psnr_unedited=result["psnr_unedited"], preview_psnr=result["preview_psnr"], f=f)
        return result

    @classmethod
    def for_bench(cls, size: int) -> ChannelsApp:
        """The shipped f8c4 VAE (or an untrained twin of the same cost) at `size` px."""
        return cls(course_vae(), size=size, sizes=(size,))

    def bench_step(self, i: int) -> None:
        """A student moves one scale slider (decode only: the encode is cached)."""
        c = len(self.order)
        k = i % c
        self.controls[f"scale_{k}"].value = 0.5 if (i // c) % 2 == 0 else 1.5  # differs from its last value

