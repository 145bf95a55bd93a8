"""The widget kit: what every app is built from.

    App                      the protocol (controls, render() → dict, last_error, for_bench, bench_step)
    guarded, read_upload     errors of buttons and uploads go to the status line, never a traceback
    resolve_model(x, kind)   a model name, a checkpoint path or a loaded model → (name, model)
    course_models(), course_vae()   the shipped models, or untrained twins of the same cost
    LRUCache                 a bounded cache: the apps keep recent settings, never all of them
    colormap, heatmap_png, png       numbers → colours → PNG bytes for an ipywidgets.Image
    square_photo             (from latentlab.images) a photo centre-cropped and resized
    choices, photo_choices   options of a selection widget with labels in the learner's language

Every text a student reads goes through `tr` (`latentlab.i18n`) when the app is built or rendered,
never at import time, so LATENTLAB_LANG=es gives Spanish widgets; option *values* stay English.

Live images are PNGs, not matplotlib figures: re-encoding a PNG costs milliseconds, a figure about
a hundred.
"""

from __future__ import annotations

import functools
import html
import io
import traceback
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path

import ipywidgets as W
import numpy as np
import torch
from PIL import Image

from ..i18n import N_, tr
from ..images import BUNDLED_PHOTOS, load_image, square_photo

# --- the app protocol ------------------------------------------------------------------------------


def _error_html(err: Exception) -> str:
    return f"<span style='color:#b00'>⚠ {html.escape(type(err).__name__)}: {html.escape(str(err))}</span>"


class App:
    """Base class of every app.

    controls:   name → the ipywidgets a student touches (tests set `.value` on them)
    render():   the one update entry point: recompute every output from the controls and return
                the numbers shown (tests assert on them); observers call it through safe_render()
    last_error: the traceback of the last failed update (None while all went well); the student
                sees the message in the `status` line instead
    for_bench(size) / bench_step(i): how `latentlab bench widgets` builds the app and what one
                typical student change is
    """

    def __init__(self):
        self.controls: dict[str, W.Widget] = {}
        self.status = W.HTML(value="")
        self.widget: W.Widget = W.VBox([])
        self.last_error: str | None = None

    def render(self) -> dict:  # pragma: no cover - every app overrides it
        raise NotImplementedError

    @classmethod
    def for_bench(cls, size: int) -> App:  # pragma: no cover - every app overrides it
        """The app as `latentlab bench widgets` times it; `size` is the photo side for apps that show photos."""
        raise NotImplementedError

    def bench_step(self, i: int) -> None:  # pragma: no cover - every app overrides it
        raise NotImplementedError

    def observe_all(self) -> None:
        """Re-render whenever any control changes value."""
        for control in self.controls.values():
            control.observe(self._on_change, names="value")

    def _on_change(self, change=None) -> None:
        self.safe_render()

    def show_error(self, err: Exception) -> None:
        """The error's message in the status line; its traceback in `last_error` for the teacher."""
        self.status.value = _error_html(err)
        self.last_error = traceback.format_exc()

    def safe_render(self) -> dict | None:
        """render(), with any error shown in the status line instead of a traceback."""
        try:
            result = self.render()
        except Exception as err:  # noqa: BLE001 - shown to the student, kept for the teacher
            self.show_error(err)
            return None
        self.status.value = ""
        return result

    def show_upload(self, label: str, uploaded: list[str]) -> None:
        """After an upload: offer the bundled photos then `uploaded` in the "photo" dropdown, let the
        upload widget drop the file's bytes (the app keeps its own bounded copy), and show `label`."""
        photo = self.controls["photo"]
        photo.options = photo_choices([name for name in option_values(photo) if name in BUNDLED_PHOTOS], uploaded)
        self.upload.value = ()
        if photo.value == label:
            self.safe_render()
        else:
            photo.value = label  # re-renders through the observer

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def guarded(method):
    """Decorator for callbacks other than render (buttons, uploads): errors go to the status line."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as err:  # noqa: BLE001
            self.show_error(err)
            return None

    return wrapper


def read_upload(change, size: int):
    """The newest file of a FileUpload change → (label for a dropdown, (size, size, 3) uint8), or None
    when the upload was cleared. The picture is cropped and downscaled to the app's working size at
    once, so a 12 MP photo is never kept. A file that is not a picture raises a ValueError naming it."""
    files = change["new"]
    if not files:
        return None
    item = files[-1]
    name = str(item.get("name", "upload"))
    try:
        picture = square_photo(load_image(bytes(item["content"])), size)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None
    # The label is also the dropdown's value: made here, in one language, and compared only with itself.
    return tr("uploaded: {name}").format(name=name), picture


# --- options in the learner's language ----------------------------------------------------------------

# The bundled photos' names as the dropdown shows them (the values stay the names `bundled_photo` takes).
PHOTO_LABELS = {
    "astronaut": N_("astronaut"), "coffee": N_("coffee"), "chelsea": N_("chelsea"), "rocket": N_("rocket"),
    "hubble_deep_field": N_("hubble_deep_field"), "immunohistochemistry": N_("immunohistochemistry"),
    "retina": N_("retina"), "colorwheel": N_("colorwheel"), "logo": N_("logo"), "grace_hopper": N_("grace_hopper"),
}


def choices(pairs) -> list:
    """[(label, value)] → options for a Dropdown / ToggleButtons: the plain values when every label is
    its value (English: `.options` stays a list of values), else the (translated label, value) pairs."""
    pairs = [(str(label), value) for label, value in pairs]
    if all(label == str(value) for label, value in pairs):
        return [value for _, value in pairs]
    return pairs


def labelled(values) -> list:
    """Options whose labels are the values (English constants marked N_) in the learner's language."""
    return choices((tr(value), value) for value in values)


