"""Schedule explorer (lesson 03): how much signal is left at step t, for three schedules, and what
that looks like for a photo — noised in pixel space, and noised as a *latent* then decoded.

Left: ᾱ_t and SNR (dB) for linear / scaled_linear / cosine, with a marker at t. Right: the photo
noised to t with the chosen schedule, next to its latent noised to the same t and decoded by the
shipped VAE. The same ᾱ destroys a 4×16×16 latent much sooner than a 3×128×128 image (each latent
value summarises a whole 8×8 patch) — why Stable Diffusion's schedule keeps more signal at late t.

    app = ScheduleApp()
    app.controls["t"].value = 500; app.render()["alpha_bar"]["scaled_linear"]

Without the VAE (a name that `kit.resolve_model` cannot load, or vae=None) the app shows pixel
space alone, with a note.
"""

from __future__ import annotations

import html
import io

import ipywidgets as W
import numpy as np
import torch

from ..i18n import N_, tr
from ..images import BUNDLED_PHOTOS, bundled_photo, to_uint8
from ..schedules import BETA_SCHEDULES, NoiseSchedule
from .kit import PHOTO_LABELS, App, photo_choices, png, resolve_model, square_photo

SIZE = 128  # the photo's side in pixels: a 4×16×16 latent at f = 8, decoded in a blink on a CPU
# The panel titles `viz.schedule_curves` draws, shown in the learner's language (a title that is not
# one of these is shown as it is).
CURVE_TITLES = (N_("ᾱ_t: signal variance left"), N_("SNR_t = ᾱ/(1−ᾱ) in dB"))


def _load_vae(vae):
    """(the VAE, None) or (None, why not): a missing VAE leaves the app in pixel space, not broken."""
    from ..checkpoints import CheckpointError

    if vae is None:
        return None, tr("no VAE given")
    try:
        return resolve_model(vae, "vae")[1], None
    except CheckpointError as err:
        return None, str(err)


