"""The spaces lesson 07 compares: pixel space and the latent spaces of the three shipped photo VAEs.

One list, read by `why_latent` (the UNet step measured in each), `study` (the UNet trained in each)
and the command line (`--spaces`). f is the downsampling factor, c the channels (LDM Tab. 8's
notation: f8c4 turns a 512×512×3 picture into a 64×64×4 latent); `vae` names the `VAEConfig`
preset of the space's autoencoder, None for pixel space, which has none.
"""

from __future__ import annotations

from typing import NamedTuple


class Space(NamedTuple):
    f: int            # pixels per latent position along each side
    c: int            # channels of the latent
    vae: str | None   # VAEConfig preset (shipped as `vae-<preset>`), None for pixel space


SPACES: dict[str, Space] = {
    "pixel": Space(1, 3, None),
    "f4c3": Space(4, 3, "f4c3"),
    "f8c4": Space(8, 4, "f8c4"),
    "f16c16": Space(16, 16, "f16c16"),
}


def check_spaces(spaces) -> tuple[str, ...]:
    """`spaces` as a tuple of known names, or a ValueError naming the unknown ones and the known ones."""
    spaces = tuple(spaces)
    unknown = [s for s in spaces if s not in SPACES]
    if unknown or not spaces:
        found = f"unknown space(s) {unknown}" if unknown else "no space given"
        raise ValueError(f"{found}: spaces must be some of {', '.join(SPACES)}")
    return spaces


__all__ = ["SPACES", "Space", "check_spaces"]
