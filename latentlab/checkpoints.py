"""Checkpoints: safetensors files with their config and metrics in the metadata. Never pickle.

A latentlab checkpoint is one `.safetensors` file whose string metadata holds
    format      "latentlab-1"
    kind        "vae", "vae-train", ... (what the tensors are)
    config      the model's config as JSON (so the file alone rebuilds the model)
    metrics     JSON: what it scored, how long it trained, on what
    version     the latentlab version that wrote it
Writes are atomic (a temporary file, then `os.replace`), so a crash or Ctrl-C mid-write never
leaves a half-written checkpoint where a good one was.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from .vae import AutoencoderKL, VAEConfig

FORMAT = "latentlab-1"
WEIGHTS_DIR = Path(__file__).parent / "weights"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: missing, truncated, of another kind or another shape."""


def _version() -> str:
    from . import __version__

    return __version__


def save_checkpoint(path, tensors: dict[str, torch.Tensor], kind: str, config_json: str,
                    metrics: dict | None = None, extra: dict[str, str] | None = None,
                    dtype: torch.dtype | None = None) -> Path:
    """Write `tensors` and metadata to `path` atomically. `dtype` casts floating tensors (fp16 to ship)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, t in tensors.items():
        t = t.detach().cpu()
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        out[name] = t.contiguous()
    metadata = {"format": FORMAT, "kind": kind, "config": config_json,
                "metrics": json.dumps(metrics or {}, sort_keys=True), "version": _version()}
    metadata.update(extra or {})
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(out, tmp, metadata=metadata)
        os.replace(tmp, path)  # atomic on POSIX and Windows
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def read_metadata(path) -> dict[str, str]:
    """The metadata of a checkpoint, without loading its tensors."""
    path = _existing(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is not a readable safetensors file (truncated or corrupt?): {err}") from err


def load_checkpoint(path, kind: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, metadata) with metadata['config'] and ['metrics'] parsed from JSON.

    Raises CheckpointError naming the file if it is not a latentlab checkpoint or not of `kind`."""
    path = _existing(path)
    meta = read_metadata(path)
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is a safetensors file but not a latentlab checkpoint (no format={FORMAT!r} in its metadata); "
            "for Stable Diffusion VAE weights in diffusers layout use checkpoints.load_diffusers_vae"
        )
    if kind is not None and meta.get("kind") != kind:
        raise CheckpointError(f"{path} holds a {meta.get('kind')!r} checkpoint, but a {kind!r} one was expected")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} could not be read (truncated or corrupt?): {err}") from err
    parsed = dict(meta)
    parsed["config"] = json.loads(meta.get("config") or "{}")
    parsed["metrics"] = json.loads(meta.get("metrics") or "{}")
    return tensors, parsed


def _existing(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    return path


def load_state_into(model: torch.nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Copy `tensors` into `model`, raising one error that lists every missing, extra or misshapen tensor."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    misshapen = [f"{k}: file {tuple(tensors[k].shape)} vs model {tuple(expected[k].shape)}"
                 for k in expected if k in tensors and tensors[k].shape != expected[k].shape]
    if missing or unexpected or misshapen:
        lines = [f"{source} does not fit this model:"]
        for title, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", misshapen)):
            if items:
                shown = ", ".join(items[:5]) + (f" … (+{len(items) - 5} more)" if len(items) > 5 else "")
                lines.append(f"  {title}: {shown}")
        raise CheckpointError("\n".join(lines))
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()})


def save_vae(path, vae: AutoencoderKL, metrics: dict | None = None, dtype: torch.dtype = torch.float16) -> Path:
    """Ship a VAE: fp16 weights, config (with its scaling factor) and metrics."""
    return save_checkpoint(path, vae.state_dict(), "vae", vae.config.to_json(), metrics, dtype=dtype)


def load_vae(path, config: VAEConfig | None = None) -> AutoencoderKL:
    """Rebuild a VAE from a latentlab checkpoint (float32, eval mode).

    If `config` is given it must match the file's, so a caller who expects f8c4 never silently gets f16c16."""
    tensors, meta = load_checkpoint(path, kind="vae")
    file_config = VAEConfig(**meta["config"])
    if config is not None:
        ours, theirs = json.loads(config.to_json()), meta["config"]
        ours.pop("scaling_factor"), theirs.pop("scaling_factor", None)
        if ours != theirs:
            diff = {k: (theirs.get(k), ours.get(k)) for k in ours if ours.get(k) != theirs.get(k)}
            raise CheckpointError(f"{path} has another VAE config; differing fields (file, expected): {diff}")
    vae = AutoencoderKL(file_config)
    load_state_into(vae, tensors, str(path))
    vae.metrics = meta["metrics"]
    return vae.float().eval()


