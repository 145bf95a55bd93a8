"""Compression explorer (lesson 01): is a latent "a ZIP file of the image"? Measured.

A photo (bundled or uploaded) goes through a VAE; the app shows the original, the reconstruction
and an error map, and a table that puts the latent next to what file formats do with the same
pixels: raw, PNG and zlib (lossless), JPEG in the same bytes as the fp16 latent, and a bicubic
downsampled picture holding the same number of values (see `latentlab.metrics`).

    app = CompressionApp()                                   # the shipped VAEs
    app = CompressionApp(extra_vaes={"SD (yours)": sd_vae})   # plus a real SD VAE you loaded
    app.controls["vae"].value = "vae-f4c3"; app.render()["psnr"]

What is computed when (each in a bounded cache, so flipping back to a setting is free):
  per photo and size      its pixels, its PNG on screen, its lossless sizes (raw, PNG, zlib)
  per latent size         JPEG at the latent's bytes, bicubic at its values (they depend on the
                          number of values, not on the VAE's weights)
  per photo, VAE, size    encode, decode, PSNR/SSIM, the reconstruction and error-map PNGs
Uploads are cropped and downscaled to the largest offered size on arrival and only the newest
UPLOADS_KEPT are kept: a 12 MP photo is never held.
"""

from __future__ import annotations

import html
import math

import ipywidgets as W
import numpy as np
import torch

from .. import metrics
from ..i18n import tr
from ..images import BUNDLED_PHOTOS, bundled_photo, to_uint8
from ..vae import AutoencoderKL
from .kit import (
    App,
    LRUCache,
    course_vae,
    guarded,
    heatmap_png,
    photo_choices,
    png,
    read_upload,
    resolve_model,
    square_photo,
)