def option_values(control) -> list:
    """The values of a selection widget's options, whether they were given as values or as pairs."""
    return list(control._options_values)  # ipywidgets keeps them apart from the labels


def photo_choices(names, uploaded=()) -> list:
    """Options of a "photo" dropdown: the bundled photos `names` under their translated names, then the uploads."""
    return choices([*((tr(PHOTO_LABELS.get(name, name)), name) for name in names), *((u, u) for u in uploaded)])


# --- models: one resolver ----------------------------------------------------------------------------


def resolve_model(source, kind: str) -> tuple[str, torch.nn.Module]:
    """(name, model in eval mode) from a loaded model, a shipped model's name or a latentlab
    checkpoint path. kind: "vae" (an AutoencoderKL) or "ldm" (a LatentDiffusion)."""
    from ..checkpoints import CheckpointError, load_ldm, load_pretrained, load_vae, shipped_models
    from ..ldm import LatentDiffusion
    from ..vae import AutoencoderKL

    classes = {"vae": AutoencoderKL, "ldm": LatentDiffusion}
    if kind not in classes:
        raise ValueError(tr("kind must be 'vae' or 'ldm', got {kind!r}").format(kind=kind))
    if isinstance(source, classes[kind]):
        return str(getattr(source, "name", None) or type(source).__name__), source.eval()
    if not isinstance(source, (str, Path)):
        raise TypeError(tr("expected a {cls}, a shipped model name or a checkpoint path, got {got}").format(
            cls=classes[kind].__name__, got=type(source).__name__))
    text = str(source)
    if text in shipped_models():
        return text, load_pretrained(text, kind=kind).eval()
    if Path(text).is_file():
        return Path(text).stem, (load_vae if kind == "vae" else load_ldm)(text).eval()
    raise CheckpointError(tr("{text!r} is neither a shipped model nor a checkpoint file; shipped models: {names} "
                             "(or give a path to a latentlab .safetensors file)").format(
        text=text, names=", ".join(shipped_models()) or tr("none yet")))


