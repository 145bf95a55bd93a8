"""Side by side: the ldm-shapes UNet with channels-last weights (as latentlab builds it) against the
same UNet with contiguous weights, one classifier-free-guidance forward (batch 2, 16×16 latents),
with diffusers' twin alongside; then one training step (batch 32, forward and backward) in each layout.

    python benchmarks/ab_unet_channels_last.py    (needs the [ref] extra: diffusers)

On 2 CPU cores channels-last/contiguous came out 0.95–0.96 for the forward in three trials (0.94–1.00
in an earlier run) and 0.95 for a training step, so latentlab's UNet is channels-last.
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
    channels_last = ours
    ours = copy.deepcopy(ours).to(memory_format=torch.contiguous_format)
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
    z = torch.randn(32, config.in_channels, config.sample_size, config.sample_size)
    t = torch.randint(0, 1000, (32,))
    context = torch.randn(32, 24, config.context_dim)
    times = {"contiguous": [], "channels_last": []}
    for i in range(warmup + 10):
        pairs = [("contiguous", ours), ("channels_last", channels_last)]
        for name, model in pairs if i % 2 == 0 else pairs[::-1]:
            start = time.perf_counter()
            model(z, t, context).square().mean().backward()
            model.zero_grad(set_to_none=True)
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    ms = {name: 1000 * statistics.median(v) for name, v in times.items()}
    print(f"training step (batch 32): contiguous {ms['contiguous']:.1f} ms, channels_last {ms['channels_last']:.1f} ms; "
          f"channels_last/contiguous {ms['channels_last'] / ms['contiguous']:.3f}")


if __name__ == "__main__":
    main()
