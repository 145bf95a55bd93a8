"""The captioned-shapes dataset: deterministic, drawn as described, captions from the grammar."""

import numpy as np
import pytest
import torch

from latentlab.data import COLORS, POSITIONS, SHAPES, SIZES, CaptionedShapes, Scene, ShapeObject, render_scene


def test_items_are_deterministic_and_independent_of_order():
    a, b = CaptionedShapes(50, seed=3), CaptionedShapes(50, seed=3)
    image_a, caption_a, scene_a = a[17]
    for i in (0, 5, 49):  # touching other items first changes nothing
        b[i]
    image_b, caption_b, scene_b = b[17]
    assert torch.equal(image_a, image_b) and caption_a == caption_b and scene_a == scene_b
    assert CaptionedShapes(50, seed=4)[17][1] != caption_a or not torch.equal(CaptionedShapes(50, seed=4)[17][0], image_a)


def test_vocabulary_coverage():
    data = CaptionedShapes(600, seed=0, two_objects=0.3)
    scenes = [data.scene_and_caption(i)[0] for i in range(len(data))]
    objects = [o for s in scenes for o in s.objects]
    assert {o.shape for o in objects} == set(SHAPES) and len(SHAPES) >= 4
    assert {o.color for o in objects} == set(COLORS) and len(COLORS) >= 8
    assert {o.size for o in objects} == set(SIZES)
    assert {o.position for o in objects} == set(POSITIONS)
    assert {s.background for s in scenes} == set(COLORS)
    assert any(len(s.objects) == 2 for s in scenes) and any(len(s.objects) == 1 for s in scenes)
    for s in scenes:
        assert s.background not in {o.color for o in s.objects}
        if len(s.objects) == 2:
            assert s.objects[0].color != s.objects[1].color


def test_caption_grammar():
    obj = ShapeObject("circle", "red", "small", "top left", (0.25, 0.25))
    scene = Scene((obj,), "blue")
    assert scene.caption() == "a small red circle on a blue background, top left"
    assert scene.caption(with_size=False, with_position=False) == "a red circle on a blue background"
    two = Scene((obj, ShapeObject("star", "green", "medium", "bottom right", (0.75, 0.75))), "white")
    assert two.caption() == "a small red circle, top left, and a medium green star, bottom right, on a white background"
    assert two.caption(with_background=False) == "a small red circle, top left, and a medium green star, bottom right"


def test_picture_shows_the_scene():
    # A large yellow square in the top-left cell on black: yellow there, black in the opposite corner.
    scene = Scene((ShapeObject("square", "yellow", "large", "top left", (0.25, 0.25)),), "black")
    array = np.asarray(render_scene(scene, 128)).astype(int)
    assert np.abs(array[32, 32] - COLORS["yellow"]).max() <= 2
    assert np.abs(array[110, 110] - COLORS["black"]).max() <= 2
    # Areas: a circle covers about π/4 of its bounding square, a triangle less, a star less still.
    areas = {}
    for shape in SHAPES:
        s = Scene((ShapeObject(shape, "white", "large", "center", (0.5, 0.5)),), "black")
        areas[shape] = (np.asarray(render_scene(s, 128)).mean(axis=2) > 128).sum()
    assert areas["star"] < areas["triangle"] < areas["circle"] < areas["square"] * 1.1


def test_pixels_in_range_and_shape():
    image, caption, _ = CaptionedShapes(4, size=64, seed=1)[2]
    assert image.shape == (3, 64, 64) and image.min() >= -1 and image.max() <= 1
    assert isinstance(caption, str) and caption.startswith("a ")


@pytest.mark.parametrize("kwargs, message", [
    ({"length": 0}, "at least one item"),
    ({"length": 5, "two_objects": 1.5}, "probabilities"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CaptionedShapes(**kwargs)


def test_index_out_of_range():
    with pytest.raises(IndexError, match="out of range"):
        CaptionedShapes(3)[3]