def resolve_pair(model, vae) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(LatentDiffusion, AutoencoderKL) from names or loaded models; vae None means the VAE the model
    was trained with (`model.config.vae`). A VAE of another latent space is refused."""
    from ..ldm import check_latent_space

    _, model = resolve_model(model, "ldm")
    _, vae = resolve_model(model.config.vae if vae is None else vae, "vae")
    check_latent_space(model, vae)
    return model, vae


def course_vae():
    """The shipped vae-f8c4, or an untrained VAE of the same architecture (the same cost) when no
    weights are installed: what the benchmarks time."""
    from ..checkpoints import shipped_models
    from ..vae import AutoencoderKL, VAEConfig

    return "vae-f8c4" if "vae-f8c4" in shipped_models() else AutoencoderKL(VAEConfig.f8c4()).eval()


def course_models():
    """(model, vae): the shipped ldm-shapes and its VAE, or untrained models of the same architecture."""
    from ..checkpoints import shipped_models
    from ..ldm import LatentDiffusion, LDMConfig
    from ..vae import AutoencoderKL, VAEConfig

    if "ldm-shapes" in shipped_models():
        return resolve_pair("ldm-shapes", None)
    return LatentDiffusion(LDMConfig()).eval(), AutoencoderKL(VAEConfig.f8c4()).eval()


# --- bounded caches ----------------------------------------------------------------------------------


def held_bytes(value) -> int:
    """Bytes of the arrays, tensors, PNGs and PIL images inside `value` (dicts, lists, tuples and
    objects' attributes are walked): what a cache entry keeps alive."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value)
    if isinstance(value, Image.Image):
        return value.width * value.height * len(value.getbands())
    if isinstance(value, dict):
        return sum(held_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(held_bytes(v) for v in value)
    if hasattr(value, "__dict__") and not isinstance(value, (type, torch.nn.Module)):
        return held_bytes(vars(value))
    return 0


class LRUCache:
    """At most `capacity` entries; adding one more drops the least recently used. Every app keeps
    its per-setting results in these, so memory stays bounded however long a student plays."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._entries: OrderedDict[Hashable, object] = OrderedDict()

    def get(self, key: Hashable, make: Callable[[], object]):
        """The entry for `key`, made by `make()` on a miss (and then the oldest dropped if over capacity)."""
        if key not in self._entries:
            value = make()  # before inserting: a failing make() leaves the cache as it was
            self._entries[key] = value
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        self._entries.move_to_end(key)
        return self._entries[key]

    def put(self, key: Hashable, value) -> list:
        """Store `value`; → the keys dropped to stay within capacity."""
        self._entries[key] = value
        self._entries.move_to_end(key)
        dropped = []
        while len(self._entries) > self.capacity:
            dropped.append(self._entries.popitem(last=False)[0])
        return dropped

    def drop(self, predicate: Callable[[Hashable], bool]) -> None:
        """Forget every entry whose key matches."""
        for key in [k for k in self._entries if predicate(k)]:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()

    def __contains__(self, key) -> bool:
        return key in self._entries

    def __getitem__(self, key):
        return self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list:
        return list(self._entries)

    def nbytes(self) -> int:
        return held_bytes(list(self._entries.values()))


# --- colours and PNGs ----------------------------------------------------------------------------


# The colour maps a widget may use where colour carries meaning: perceptually uniform sequential maps
# (magma, inferno, viridis, cividis: readable with every common colour-vision deficiency and in grey) and the
# diverging RdBu/PuOr, whose two ends stay apart for deuteranopia and protanopia. Rainbow maps (jet, hsv) are not.
COLOUR_BLIND_SAFE = frozenset({"magma", "inferno", "viridis", "cividis", "gray", "RdBu", "RdBu_r", "PuOr", "PuOr_r"})


@functools.lru_cache(maxsize=8)
def _lut(name: str) -> np.ndarray:
    import matplotlib

    if name not in COLOUR_BLIND_SAFE:
        raise ValueError(f"colour map {name!r} is not one of the course's colour-blind-safe maps: "
                         f"{', '.join(sorted(COLOUR_BLIND_SAFE))}")
    return (matplotlib.colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)  # (256, 3)


def _levels(values: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """(H, W) floats → (H, W) uint8 levels 0…255 over [vmin, vmax]."""
    if vmax <= vmin:
        vmax = vmin + 1e-8
    return np.clip((values - vmin) / (vmax - vmin) * 255.0, 0, 255).astype(np.uint8)


def colormap(values: np.ndarray, vmin: float, vmax: float, name: str = "magma") -> np.ndarray:
    """(H, W) floats → (H, W, 3) uint8 through a matplotlib colour map, applied with numpy (no figure)."""
    return _lut(name)[_levels(values, vmin, vmax)]


def png(array: np.ndarray) -> bytes:
    """(H, W, 3) or (H, W) uint8 → PNG bytes for an ipywidgets.Image.

    compress_level=1: for a live display the file size hardly matters and level 1 encodes
    several times faster than PIL's default 6."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def heatmap_png(values: np.ndarray, vmin: float, vmax: float, name: str = "magma") -> bytes:
    """(H, W) floats → the PNG of `colormap(values, vmin, vmax, name)`, stored as a palette image:
    one byte per pixel instead of three, the same colours, about half the encoding time."""
    levels = np.ascontiguousarray(_levels(values, vmin, vmax))  # (H, W): the palette index of each pixel
    image = Image.frombytes("P", (levels.shape[1], levels.shape[0]), levels.tobytes())
    image.putpalette(_lut(name).tobytes())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


__all__ = ["App", "LRUCache", "PHOTO_LABELS", "choices", "colormap", "course_models", "course_vae", "guarded",
           "heatmap_png", "held_bytes", "labelled", "option_values", "photo_choices", "png", "read_upload",
           "resolve_model", "resolve_pair", "square_photo"]