SIZES = (128, 256, 512)
# Error maps share one scale so two VAEs' maps compare by eye: an error of 64/255 or more is
# the brightest colour (most reconstruction errors of a decent VAE sit well below it).
ERROR_MAP_MAX = 64.0
UPLOADS_KEPT = 4     # uploaded photos kept (at the largest offered size); older ones leave the list
PHOTOS_KEPT = 12     # (photo, size) pixels and PNGs: every bundled photo at one size
RESULTS_KEPT = 16    # (photo, VAE, size) updates: a student flipping between a few is served at once
LOSSLESS = ("raw", "png", "zlib")
LOSSY = ("jpeg_equal_bytes", "bicubic_equal_values")


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
      objects, a list or a {label: vae} dict; None means every shipped VAE.
    extra_vaes: {label: vae} added to the choice, e.g. {"SD (yours)": load_diffusers_vae(path)}.
    Shipped models are loaded when first chosen, so building the app is fast.
    """

    def __init__(self, vaes=None, extra_vaes: dict | None = None, photo: str = "astronaut", size: int = 256,
                 sizes: tuple[int, ...] = SIZES):
        super().__init__()
        self._vaes: dict[str, object] = self._vae_choices(vaes)
        self._vaes.update(extra_vaes or {})
        if not self._vaes:
            raise ValueError(tr("no VAE to show: no shipped models are installed yet; pass one, e.g. {example}").format(
                example="CompressionApp(extra_vaes={'mine': AutoencoderKL(VAEConfig.f8c4())})"))
        if photo not in BUNDLED_PHOTOS:
            raise ValueError(tr("unknown photo {photo!r}; bundled photos: {photos}").format(
                photo=photo, photos=", ".join(BUNDLED_PHOTOS)))
        if size not in sizes:
            raise ValueError(tr("size must be one of {sizes}, got {size}").format(sizes=sizes, size=size))
        self.upload_size = max(sizes)
        self._loaded: dict[str, AutoencoderKL] = {}
        self._uploads = LRUCache(UPLOADS_KEPT)    # label → (upload_size, upload_size, 3) uint8
        self._photos = LRUCache(PHOTOS_KEPT)      # (photo, size) → ((S, S, 3) uint8, its PNG)
        self._lossless = LRUCache(PHOTOS_KEPT)    # (photo, S) → {raw, png, zlib}: CodecResult
        self._lossy = LRUCache(RESULTS_KEPT)      # (photo, S, latent values) → {jpeg…, bicubic…}
        self._results = LRUCache(RESULTS_KEPT)    # (photo, VAE, size) → numbers, PNGs and table

        default_vae = "vae-f8c4" if "vae-f8c4" in self._vaes else next(iter(self._vaes))
        self.controls = {
            "photo": W.Dropdown(options=photo_choices(BUNDLED_PHOTOS), value=photo, description=tr("photo")),
            "vae": W.Dropdown(options=list(self._vaes), value=default_vae, description=tr("VAE")),
            "size": W.Dropdown(options=list(sizes), value=size, description=tr("size (px)")),
        }
        # Not in `controls`: an upload does not re-render by itself, it adds a photo and selects it.
        self.upload = W.FileUpload(accept="image/*", multiple=False, description=tr("upload a photo"))
        self.upload.observe(self._on_upload, names="value")

        layout = W.Layout(width="256px", height="256px", object_fit="contain")
        self.original, self.reconstruction, self.error_map = (W.Image(format="png", layout=layout) for _ in range(3))
        self.table = W.HTML()
        titled = [W.VBox([W.HTML(f"<b>{html.escape(t)}</b>"), im]) for t, im in
                  ((tr("original"), self.original), (tr("reconstruction"), self.reconstruction),
                   (tr("|error| (brightest ≥ {max:.0f}/255)").format(max=ERROR_MAP_MAX), self.error_map))]
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

    @classmethod
    def for_bench(cls, size: int) -> CompressionApp:
        """The shipped f8c4 VAE (or an untrained twin of the same cost) at `size` px."""
        return cls(vaes=[course_vae()], size=size, sizes=(size,))

    # --- inputs ----------------------------------------------------------------------------------

    def vae(self, label: str | None = None) -> AutoencoderKL:
        """The chosen VAE, loaded on first use."""
        label = label or self.controls["vae"].value
        if label not in self._loaded:
            self._loaded[label] = resolve_model(self._vaes[label], "vae")[1]
        return self._loaded[label]

    def photo(self) -> tuple[np.ndarray, bytes]:
        """(size, size, 3) uint8 of the chosen photo, and its PNG for display."""
        name, size = self.controls["photo"].value, self.controls["size"].value

        def load() -> tuple[np.ndarray, bytes]:
            source = self._uploads[name] if name in self._uploads else bundled_photo(name)
            array = square_photo(source, size)
            return array, png(array)

        return self._photos.get((name, size), load)

    def cache_bytes(self) -> int:
        """Bytes of pictures, latents and PNGs the app holds in its caches (the models not counted)."""
        return sum(cache.nbytes() for cache in (self._uploads, self._photos, self._lossless, self._lossy,
                                                self._results))

    @guarded
    def _on_upload(self, change) -> None:
        upload = read_upload(change, self.upload_size)
        if upload is None:
            return
        label, picture = upload
        dropped = self._uploads.put(label, picture)
        for old in [label, *dropped]:  # a new file under an old name replaces it everywhere
            self._forget(old)
        self.show_upload(label, self._uploads.keys())

    def _forget(self, label: str) -> None:
        """Drop every cached result of one photo."""
        for cache in (self._photos, self._lossless, self._lossy, self._results):
            cache.drop(lambda key: key[0] == label)

    # --- the update ----------------------------------------------------------------------------

    def render(self) -> dict:
        """Encode + decode the photo, measure it and the codecs (or take them from the cache).

        Returns {"photo", "vae", "size", "latent_shape", "values", "bytes" (fp16 latent), "ratio" (raw
        bytes / latent bytes), "bpp", "psnr", "ssim", "mean_abs_error", "figures":
        metrics.CompressionFigures as a dict, "baselines": {"raw", "png", "zlib", "jpeg_equal_bytes",
        "bicubic_equal_values"} → dicts}"""
        key = (self.controls["photo"].value, self.controls["vae"].value, self.controls["size"].value)
        shown = self._results.get(key, self._measure)
        self.original.value = self.photo()[1]
        self.reconstruction.value = shown["reconstruction_png"]
        self.error_map.value = shown["error_png"]
        self.table.value = shown["table"]
        return dict(shown["numbers"])

    @torch.no_grad()
    def _measure(self) -> dict:
        """One (photo, VAE, size): the encode and decode, the metrics, the PNGs and the table."""
        image, _ = self.photo()
        vae = self.vae()
        f = vae.downsample_factor
        S = image.shape[0] - image.shape[0] % f  # sizes offered are multiples of 16; an extra VAE may need more
        if S < f:
            raise ValueError(tr("the image ({px} px) is smaller than this VAE's factor f={f}").format(
                px=image.shape[0], f=f))
        image = image[:S, :S]
        device = next(vae.parameters()).device
        x = torch.from_numpy(image).to(device).permute(2, 0, 1)[None].float() / 127.5 - 1.0  # (1, 3, S, S)
        latent = vae.encode(x).mode()  # (1, c, S/f, S/f): the deterministic latent
        reconstruction = to_uint8(vae.decode(latent))[0]  # (S, S, 3)

        figures = metrics.compression_figures((S, S), tuple(latent.shape))
        baselines = {**self._lossless_baselines(image), **self._lossy_baselines(image, figures)}
        psnr, ssim = metrics.psnr(image, reconstruction), metrics.ssim(image, reconstruction)
        error = np.abs(image.astype(np.int16) - reconstruction.astype(np.int16)).mean(axis=2)  # (S, S)
        numbers = {
            "photo": self.controls["photo"].value, "vae": self.controls["vae"].value, "size": S,
            "latent_shape": list(figures.latent_shape), "values": figures.latent_values,
            "bytes": figures.latent_bytes["fp16"], "ratio": figures.ratio["fp16"], "bpp": figures.latent_bpp["fp16"],
            "psnr": psnr, "ssim": ssim, "mean_abs_error": float(error.mean()),
            "figures": figures.as_dict(), "baselines": {k: v.as_dict() for k, v in baselines.items()},
        }
        return {"numbers": numbers, "reconstruction_png": png(reconstruction),
                "error_png": heatmap_png(error, 0.0, ERROR_MAP_MAX),
                "table": self._table(figures, psnr, ssim, baselines)}

    def _lossless_baselines(self, image: np.ndarray) -> dict[str, metrics.CodecResult]:
        """raw, PNG and zlib sizes of the photo: the same for every VAE."""
        key = (self.controls["photo"].value, image.shape[0])
        return self._lossless.get(key, lambda: {"raw": metrics.raw_baseline(image), "png": metrics.png_baseline(image),
                                                "zlib": metrics.zlib_baseline(image)})

    def _lossy_baselines(self, image: np.ndarray, figures: metrics.CompressionFigures) -> dict:
        """JPEG in the latent's bytes and bicubic in its values: the same for every VAE of that latent size."""
        key = (self.controls["photo"].value, image.shape[0], figures.latent_values)
        return self._lossy.get(key, lambda: {
            "jpeg_equal_bytes": metrics.jpeg_at_bytes(image, figures.latent_bytes["fp16"]),
            "bicubic_equal_values": metrics.bicubic_equal_values(image, figures.latent_values)})

    def _table(self, figures: metrics.CompressionFigures, psnr: float, ssim: float,
               baselines: dict[str, metrics.CodecResult]) -> str:
        c, h, w = figures.latent_shape
        S = figures.image_size[0]
        jpeg, bicubic = baselines["jpeg_equal_bytes"], baselines["bicubic_equal_values"]
        jpeg_note = jpeg.note
        if jpeg_note and jpeg.within_budget is False:  # metrics' note, said in the learner's language
            jpeg_note = tr("even JPEG quality 1 takes {taken} bytes, more than the budget of {budget}").format(
                taken=jpeg.bytes, budget=figures.latent_bytes["fp16"])
        rows = [
            # (what, values, bytes, PSNR, SSIM, note)
            (tr("raw pixels {S}×{S}×3").format(S=S), figures.pixel_values, baselines["raw"].bytes, math.inf, 1.0,
             "uint8"),
            ("PNG", None, baselines["png"].bytes, math.inf, 1.0, tr("lossless")),
            (tr("zlib level 9 (“ZIP”)"), None, baselines["zlib"].bytes, math.inf, 1.0, tr("lossless")),
            ("<b>{}</b>".format(tr("VAE latent {c}×{h}×{w}, fp16").format(c=c, h=h, w=w)), figures.latent_values,
             figures.latent_bytes["fp16"], psnr, ssim,
             tr("{ratio:.0f}× fewer values").format(ratio=figures.value_ratio)),
            (tr("JPEG, equal bytes (quality {quality})").format(quality=jpeg.quality), None, jpeg.bytes, jpeg.psnr,
             jpeg.ssim, html.escape(jpeg_note) or tr("≤ the latent's bytes")),
            (tr("bicubic {w}×{h}×3, equal values").format(w=bicubic.size[0], h=bicubic.size[1]), bicubic.values,
             bicubic.bytes, bicubic.psnr, bicubic.ssim, tr("down, then up again")),
        ]
        raw = figures.raw_bytes
        cells = "".join(
            f"<tr><td style='text-align:left'>{what}</td><td>{'' if values is None else f'{values:,}'}</td>"
            f"<td>{nbytes:,}</td><td>{raw / nbytes:.1f}×</td><td>{8 * nbytes / S**2:.2f}</td>"
            f"<td>{_number(p)}</td><td>{_number(s, 3)}</td><td style='text-align:left'>{note}</td></tr>"
            for what, values, nbytes, p, s, note in rows
        )
        head = "".join(f"<th>{t}</th>" for t in ("", tr("values"), tr("bytes"), tr("ratio"), tr("bits/pixel"),
                                                 "PSNR dB", "SSIM", ""))
        return (f"<table style='text-align:right; border-spacing:10px 2px'><tr>{head}</tr>{cells}</table>"
                "<small>{}</small>".format(
                    tr("ratio = raw bytes / bytes. PSNR and SSIM compare each decoded image with the original.")))

    def bench_step(self, i: int) -> None:
        """A student picks another photo, one this VAE has not shown yet: encode, decode, the lossy
        codecs at this latent size, SSIM and two PNGs are paid. What a photo costs once whatever the
        VAE (its pixels, its PNG on screen, its lossless sizes) stays cached, as in the lesson where
        students compare VAEs on a few photos."""
        self._results.clear()
        self._lossy.clear()
        photos = ["astronaut", "coffee", "chelsea"]
        choice = photos[i % len(photos)]
        if choice == self.controls["photo"].value:
            choice = photos[(i + 1) % len(photos)]
        self.controls["photo"].value = choice


__all__ = ["CompressionApp", "ERROR_MAP_MAX", "SIZES", "UPLOADS_KEPT"]
