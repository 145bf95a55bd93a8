"""Compression explorer (lesson 01): is a latent "a ZIP file of the image"? Measured.

A photo (bundled or uploaded) goes through a VAE; the app shows the original, the reconstruction
and an error map, and a table that puts the latent next to what file formats do with the same
pixels: raw, PNG and zlib (lossless), JPEG in the same bytes as the fp16 latent, and a bicubic
downsampled picture holding the same number of values (see `latentlab.metrics`).

    app = CompressionApp()                                   # the shipped VAEs
    app = CompressionApp(extra_vaes={"SD (yours)": sd_vae})   # plus a real SD VAE you loaded
    app.controls["vae"].value = "vae-f4c3"; app.render()["psnr"]

The helpers at the top (`square_photo`, `colormap`, `png`) are shared with the channel viewer.
"""

from __future__ import annotations

import functools
import html
import io
import math

import ipywidgets as W
import numpy as np
import torch
from PIL import Image

from .. import metrics
from ..images import BUNDLED_PHOTOS, bundled_photo, load_image, to_uint8
from ..vae import AutoencoderKL
from . import App, guarded, read_upload

SIZES = (128, 256, 512)
# Error maps share one scale so two VAEs' maps compare by eye: an error of 64/255 or more is
# the brightest colour (most reconstruction errors of a decent VAE sit well below it).
ERROR_MAP_MAX = 64.0


# --- helpers shared by the VAE apps ------------------------------------------------------------


def square_photo(picture, size: int) -> np.ndarray:
    """Centre-crop to a square, then resize to size×size (Lanczos) → (size, size, 3) uint8.

    Square crops keep the apps simple: every photo gives the same latent shape at one size."""
    im = load_image(picture)
    side = min(im.size)
    left, top = (im.width - side) // 2, (im.height - side) // 2
    im = im.crop((left, top, left + side, top + side))
    if side != size:
        im = im.resize((size, size), Image.Resampling.LANCZOS)
    return np.array(im)  # a writable copy: torch.from_numpy refuses read-only arrays


@functools.lru_cache(maxsize=8)
def _lut(name: str) -> np.ndarray:
    import matplotlib

    return (matplotlib.colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)  # (256, 3)


def colormap(values: np.ndarray, vmin: float, vmax: float, name: str = "magma") -> np.ndarray:
    """(H, W) floats → (H, W, 3) uint8 through a matplotlib colour map, applied with numpy (no figure)."""
    if vmax <= vmin:
        vmax = vmin + 1e-8
    index = np.clip((values - vmin) / (vmax - vmin) * 255.0, 0, 255).astype(np.uint8)
    return _lut(name)[index]


