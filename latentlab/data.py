"""Training data that ships with the course's dependencies: no download, ever.

- `PhotoPatches`: random crops of the photos bundled with scikit-image and matplotlib, for the
  VAEs. Augmented (scale, flips, 90° turns, colour-channel shuffles) because there are only a
  dozen photos. Kodak is *never* used here: it is the evaluation set.
- The captioned-shapes dataset for the diffusion model arrives with the latent-diffusion lesson.
"""

from __future__ import annotations

import functools
import io

import numpy as np
import torch
from PIL import Image

from .images import load_image

# Photos the VAEs train on. "chelsea" (the cat) is held out: the checkpoint tests score on it.
HELD_OUT_PHOTO = "chelsea"
_SKIMAGE_COLOUR = ["astronaut", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina"]
_SKIMAGE_FILES_COLOUR = ["motorcycle_left.png", "motorcycle_right.png", "color.png"]
# Greyscale photos add texture (brick, grass, gravel, coins, the moon); they enter as grey RGB.
_SKIMAGE_FILES_GREY = ["camera.png", "moon.png", "coins.png", "brick.png", "grass.png", "gravel.png",
                       "clock_motion.png", "horse.png"]
_MATPLOTLIB_FILES = ["grace_hopper.jpg", "Minduka_Present_Blue_Pack.png"]


@functools.lru_cache(maxsize=1)
def training_photos() -> dict[str, Image.Image]:
    """name → RGB PIL image of every photo the VAEs train on (never Kodak, never the held-out cat).

    Cached: decoding the photos takes seconds and they never change within a process."""
    from pathlib import Path

    import skimage.data

    photos = {}
    for name in _SKIMAGE_COLOUR:
        photos[name] = load_image(getattr(skimage.data, name)())
    folder = Path(skimage.data.__file__).parent
    for file in _SKIMAGE_FILES_COLOUR + _SKIMAGE_FILES_GREY:
        if (folder / file).is_file():
            photos[file.rsplit(".", 1)[0]] = load_image(folder / file)
    import matplotlib.cbook

    for file in _MATPLOTLIB_FILES:
        try:
            with matplotlib.cbook.get_sample_data(file) as f:
                photos[file.rsplit(".", 1)[0]] = load_image(io.BytesIO(f.read()).getvalue())
        except (OSError, ValueError):
            continue  # an older matplotlib without this sample: train on the rest
    return photos


class PhotoPatches:
    """An endless, seeded stream of augmented (B, 3, P, P) patches in [-1, 1].

    Each photo is kept at a few scales (1, 0.7, 0.5, 0.35): downscaled photos pack more detail
    into a patch, closer to what a full Kodak photo looks like at the VAE's receptive field.
    """

    SCALES = (1.0, 0.7, 0.5, 0.35)

    def __init__(self, patch_size: int = 128, seed: int = 0, photos: dict[str, Image.Image] | None = None,
                 colour_shuffle: float = 0.5):
        self.patch_size = patch_size
        self.colour_shuffle = colour_shuffle
        self.rng = np.random.default_rng(seed)
        photos = photos if photos is not None else training_photos()
        self.pool: list[np.ndarray] = []
        weights = []
        for image in photos.values():
            for scale in self.SCALES:
                size = (round(image.width * scale), round(image.height * scale))
                if min(size) < patch_size:
                    continue
                array = np.asarray(image.resize(size, Image.Resampling.LANCZOS) if scale != 1.0 else image)
                self.pool.append(array)
                weights.append(min(size[0] * size[1], 512 * 512))  # cap: retina and hubble are mostly black
        if not self.pool:
            raise ValueError(f"no photo is at least {patch_size} px on its shorter side")
        # Sample images in proportion to their area, so every patch position is equally likely.
        self.weights = np.asarray(weights, dtype=np.float64) / sum(weights)

    def batch(self, batch_size: int) -> torch.Tensor:
        P, rng = self.patch_size, self.rng
        out = np.empty((batch_size, P, P, 3), dtype=np.uint8)
        for i in range(batch_size):
            array = self.pool[rng.choice(len(self.pool), p=self.weights)]
            H, W, _ = array.shape
            top, left = rng.integers(0, H - P + 1), rng.integers(0, W - P + 1)
            patch = array[top:top + P, left:left + P]
            if rng.random() < 0.5:
                patch = patch[:, ::-1]
            patch = np.rot90(patch, k=rng.integers(0, 4))
            if rng.random() < self.colour_shuffle:
                patch = patch[:, :, rng.permutation(3)]
            out[i] = patch
        x = torch.from_numpy(out).permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (B, 3, P, P) in [-1, 1]
        return x.contiguous()
