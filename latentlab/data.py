"""Training data that ships with the course's dependencies: no download, ever.

- `PhotoPatches`: random crops of the photos bundled with scikit-image and matplotlib, for the
  VAEs. Augmented (scale, flips, 90° turns, colour-channel shuffles) because there are only a
  dozen photos. Kodak is *never* used here: it is the evaluation set.
- `CaptionedShapes`: procedural pictures of coloured shapes with a caption from a small grammar
  ("a small red circle on a blue background, top left"), for the text-to-image model. Item i of a
  dataset with seed s is always the same picture: no files, no download, any size.
"""

from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw

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
                 colour_shuffle: float = 0.5, shapes: float = 0.0):
        if not 0 <= shapes <= 1:
            raise ValueError(f"shapes is the share of captioned-shapes pictures in a batch, in [0, 1]; got {shapes}")
        self.patch_size = patch_size
        self.colour_shuffle = colour_shuffle
        self.shapes = shapes  # share of items that are whole captioned-shapes pictures (patch_size px)
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
            if self.shapes and rng.random() < self.shapes:
                out[i] = np.asarray(render_scene(random_scene(rng, two_objects=0.15), P))
                continue
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


# ---------------------------------------------------------------------------------------------
# Captioned shapes
# ---------------------------------------------------------------------------------------------

SHAPES = ("circle", "square", "triangle", "star")
# Ten colours far apart in RGB, so that a colour word is never ambiguous even after the VAE.
COLORS = {
    "red": (220, 40, 40), "orange": (245, 140, 20), "yellow": (240, 220, 40), "green": (40, 170, 60),
    "cyan": (40, 200, 210), "blue": (40, 70, 220), "purple": (140, 50, 190), "pink": (245, 140, 200),
    "white": (245, 245, 245), "black": (25, 25, 25),
}
# Radius as a fraction of the image side: at 128 px a small shape is 3 latent pixels across (f = 8).
SIZES = {"small": 0.10, "medium": 0.15, "large": 0.21}
# A 3×3 grid of positions: (x, y) of the cell centre as fractions of the side.
POSITIONS = {
    "top left": (0.25, 0.25), "top": (0.5, 0.25), "top right": (0.75, 0.25),
    "left": (0.25, 0.5), "center": (0.5, 0.5), "right": (0.75, 0.5),
    "bottom left": (0.25, 0.75), "bottom": (0.5, 0.75), "bottom right": (0.75, 0.75),
}


@dataclass(frozen=True)
class ShapeObject:
    """One shape in a scene; `center` is the jittered position actually drawn (fractions of the side)."""

    shape: str
    color: str
    size: str
    position: str
    center: tuple[float, float]

    def phrase(self, with_size: bool = True) -> str:
        return " ".join(["a"] + ([self.size] if with_size else []) + [self.color, self.shape])


@dataclass(frozen=True)
class Scene:
    """What a picture shows: one or two `ShapeObject`s on a plain background colour."""

    objects: tuple[ShapeObject, ...]
    background: str

    def caption(self, with_size: bool = True, with_position: bool = True, with_background: bool = True) -> str:
        """The grammar: OBJECT[, POSITION] [and OBJECT[, POSITION]] [on a BACKGROUND background].

        One object: "a small red circle on a blue background, top left" (the position last reads
        naturally); two: "a red circle, top left, and a blue star, bottom right, on a white background".
        """
        background = f" on a {self.background} background" if with_background else ""
        if len(self.objects) == 1:
            (obj,) = self.objects
            position = f", {obj.position}" if with_position else ""
            return obj.phrase(with_size) + background + position
        parts = [obj.phrase(with_size) + (f", {obj.position}," if with_position else "") for obj in self.objects]
        text = " and ".join(parts)
        return (text.rstrip(",") if not background else text) + background


def _polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    """Corner points of a square, an upward triangle or a five-pointed star of 'radius' r."""
    if shape == "square":
        s = r * 0.85  # a square of half-side 0.85 r has about the area of the circle of radius r
        return [(cx - s, cy - s), (cx + s, cy - s), (cx + s, cy + s), (cx - s, cy + s)]
    if shape == "triangle":
        return [(cx + r * math.sin(a), cy - r * math.cos(a)) for a in (0, 2 * math.pi / 3, 4 * math.pi / 3)]
    if shape == "star":
        points = []
        for k in range(10):  # alternate outer and inner corners, the first one pointing up
            radius = r if k % 2 == 0 else 0.45 * r
            angle = k * math.pi / 5
            points.append((cx + radius * math.sin(angle), cy - radius * math.cos(angle)))
        return points
    raise ValueError(f"unknown shape {shape!r}; the shapes are {', '.join(SHAPES)}")


