"""Side by side: the ldm-shapes UNet with contiguous weights (as shipped) against the same UNet
with channels-last weights, one classifier-free-guidance forward (batch 2, 16×16 latents), with
diffusers' twin alongside.

    python benchmarks/ab_unet_channels_last.py    (needs the [ref] extra: diffusers)

On 2 CPU cores the two layouts came out within the noise of each other (cl/contiguous 0.94–1.00 over
three trials), unlike the VAE's 256 px convolutions, so the UNet stays contiguous.
"""

import copy
import statistics
import time

import torch

from latentlab.unet import UNetConfig
from latentlab.vs_diffusers import diffusers_unet_twin


def main(trials: int = 3, repeats: int = 30, warmup: int = 2) -> None:
    config = UNetConfig.shapes()
    theirs, ours = diffusers_unet_twin(config)
    channels_last = copy.deepcopy(ours).to(memory_format=torch.channels_last)
    z = torch.randn(2, config.in_channels, config.sample_size, config.sample_size)
    t = torch.tensor([500, 500])
    context = torch.randn(2, 24, config.context_dim)
    fns = {"contiguous": lambda: ours(z, t, context), "channels_last": lambda: channels_last(z, t, context),
           "diffusers": lambda: theirs(z, t, context).sample}
    with torch.no_grad():
        print(f"largest difference: {(fns['contiguous']() - fns['channels_last']()).abs().max().item():.2e}")
        for trial in range(trials):
            times = {name: [] for name in fns}
            names = list(fns)
            for i in range(warmup + repeats):
                for name in names if i % 2 == 0 else names[::-1]:
                    start = time.perf_counter()
                    fns[name]()
                    if i >= warmup:
                        times[name].append(time.perf_counter() - start)
            ms = {name: 1000 * statistics.median(v) for name, v in times.items()}
            print(f"trial {trial}: " + ", ".join(f"{name} {value:.2f} ms" for name, value in ms.items())
                  + f"; channels_last/contiguous {ms['channels_last'] / ms['contiguous']:.3f}")


if __name__ == "__main__":
    main()
