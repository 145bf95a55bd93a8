"""Where one UNet forward spends its time, in latentlab and in its diffusers twin (same weights):
torch.profiler's table of the top operators, 20 CFG forwards each (batch 2, 16×16 latents).

    python benchmarks/profile_unet_vs_diffusers.py    (needs the [ref] extra: diffusers)

On 2 CPU cores both spend the same shares in the same kernels (convolution ≈ 44 %, linear layers
≈ 22 %, attention ≈ 11 %): what separates them in `latentlab bench vs-diffusers` is the Python
around the kernels, not the arithmetic.
"""

import torch
from torch.profiler import ProfilerActivity, profile

from latentlab.unet import UNetConfig
from latentlab.vs_diffusers import diffusers_unet_twin


def main(forwards: int = 20, rows: int = 12) -> None:
    theirs, ours = diffusers_unet_twin(UNetConfig.shapes())
    z = torch.randn(2, 4, 16, 16)
    t = torch.tensor([500, 500])
    context = torch.randn(2, 24, 128)
    runs = {"latentlab": lambda: ours(z, t, context), "diffusers": lambda: theirs(z, t, context).sample}
    with torch.no_grad():
        for fn in runs.values():  # warm up
            for _ in range(5):
                fn()
        for name, fn in runs.items():
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(forwards):
                    fn()
            print(name)
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


if __name__ == "__main__":
    main()