def render_scene(scene: Scene, size: int = 128) -> Image.Image:
    """Draw a scene as a `size`×`size` RGB picture, anti-aliased by drawing 4× larger and shrinking."""
    if size < 16:
        raise ValueError(f"shape pictures need at least 16 px, got {size}")
    big = size * 4
    image = Image.new("RGB", (big, big), COLORS[scene.background])
    draw = ImageDraw.Draw(image)
    for obj in scene.objects:
        cx, cy = obj.center[0] * big, obj.center[1] * big
        r = SIZES[obj.size] * big
        if obj.shape == "circle":
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=COLORS[obj.color])
        else:
            draw.polygon(_polygon(obj.shape, cx, cy, r), fill=COLORS[obj.color])
    return image.resize((size, size), Image.Resampling.LANCZOS)


def random_scene(rng: np.random.Generator, two_objects: float = 0.0) -> Scene:
    """A random scene: uniform shape, colour, size, position; background ≠ every object's colour.

    two_objects: probability of a second object (then both are small or medium, in cells that do
    not touch, and of different colours)."""
    count = 2 if rng.random() < two_objects else 1
    colors = list(COLORS)
    background = colors[rng.integers(len(colors))]
    # Every cell touches the centre, so two-object scenes leave it out.
    positions = list(POSITIONS) if count == 1 else [p for p in POSITIONS if p != "center"]
    objects: list[ShapeObject] = []
    for _ in range(count):
        taken_colors = {background, *(o.color for o in objects)}
        color = rng.choice([c for c in colors if c not in taken_colors])
        sizes = list(SIZES) if count == 1 else ["small", "medium"]
        size = sizes[rng.integers(len(sizes))]
        free = [p for p in positions if all(_far_apart(p, o.position) for o in objects)]
        position = free[rng.integers(len(free))]
        # Jitter inside the cell, but keep the whole shape inside the picture.
        r = SIZES[size]
        cx, cy = (float(np.clip(c + rng.uniform(-0.06, 0.06), r + 0.02, 0.98 - r)) for c in POSITIONS[position])
        objects.append(ShapeObject(SHAPES[rng.integers(len(SHAPES))], str(color), size, position, (cx, cy)))
    return Scene(tuple(objects), background)


def _far_apart(a: str, b: str) -> bool:
    """Two grid cells that do not touch (not the same, not neighbours, diagonals included)."""
    (ax, ay), (bx, by) = POSITIONS[a], POSITIONS[b]
    return max(abs(ax - bx), abs(ay - by)) > 0.3


class CaptionedShapes:
    """A deterministic, indexable dataset of (picture, caption, scene).

    Item i is drawn from a generator seeded with (seed, i), so any item can be made on its own,
    in any order, on any machine. Captions leave out the size, the position or the background now
    and then (`drop`), so the model also learns prompts that say less.

        data = CaptionedShapes(1000, seed=0)
        image, caption, scene = data[3]     # image: (3, size, size) in [-1, 1]
    """

    def __init__(self, length: int, size: int = 128, seed: int = 0, two_objects: float = 0.0,
                 drop: float = 0.2):
        if length < 1:
            raise ValueError(f"a dataset needs at least one item, got length={length}")
        if not 0 <= two_objects <= 1 or not 0 <= drop <= 1:
            raise ValueError(f"two_objects and drop are probabilities in [0, 1], got {two_objects} and {drop}")
        self.length, self.size, self.seed = length, size, seed
        self.two_objects, self.drop = two_objects, drop

    def __len__(self) -> int:
        return self.length

    def scene_and_caption(self, index: int) -> tuple[Scene, str]:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} items")
        rng = np.random.default_rng([self.seed, index])
        scene = random_scene(rng, self.two_objects)
        keep = rng.random(3) >= self.drop
        return scene, scene.caption(with_size=keep[0], with_position=keep[1], with_background=keep[2])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str, Scene]:
        scene, caption = self.scene_and_caption(index)
        array = np.asarray(render_scene(scene, self.size), dtype=np.float32)
        image = torch.from_numpy(array).permute(2, 0, 1) / 127.5 - 1.0  # (3, size, size) in [-1, 1]
        return image, caption, scene

    def batch(self, indices) -> tuple[torch.Tensor, list[str], list[Scene]]:
        """Items `indices` stacked: images (B, 3, size, size), captions, scenes."""
        items = [self[int(i)] for i in indices]
        return torch.stack([it[0] for it in items]), [it[1] for it in items], [it[2] for it in items]