class ScheduleApp(App):
    """ᾱ and SNR curves of the three schedules; a photo and its latent noised to a chosen t."""

    def __init__(self, photo: str = "astronaut", t: int = 300, schedule: str = "scaled_linear", seed: int = 0,
                 vae="vae-f8c4"):
        super().__init__()
        self.schedules = {name: NoiseSchedule.from_name(name) for name in BETA_SCHEDULES}
        # the VAE: a shipped name or path, a loaded AutoencoderKL, or None for pixel space only
        self.vae, self.vae_note = _load_vae(vae)
        self.controls = {
            "t": W.IntSlider(value=t, min=0, max=999, description="t", continuous_update=False),
            "schedule": W.Dropdown(options=list(self.schedules), value=schedule, description=tr("schedule")),
            "photo": W.Dropdown(options=photo_choices(self._photos_by_label()), value=photo, description=tr("photo")),
            "seed": W.BoundedIntText(value=seed, min=0, max=10_000, description=tr("seed")),
        }
        self.curves = W.Image(format="png", layout=W.Layout(max_width="100%"))
        self.pictures = W.Image(format="png")
        self.readout = W.HTML()
        note = ("" if self.vae is not None else
                tr("<i>Latent view unavailable ({why}); showing pixel space only.</i>").format(
                    why=html.escape(self.vae_note or "")))
        self.note = W.HTML(note)
        self.widget = W.VBox([W.HBox([self.controls["t"], self.controls["schedule"]]),
                              W.HBox([self.controls["photo"], self.controls["seed"]]),
                              W.VBox([W.HTML(tr("<b>The three schedules</b>: ᾱ_t and log SNR against t; the line marks "
                                                "the t you chose")), self.curves]),
                              W.HBox([self.pictures, self.readout]), self.note, self.status])
        self._figure = None
        self._photo_key = None
        self.observe_all()

    @staticmethod
    def _photos_by_label() -> list[str]:
        """The bundled photos in the alphabetical order of their names as the dropdown shows them."""
        return sorted(BUNDLED_PHOTOS, key=lambda name: tr(PHOTO_LABELS.get(name, name)).lower())

    # -- cached pieces ------------------------------------------------------------------------

    def _photo(self) -> None:
        """The photo as a (1, 3, SIZE, SIZE) tensor and its clean latent; redone when photo or seed change."""
        key = (self.controls["photo"].value, int(self.controls["seed"].value))
        if key == self._photo_key:
            return
        array = square_photo(bundled_photo(key[0]), SIZE)
        self.x0 = torch.from_numpy(array).permute(2, 0, 1)[None].float() / 127.5 - 1  # (1, 3, H, W) in [-1, 1]
        generator = torch.Generator().manual_seed(key[1])
        self.noise = torch.randn(self.x0.shape, generator=generator)
        self.latent = None
        if self.vae is not None:
            with torch.no_grad():
                self.latent = self.vae.to_latent(self.x0)  # (1, c, H/f, W/f), unit variance
            self.latent_noise = torch.randn(self.latent.shape, generator=generator)
        self._photo_key = key

    def _draw_curves(self, t: int) -> bytes:
        """Re-uses one figure: only the marker lines move."""
        if self._figure is None:
            from ..viz import schedule_curves

            self._figure = schedule_curves(self.schedules, t=t, figsize=(8, 2.6))
            self._markers = [ax.lines[-1] for ax in self._figure.axes]
            for ax in self._figure.axes:
                ax.set_title(tr(ax.get_title()))  # one of CURVE_TITLES
        for line in self._markers:
            line.set_xdata([t, t])
        buffer = io.BytesIO()
        self._figure.savefig(buffer, format="png", dpi=80)
        return buffer.getvalue()

    # -- render -------------------------------------------------------------------------------

    def render(self) -> dict:
        t = int(self.controls["t"].value)
        schedule = self.schedules[self.controls["schedule"].value]
        self._photo()
        self.curves.value = self._draw_curves(t)

        noisy_pixels = schedule.q_sample(self.x0, t, self.noise)
        tiles = [to_uint8(self.x0)[0], to_uint8(noisy_pixels)[0]]
        if self.latent is not None:
            with torch.no_grad():
                noisy_latent = schedule.q_sample(self.latent, t, self.latent_noise)
                tiles.append(to_uint8(self.vae.from_latent(noisy_latent))[0])
        gap = np.full((SIZE, 4, 3), 255, np.uint8)
        self.pictures.value = png(np.concatenate([p for tile in tiles for p in (tile, gap)][:-1], axis=1))

        alpha_bar = {name: float(s.alpha_bar[t]) for name, s in self.schedules.items()}
        snr_db = {name: float(s.snr_db[t]) for name, s in self.schedules.items()}
        titles = tr("clean · noised pixels · noised latent, decoded") if self.latent is not None else \
            tr("clean · noised pixels")
        rows = "".join(f"<tr><td>{n}</td><td>{alpha_bar[n]:.4f}</td><td>{snr_db[n]:+.1f} dB</td></tr>"
                       for n in self.schedules)
        head = tr("schedule")
        self.readout.value = (f"<b>{titles}</b><br>t = {t}<table><tr><th>{head}</th><th>ᾱ_t</th>"
                              f"<th>SNR</th></tr>{rows}</table>")
        return {"t": t, "alpha_bar": alpha_bar, "snr_db": snr_db, "latent_view": self.latent is not None}

    @classmethod
    def for_bench(cls, size: int) -> ScheduleApp:
        """The shipped VAE when there is one; the photo is always SIZE px (`size` does not apply)."""
        app = cls()
        app.render()
        return app

    def bench_step(self, i: int) -> None:
        """A student dragging t."""
        self.controls["t"].value = (137 * (i + 1)) % 1000


__all__ = ["ScheduleApp"]
