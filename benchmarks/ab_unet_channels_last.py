"""Side by side: the ldm-shapes UNet with channels-last weights (as latentlab builds it) against the
same UNet with contiguous weights, one classifier-free-guidance forward (batch 2, 16×16 latents),
with diffusers' twin alongside; then one training step (batch 32, forward and backward) in each layout.

    python benchmarks/ab_unet_channels_last.py    (needs the [ref] extra: diffusers)

On 2 CPU cores channels-last/contiguous came out 0.95–0.96 for the forward in three trials (0.94–1.00
in an earlier run) and 0.95 for a training step, so latentlab's UNet is channels-last.
"""

import copy

import torch

from latentlab.bench import interleaved_medians
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
            ms = interleaved_medians(fns, repeats, warmup)
            print(f"trial {trial}: " + ", ".join(f"{name} {value:.2f} ms" for name, value in ms.items())
                  + f"; channels_last/contiguous {ms['channels_last'] / ms['contiguous']:.3f}")
    z = torch.randn(32, config.in_channels, config.sample_size, config.sample_size)
    t = torch.randint(0, 1000, (32,))
    context = torch.randn(32, 24, config.context_dim)
    def training_step(model):
        model(z, t, context).square().mean().backward()
        model.zero_grad(set_to_none=True)

    ms = interleaved_medians({"contiguous": lambda: training_step(ours),
                              "channels_last": lambda: training_step(channels_last)}, 10, warmup)
    print(f"training step (batch 32): contiguous {ms['contiguous']:.1f} ms, channels_last {ms['channels_last']:.1f} ms; "
          f"channels_last/contiguous {ms['channels_last'] / ms['contiguous']:.3f}")


if __name__ == "__main__":
    main()
