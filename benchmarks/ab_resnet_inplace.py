"""Side by side: ResnetBlock with out-of-place SiLU and skip addition (the code before) against the
in-place version in latentlab/blocks.py, on the VAE at 256 px, with diffusers' time alongside.

    python benchmarks/ab_resnet_inplace.py        (needs the [ref] extra: diffusers)

Every repeat runs all six timings, alternating their order; three trials of 20 repeats each print
their medians and the new/old ratios. This is the measurement that kept the in-place version
(2 CPU cores, three runs of three trials: decode new/old 0.83–0.99, below 1 in every trial;
encode 0.93–1.04, no clear change).
"""

import torch
import torch.nn.functional as F

from latentlab import blocks
from latentlab.bench import interleaved_medians
from latentlab.vae import VAEConfig
from latentlab.vs_diffusers import diffusers_twin


def old_forward(self, x, temb=None):
    h = self.conv1(F.silu(self.norm1(x)))
    if self.time_proj is not None:
        h = h + self.time_proj(F.silu(temb))[:, :, None, None]
    h = self.conv2(F.silu(self.norm2(h)))
    skip = x if self.skip is None else self.skip(x)
    return skip + h


def main(trials: int = 3, repeats: int = 20, warmup: int = 2) -> None:
    new_forward = blocks.ResnetBlock.forward
    theirs, ours = diffusers_twin(VAEConfig.preset("f8c4"))
    z = torch.randn(1, 4, 32, 32)
    x = torch.rand(1, 3, 256, 256) * 2 - 1

    def with_forward(forward, fn):
        blocks.ResnetBlock.forward = forward
        try:
            return fn()
        finally:
            blocks.ResnetBlock.forward = new_forward

    fns = {
        "decode_old": lambda: with_forward(old_forward, lambda: ours.decode(z)),
        "decode_new": lambda: ours.decode(z),
        "decode_diffusers": lambda: theirs.decode(z).sample,
        "encode_old": lambda: with_forward(old_forward, lambda: ours.encode(x).mean),
        "encode_new": lambda: ours.encode(x).mean,
        "encode_diffusers": lambda: theirs.encode(x).latent_dist.mean,
    }
    with torch.no_grad():
        same = (fns["decode_old"]() - fns["decode_new"]()).abs().max().item()
        print(f"largest difference old vs new decode: {same:.2e}")
        for trial in range(trials):
            ms = interleaved_medians(fns, repeats, warmup)
            print(f"trial {trial}: " + ", ".join(f"{name} {value:.1f} ms" for name, value in ms.items()))
            print(f"  new/old: decode {ms['decode_new'] / ms['decode_old']:.3f}, "
                  f"encode {ms['encode_new'] / ms['encode_old']:.3f}")


if __name__ == "__main__":
    main()