def png(array: np.ndarray) -> bytes:
    """(H, W, 3) or (H, W) uint8 → PNG bytes for an ipywidgets.Image.

    compress_level=1: for a live display the file size hardly matters and level 1 encodes
    several times faster than PIL's default 6."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _number(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    if math.isinf(value):
        return "∞"
    return f"{value:.{digits}f}"


# --- the app ---------------------------------------------------------------------------------


class CompressionApp(App):
    """Original, reconstruction, error map, and the latent's size and quality next to the codecs.

    vaes: the VAEs to choose from, as names of shipped models / checkpoint paths or AutoencoderKL
      objects, a list or a {label: vae} dict; None means every shipped model (`shipped_models()`).
    extra_vaes: {label: vae} added to the choice, e.g. {"SD (yours)": load_diffusers_vae(path)}.
    Shipped models are loaded when first chosen, so building the app is fast.
    """

    def __init__(self, vaes=None, extra_vaes: dict | None = None, photo: str = "astronaut", size: int = 256,
                 sizes: tuple[int, ...] = SIZES):
        super().__init__()
        self._vaes: dict[str, object] = self._vae_choices(vaes)
        self._vaes.update(extra_vaes or {})
        if not self._vaes:
            raise ValueError("no VAE to show: no shipped models are installed yet; pass one, e.g. "
                             "CompressionApp(extra_vaes={'mine': AutoencoderKL(VAEConfig.f8c4())})")
        if photo not in BUNDLED_PHOTOS:
            raise ValueError(f"unknown photo {photo!r}; bundled photos: {', '.join(BUNDLED_PHOTOS)}")
        if size not in sizes:
            raise ValueError(f"size must be one of {sizes}, got {size}")
        self._loaded: dict[str, AutoencoderKL] = {}
        self._uploads: dict[str, object] = {}  # label → PIL image
        self._photo_cache: dict[tuple[str, int], tuple[np.ndarray, bytes]] = {}
        # Codec results depend on the pixels and the latent's shape only, not on the VAE's weights.
        self._baseline_cache: dict[tuple, dict[str, metrics.CodecResult]] = {}

        default_vae = "vae-f8c4" if "vae-f8c4" in self._vaes else next(iter(self._vaes))
        self.controls = {
            "photo": W.Dropdown(options=list(BUNDLED_PHOTOS), value=photo, description="photo"),
            "vae": W.Dropdown(options=list(self._vaes), value=default_vae, description="VAE"),
            "size": W.Dropdown(options=list(sizes), value=size, description="size (px)"),
        }
        # Not in `controls`: an upload does not re-render by itself, it adds a photo and selects it.
        self.upload = W.FileUpload(accept="image/*", multiple=False, description="upload a photo")
        self.upload.observe(self._on_upload, names="value")

        layout = W.Layout(width="256px", height="256px", object_fit="contain")
        self.original, self.reconstruction, self.error_map = (W.Image(format="png", layout=layout) for _ in range(3))
        self.table = W.HTML()
        titled = [W.VBox([W.HTML(f"<b>{t}</b>"), im]) for t, im in
                  (("original", self.original), ("reconstruction", self.reconstruction),
                   (f"|error| (brightest ≥ {ERROR_MAP_MAX:.0f}/255)", self.error_map))]
        self.widget = W.VBox([
            W.HBox([self.controls["photo"], self.upload]),
            W.HBox([self.controls["vae"], self.controls["size"]]),
            W.HBox(titled), self.table, self.status,
        ])
        self.observe_all()

    @staticmethod
    def _vae_choices(vaes) -> dict[str, object]:
        if vaes is None:
            from ..checkpoints import shipped_models

            return {name: name for name in shipped_models() if name.startswith("vae-")}
        if isinstance(vaes, dict):
            return dict(vaes)
        choices = {}
        for vae in vaes:
            label = vae if isinstance(vae, str) else getattr(vae, "name", None) or vae.config.name
            choices[str(label)] = vae
        return choices

    # --- inputs, cached: a photo is decoded and resized once per (photo, size) -----------------

    def vae(self, label: str | None = None) -> AutoencoderKL:
        """The chosen VAE, loaded on first use."""
        from ..evaluate import resolve_vae

        label = label or self.controls["vae"].value
        if label not in self._loaded:
            self._loaded[label] = resolve_vae(self._vaes[label])[1].eval()
        return self._loaded[label]

    def photo(self) -> tuple[np.ndarray, bytes]:
        """(size, size, 3) uint8 of the chosen photo, and its PNG for display."""
        key = (self.controls["photo"].value, self.controls["size"].value)
        if key not in self._photo_cache:
            name, size = key
            source = self._uploads[name] if name in self._uploads else bundled_photo(name)
            array = square_photo(source, size)
            self._photo_cache[key] = (array, png(array))
        return self._photo_cache[key]

    @guarded
    def _on_upload(self, change) -> None:
        upload = read_upload(change)
        if upload is None:
            return
        label, picture = upload
        self._uploads[label] = picture
        self._photo_cache = {k: v for k, v in self._photo_cache.items() if k[0] != label}
        self._baseline_cache = {k: v for k, v in self._baseline_cache.items() if k[0] != label}
        if label not in self.controls["photo"].options:
            self.controls["photo"].options = [*self.controls["photo"].options, label]
        if self.controls["photo"].value == label:
            self.safe_render()
        else:
            self.controls["photo"].value = label  # re-renders through the observer

    # --- the update ----------------------------------------------------------------------------

    @torch.no_grad()
    def render(self) -> dict:
        """Encode + decode the photo, measure it and the codecs. Returns the numbers shown.

        {"photo", "vae", "size", "latent_shape", "values", "bytes" (fp16 latent), "ratio" (raw bytes /
         latent bytes), "bpp", "psnr", "ssim", "figures": metrics.CompressionFigures as a dict,
         "baselines": {"raw", "png", "zlib", "jpeg_equal_bytes", "bicubic_equal_values"} → dicts}"""
        image, image_png = self.photo()
        vae = self.vae()
        f = vae.downsample_factor
        S = image.shape[0] - image.shape[0] % f  # sizes offered are multiples of 16; an extra VAE may need more
        if S < f:
            raise ValueError(f"the image ({image.shape[0]} px) is smaller than this VAE's factor f={f}")
        image = image[:S, :S]
        device = next(vae.parameters()).device
        x = torch.from_numpy(image).to(device).permute(2, 0, 1)[None].float() / 127.5 - 1.0  # (1, 3, S, S)
        latent = vae.encode(x).mode()  # (1, c, S/f, S/f): the deterministic latent
        reconstruction = to_uint8(vae.decode(latent))[0]  # (S, S, 3)

        figures = metrics.compression_figures((S, S), tuple(latent.shape))
        key = (self.controls["photo"].value, S, tuple(latent.shape))
        if key not in self._baseline_cache:
            self._baseline_cache[key] = metrics.codec_baselines(image, tuple(latent.shape))
        baselines = self._baseline_cache[key]
        psnr, ssim = metrics.psnr(image, reconstruction), metrics.ssim(image, reconstruction)
        error = np.abs(image.astype(np.int16) - reconstruction.astype(np.int16)).mean(axis=2)  # (S, S)

        self.original.value = image_png
        self.reconstruction.value = png(reconstruction)
        self.error_map.value = png(colormap(error, 0.0, ERROR_MAP_MAX))
        self.table.value = self._table(figures, psnr, ssim, baselines)
        return {
            "photo": self.controls["photo"].value, "vae": self.controls["vae"].value, "size": S,
            "latent_shape": list(figures.latent_shape), "values": figures.latent_values,
            "bytes": figures.latent_bytes["fp16"], "ratio": figures.ratio["fp16"], "bpp": figures.latent_bpp["fp16"],
            "psnr": psnr, "ssim": ssim, "mean_abs_error": float(error.mean()),
            "figures": figures.as_dict(), "baselines": {k: v.as_dict() for k, v in baselines.items()},
        }

    def _table(self, figures: metrics.CompressionFigures, psnr: float, ssim: float,
               baselines: dict[str, metrics.CodecResult]) -> str:
        c, h, w = figures.latent_shape
        S = figures.image_size[0]
        jpeg, bicubic = baselines["jpeg_equal_bytes"], baselines["bicubic_equal_values"]
        rows = [
            # (what, values, bytes, PSNR, SSIM, note)
            (f"raw pixels {S}×{S}×3", figures.pixel_values, baselines["raw"].bytes, math.inf, 1.0, "uint8"),
            ("PNG", None, baselines["png"].bytes, math.inf, 1.0, "lossless"),
            ("zlib level 9 (“ZIP”)", None, baselines["zlib"].bytes, math.inf, 1.0, "lossless"),
            (f"<b>VAE latent {c}×{h}×{w}, fp16</b>", figures.latent_values, figures.latent_bytes["fp16"], psnr, ssim,
             f"{figures.value_ratio:.0f}× fewer values"),
            (f"JPEG, equal bytes (quality {jpeg.quality})", None, jpeg.bytes, jpeg.psnr, jpeg.ssim,
             html.escape(jpeg.note) or "≤ the latent's bytes"),
            (f"bicubic {bicubic.size[0]}×{bicubic.size[1]}×3, equal values", bicubic.values, bicubic.bytes,
             bicubic.psnr, bicubic.ssim, "down, then up again"),
        ]
        raw = figures.raw_bytes
        cells = "".join(
            f"<tr><td style='text-align:left'>{what}</td><td>{'' if values is None else f'{values:,}'}</td>"
            f"<td>{nbytes:,}</td><td>{raw / nbytes:.1f}×</td><td>{8 * nbytes / S**2:.2f}</td>"
            f"<td>{_number(p)}</td><td>{_number(s, 3)}</td><td style='text-align:left'>{note}</td></tr>"
            for what, values, nbytes, p, s, note in rows
        )
        head = "".join(f"<th>{t}</th>" for t in ("", "values", "bytes", "ratio", "bits/pixel", "PSNR dB", "SSIM", ""))
        return (f"<table style='text-align:right; border-spacing:10px 2px'><tr>{head}</tr>{cells}</table>"
                "<small>ratio = raw bytes / bytes. PSNR and SSIM compare each decoded image with the original.</small>")

    def bench_step(self, i: int) -> None:
        """A student picks another photo: one full update (encode, decode, every codec, every image).

        The codec cache is emptied so every step pays for the codecs, as a photo seen for the first
        time does; only the decoded photo stays cached."""
        self._baseline_cache.clear()
        photos = ["astronaut", "coffee", "chelsea"]
        choice = photos[i % len(photos)]
        if choice == self.controls["photo"].value:
            choice = photos[(i + 1) % len(photos)]
        self.controls["photo"].value = choice


def bench_app(size: int = 256) -> CompressionApp:
    """The app as `latentlab bench widgets` times it: the shipped f8c4 VAE, or an untrained one of the
    same architecture (same cost) while no weights are installed."""
    from ..checkpoints import shipped_models
    from ..vae import VAEConfig

    if "vae-f8c4" in shipped_models():
        return CompressionApp(vaes=["vae-f8c4"], size=size, sizes=(size,))
    return CompressionApp(vaes={"f8c4 (untrained)": AutoencoderKL(VAEConfig.f8c4()).eval()}, size=size, sizes=(size,))