def shipped_models() -> list[str]:
    """Names of the checkpoints inside the package, e.g. ['vae-f16c16', 'vae-f4c3', 'vae-f8c4']."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors"))


def save_ldm(path, model, metrics: dict | None = None, dtype: torch.dtype = torch.float16) -> Path:
    """Ship a text-to-image model (`latentlab.ldm.LatentDiffusion`): UNet and text encoder in one file."""
    return save_checkpoint(path, model.state_dict(), "ldm", model.config.to_json(), metrics, dtype=dtype)


def load_ldm(path):
    """Rebuild a `LatentDiffusion` from a latentlab checkpoint (float32, eval mode)."""
    from .ldm import LatentDiffusion, LDMConfig

    tensors, meta = load_checkpoint(path, kind="ldm")
    try:
        config = LDMConfig.from_dict(meta["config"])
    except (TypeError, KeyError, ValueError) as err:
        raise CheckpointError(f"{path} has an LDM config this version cannot read: {err}") from err
    model = LatentDiffusion(config)
    load_state_into(model, tensors, str(path))
    model.metrics = meta["metrics"]
    return model.float().eval()


def load_pretrained(name: str, kind: str | None = None):
    """A shipped model by name (no download: the file is inside the package): a VAE or an LDM.

    kind: 'vae' or 'ldm' to insist on one (a clear error otherwise)."""
    path = WEIGHTS_DIR / f"{name}.safetensors"
    if not path.is_file():
        raise CheckpointError(f"no shipped model {name!r}; shipped: {', '.join(shipped_models()) or 'none'}")
    file_kind = read_metadata(path).get("kind")
    if kind is not None and file_kind != kind:
        raise CheckpointError(f"{name} is a {file_kind!r} model, but a {kind!r} was expected")
    return load_ldm(path) if file_kind == "ldm" else load_vae(path)


# --- Stable Diffusion VAE weights in diffusers layout ------------------------------------------

# diffusers name pieces → ours. Old diffusers files name attention query/key/value/proj_attn.
_RENAMES = [
    (r"\.down_blocks\.", ".down."), (r"\.up_blocks\.", ".up."),
    (r"\.downsamplers\.0\.", ".downsample."), (r"\.upsamplers\.0\.", ".upsample."),
    (r"\.mid_block\.resnets\.0\.", ".mid.resnet1."), (r"\.mid_block\.resnets\.1\.", ".mid.resnet2."),
    (r"\.mid_block\.attentions\.0\.", ".mid.attn."),
    (r"\.conv_shortcut\.", ".skip."), (r"\.conv_norm_out\.", ".norm_out."),
    (r"\.attn\.group_norm\.", ".attn.norm."),
    (r"\.attn\.query\.", ".attn.to_q."), (r"\.attn\.key\.", ".attn.to_k."), (r"\.attn\.value\.", ".attn.to_v."),
    (r"\.attn\.proj_attn\.", ".attn.to_out."), (r"\.attn\.to_out\.0\.", ".attn.to_out."),
]


def convert_diffusers_vae_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a diffusers AutoencoderKL state dict to latentlab's names (values unchanged)."""
    out = {}
    for name, tensor in state.items():
        new = "." + name
        for pattern, repl in _RENAMES:
            new = re.sub(pattern, repl, new)
        new = new[1:]
        if ".attn.to_" in new and new.endswith(".weight") and tensor.ndim == 4:
            tensor = tensor[:, :, 0, 0]  # 1×1 conv attention weights (original LDM files) → linear
        out[new] = tensor
    return out


def infer_diffusers_vae_config(state: dict[str, torch.Tensor], norm_groups: int = 32,
                               scaling_factor: float = 0.18215) -> VAEConfig:
    """Read block channels, layers per block, latent channels and attention off the tensor shapes."""
    levels = sorted({int(m.group(1)) for k in state if (m := re.match(r"encoder\.down_blocks\.(\d+)\.", k))})
    if not levels or "decoder.conv_in.weight" not in state:
        raise CheckpointError("this does not look like a diffusers AutoencoderKL state dict "
                              "(no encoder.down_blocks.* or decoder.conv_in.weight)")
    channels = tuple(state[f"encoder.down_blocks.{i}.resnets.0.conv1.weight"].shape[0] for i in levels)
    layers = len({k.split(".")[4] for k in state if k.startswith("encoder.down_blocks.0.resnets.")})
    return VAEConfig(
        block_out_channels=channels, layers_per_block=layers,
        latent_channels=state["decoder.conv_in.weight"].shape[1], norm_groups=norm_groups,
        mid_attention=any(".mid_block.attentions." in k for k in state),
        use_quant_conv="quant_conv.weight" in state,
        in_channels=state["encoder.conv_in.weight"].shape[1], out_channels=state["decoder.conv_out.weight"].shape[0],
        scaling_factor=scaling_factor,
    )


def load_diffusers_vae(source, config: VAEConfig | None = None) -> AutoencoderKL:
    """A diffusers-layout AutoencoderKL → latentlab's `AutoencoderKL`.

    `source` is a state dict, a `.safetensors` file (e.g. `diffusion_pytorch_model.safetensors` of
    stabilityai/sd-vae-ft-mse that you already have on disk) or the folder holding it and its
    `config.json`. The config is read from `config.json` when there is one, else inferred from the
    tensor shapes (GroupNorm 32 and SD's scaling factor 0.18215 assumed).
    """
    norm_groups, scaling = 32, 0.18215
    if isinstance(source, dict):
        state, where = source, "the given state dict"
    else:
        path = Path(source)
        if path.is_dir():
            config_file = path / "config.json"
            if config_file.is_file():
                hf = json.loads(config_file.read_text())
                norm_groups = hf.get("norm_num_groups", norm_groups)
                scaling = hf.get("scaling_factor", scaling)
            path = path / "diffusion_pytorch_model.safetensors"
        if path.suffix != ".safetensors":
            raise CheckpointError(f"{path}: only .safetensors files are loaded (pickled .bin/.ckpt files can run code)")
        _existing(path)
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as err:
            raise CheckpointError(f"{path} could not be read (truncated or corrupt?): {err}") from err
        where = str(path)
    config = config or infer_diffusers_vae_config(state, norm_groups, scaling)
    vae = AutoencoderKL(config)
    load_state_into(vae, convert_diffusers_vae_state(state), where)
    return vae.float().eval()


# --- UNet weights in diffusers layout ----------------------------------------------------------

# diffusers UNet2DConditionModel names → ours, applied in order to a name with a leading dot.
_UNET_RENAMES = [
    (r"^\.time_embedding\.linear_1\.", ".time_mlp.0."), (r"^\.time_embedding\.linear_2\.", ".time_mlp.2."),
    (r"^\.conv_norm_out\.", ".norm_out."),
    (r"^\.(down|up)_blocks\.(\d+)\.resnets\.(\d+)\.", r".\1_blocks.\2.\3.resnet."),
    (r"^\.(down|up)_blocks\.(\d+)\.attentions\.(\d+)\.", r".\1_blocks.\2.\3.attention."),
    (r"^\.(down|up)_blocks\.(\d+)\.(down|up)samplers\.0\.", r".\3samplers.\2."),
    (r"^\.mid_block\.resnets\.0\.", ".mid_resnet1."), (r"^\.mid_block\.resnets\.1\.", ".mid_resnet2."),
    (r"^\.mid_block\.attentions\.0\.", ".mid_attention."),
    (r"\.transformer_blocks\.0\.", "."), (r"\.attn1\.", ".self_attn."), (r"\.attn2\.", ".cross_attn."),
    (r"\.to_out\.0\.", ".to_out."), (r"\.ff\.net\.0\.proj\.", ".mlp.0."), (r"\.ff\.net\.2\.", ".mlp.2."),
    (r"\.time_emb_proj\.", ".time_proj."), (r"\.conv_shortcut\.", ".skip."),
]


def convert_diffusers_unet_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a diffusers UNet2DConditionModel state dict to latentlab's `UNet` names (values unchanged).

    Only the layout latentlab's UNet has maps: one transformer block per attention, a GELU
    feed-forward (diffusers' default GEGLU has a projection twice as wide, refused here)."""
    out = {}
    for name, tensor in state.items():
        if ".transformer_blocks." in name and ".transformer_blocks.0." not in name:
            raise CheckpointError(f"{name}: latentlab's TransformerBlock2D holds one transformer block per attention")
        new = "." + name
        for pattern, repl in _UNET_RENAMES:
            new = re.sub(pattern, repl, new)
        out[new[1:]] = tensor
    for name, tensor in out.items():
        if name.endswith(".mlp.0.weight") and f"{name[:-len('0.weight')]}2.weight" in out:
            hidden = out[f"{name[:-len('0.weight')]}2.weight"].shape[1]
            if tensor.shape[0] == 2 * hidden:
                raise CheckpointError(f"{name}: a GEGLU feed-forward (diffusers' default); latentlab's UNet "
                                      "uses a GELU MLP, so build the diffusers model with activation_fn='gelu'")
    return out


def load_diffusers_unet(state: dict[str, torch.Tensor], config):
    """A diffusers UNet2DConditionModel state dict of the same architecture → latentlab's `UNet`."""
    from .unet import UNet

    unet = UNet(config)
    load_state_into(unet, convert_diffusers_unet_state(state), "the given diffusers UNet state dict")
    return unet.float().eval()
