"""Checkpoints: safetensors files with their config and metrics in the metadata. Never pickle.

A latentlab checkpoint is one `.safetensors` file whose string metadata holds
    format      "latentlab-1"
    kind        "vae", "vae-train", ... (what the tensors are)
    config      the model's config as JSON (so the file alone rebuilds the model)
    metrics     JSON: what it scored, how long it trained, on what
    version     the latentlab version that wrote it
Writes are atomic (`atomic.atomic_write`: a temporary `.NAME.tmp-PID`, then `os.replace`), so a crash,
Ctrl-C or kill -9 mid-write never leaves a half-written checkpoint where a good one was.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from .atomic import atomic_write
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
    return atomic_write(path, lambda tmp: save_file(out, str(tmp), metadata=metadata))


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
    for field in ("config", "metrics"):
        try:
            parsed[field] = json.loads(meta.get(field) or "{}")
        except json.JSONDecodeError as err:
            raise CheckpointError(f"{path}: metadata field {field!r} should be JSON but is not ({err}); "
                                  f"found {meta[field][:80]!r}") from err
        if not isinstance(parsed[field], dict):
            raise CheckpointError(f"{path}: metadata field {field!r} should be a JSON object {{...}}, "
                                  f"found {type(parsed[field]).__name__}")
    return tensors, parsed


def config_from_dict(cls, data: dict, where: str, prefix: str = ""):
    """The config dataclass `cls` built from a dict read off a file, or a CheckpointError naming the
    file, the field and what was expected: an unknown field (a file from another version?), a value of
    the wrong type, or one the config itself refuses (e.g. a scaling factor of 0)."""
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise CheckpointError(f"{where}: unknown config field(s) {', '.join(prefix + u for u in unknown)}; "
                              f"a {cls.__name__} has {', '.join(sorted(fields))} (written by another latentlab "
                              "version?)")
    hints = typing.get_type_hints(cls)
    values = {name: _field_value(hints[name], value, where, prefix + name) for name, value in data.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{where}: its config is not a valid {cls.__name__}: {err}") from err


def _field_value(hint, value, where: str, field: str):
    """`value` checked against the annotation `hint`: int, float, bool, str, X | None, tuple[X, ...]
    or a nested config dataclass."""
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise CheckpointError(f"{where}: config field {field!r} should be an object {{...}}, found {value!r}")
        return config_from_dict(hint, value, where, prefix=field + ".")
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        inner = next(a for a in args if a is not type(None))
        return None if value is None else _field_value(inner, value, where, field)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise CheckpointError(f"{where}: config field {field!r} should be a list, found {value!r}")
        return tuple(_field_value(args[0], item, where, f"{field}[{i}]") for i, item in enumerate(value))
    accepted = {int: (int,), float: (int, float), bool: (bool,), str: (str,)}.get(hint)
    if accepted is None:
        return value  # a type this check does not know: the config's own __post_init__ judges it
    if not isinstance(value, accepted) or (hint is not bool and isinstance(value, bool)):
        raise CheckpointError(f"{where}: config field {field!r} should be {hint.__name__}, "
                              f"found {value!r} ({type(value).__name__})")
    return float(value) if hint is float else value


def _existing(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    return path


def _build_vae(config: VAEConfig, tensors: dict[str, torch.Tensor], source: str) -> AutoencoderKL:
    """The VAE with `tensors` loaded, checked first against a skeleton on the meta device (no memory):
    a file whose config claims a huge model is refused instead of allocating gigabytes."""
    with torch.device("meta"):
        skeleton = AutoencoderKL(config).state_dict()
    _check_fits(skeleton, tensors, source)
    vae = AutoencoderKL(config)
    load_state_into(vae, tensors, source)
    return vae


def _check_fits(expected: dict[str, torch.Tensor], tensors: dict[str, torch.Tensor], source: str) -> None:
    """One CheckpointError listing every missing, extra or misshapen tensor."""
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


def load_state_into(model: torch.nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Copy `tensors` into `model`, raising one error that lists every missing, extra or misshapen
    tensor, or names the tensors holding NaN/inf (the weights of a training run that diverged)."""
    expected = model.state_dict()
    _check_fits(expected, tensors, source)
    broken = [f"{k} ({int((~torch.isfinite(t)).sum())} of {t.numel()} values)" for k, t in tensors.items()
              if t.is_floating_point() and not torch.isfinite(t).all()]
    if broken:
        more = f" (+{len(broken) - 5} more)" if len(broken) > 5 else ""
        raise CheckpointError(f"{source} holds NaN/inf weights in {', '.join(broken[:5])}{more}: the run that "
                              "wrote it diverged; use an earlier checkpoint or train again")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()})


def save_vae(path, vae: AutoencoderKL, metrics: dict | None = None, dtype: torch.dtype = torch.float16) -> Path:
    """Ship a VAE: fp16 weights, config (with its scaling factor) and metrics."""
    return save_checkpoint(path, vae.state_dict(), "vae", vae.config.to_json(), metrics, dtype=dtype)


def load_vae(path, config: VAEConfig | None = None) -> AutoencoderKL:
    """Rebuild a VAE from a latentlab checkpoint (float32, eval mode).

    If `config` is given it must match the file's, so a caller who expects f8c4 never silently gets f16c16."""
    tensors, meta = load_checkpoint(path, kind="vae")
    file_config = config_from_dict(VAEConfig, meta["config"], str(path))
    if config is not None:
        # The latent's scale and shift are measured from data; the architecture must match.
        theirs, ours = (dataclasses.replace(c, scaling_factor=1.0, shift_factor=0.0) for c in (file_config, config))
        if ours != theirs:
            diff = {k: (getattr(theirs, k), getattr(ours, k)) for k in dataclasses.asdict(ours)
                    if getattr(theirs, k) != getattr(ours, k)}
            raise CheckpointError(f"{path} has another VAE config; differing fields (file, expected): {diff}")
    vae = _build_vae(file_config, tensors, str(path))
    vae.metrics = meta["metrics"]
    return vae.float().eval()


def shipped_models(kind: str | None = None) -> list[str]:
    """Names of the checkpoints inside the package, e.g. ['ldm-shapes', 'vae-f16c16', …]; with
    `kind` ('vae', 'ldm', 'shapes-evaluator') only the files of that kind (read from their metadata)."""
    paths = sorted(WEIGHTS_DIR.glob("*.safetensors"))
    return [p.stem for p in paths if kind is None or read_metadata(p).get("kind") == kind]


def save_ldm(path, model, metrics: dict | None = None, dtype: torch.dtype = torch.float16) -> Path:
    """Ship a text-to-image model (`latentlab.ldm.LatentDiffusion`): UNet and text encoder in one file."""
    return save_checkpoint(path, model.state_dict(), "ldm", model.config.to_json(), metrics, dtype=dtype)


def load_ldm(path):
    """Rebuild a `LatentDiffusion` from a latentlab checkpoint (float32, eval mode)."""
    from .ldm import LatentDiffusion, LDMConfig

    tensors, meta = load_checkpoint(path, kind="ldm")
    config = config_from_dict(LDMConfig, meta["config"], str(path))
    model = LatentDiffusion(config)
    load_state_into(model, tensors, str(path))
    model.metrics = meta["metrics"]
    return model.float().eval()


def load_pretrained(name: str, kind: str | None = None):
    """A shipped model by name (no download: the file is inside the package): a VAE or an LDM.

    kind: 'vae' or 'ldm' to insist on one (a clear error otherwise)."""
    path = WEIGHTS_DIR / f"{name}.safetensors"
    if not path.is_file():
        raise CheckpointError(f"no shipped model {name!r}; shipped: {', '.join(shipped_models(kind)) or 'none'}")
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


# Tensors whose shapes give the architecture away; a state dict without them is not a diffusers VAE.
_DIFFUSERS_VAE_KEYS = ("encoder.conv_in.weight", "encoder.down_blocks.0.resnets.0.conv1.weight",
                       "decoder.conv_in.weight", "decoder.conv_out.weight")


def infer_diffusers_vae_config(state: dict[str, torch.Tensor], norm_groups: int = 32,
                               scaling_factor: float = 0.18215, shift_factor: float = 0.0,
                               where: str = "the given state dict") -> VAEConfig:
    """Read block channels, layers per block, latent channels and attention off the tensor shapes."""
    missing = [k for k in _DIFFUSERS_VAE_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"{where} does not look like a diffusers AutoencoderKL state dict: no "
                              f"{', '.join(missing)} (expected {', '.join(_DIFFUSERS_VAE_KEYS)}); "
                              "a latentlab checkpoint loads with checkpoints.load_vae")
    levels = sorted({int(m.group(1)) for k in state if (m := re.match(r"encoder\.down_blocks\.(\d+)\.", k))})
    channels = tuple(state[f"encoder.down_blocks.{i}.resnets.0.conv1.weight"].shape[0] for i in levels)
    layers = len({k.split(".")[4] for k in state if k.startswith("encoder.down_blocks.0.resnets.")})
    return VAEConfig(
        block_out_channels=channels, layers_per_block=layers,
        latent_channels=state["decoder.conv_in.weight"].shape[1], norm_groups=norm_groups,
        mid_attention=any(".mid_block.attentions." in k for k in state),
        use_quant_conv="quant_conv.weight" in state,
        in_channels=state["encoder.conv_in.weight"].shape[1], out_channels=state["decoder.conv_out.weight"].shape[0],
        scaling_factor=scaling_factor, shift_factor=shift_factor,
    )


def read_diffusers_vae_config(config_file: Path) -> dict:
    """{'norm_groups', 'scaling_factor', 'shift_factor'} from a diffusers AutoencoderKL's config.json
    (SD v1/v2 have no shift; SD3 and FLUX store one, or null for none)."""
    try:
        hf = json.loads(config_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{config_file} is not valid JSON ({err}); expected diffusers' AutoencoderKL "
                              "config, e.g. {\"scaling_factor\": 0.18215, \"norm_num_groups\": 32, ...}") from err
    if not isinstance(hf, dict):
        raise CheckpointError(f"{config_file} should hold a JSON object {{...}}, found {type(hf).__name__}")
    wanted = {"norm_num_groups": ("norm_groups", int, 32), "scaling_factor": ("scaling_factor", float, 0.18215),
              "shift_factor": ("shift_factor", float, 0.0)}
    out = {}
    for key, (name, kind, default) in wanted.items():
        value = hf.get(key)
        if value is None:
            value = default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
            raise CheckpointError(f"{config_file}: field {key!r} should be a number ({kind.__name__}), found {value!r}")
        out[name] = kind(value)
    return out


def load_diffusers_vae(source, config: VAEConfig | None = None) -> AutoencoderKL:
    """A diffusers-layout AutoencoderKL → latentlab's `AutoencoderKL`.

    `source` is a state dict, a `.safetensors` file (e.g. `diffusion_pytorch_model.safetensors` of
    stabilityai/sd-vae-ft-mse that you already have on disk) or the folder holding it and its
    `config.json`. The config is read from `config.json` when there is one (GroupNorm groups, scaling
    factor and, for SD3/FLUX-style VAEs, the shift factor), else inferred from the tensor shapes
    (GroupNorm 32, SD's scaling factor 0.18215 and no shift assumed).
    """
    settings = {}
    if isinstance(source, dict):
        state, where = source, "the given state dict"
    else:
        path = Path(source)
        if not path.exists():
            raise CheckpointError(f"no file or folder at {path}; expected a diffusers VAE folder or its "
                                  "diffusion_pytorch_model.safetensors (only .safetensors files are loaded)")
        if path.is_dir():
            if (path / "config.json").is_file():
                settings = read_diffusers_vae_config(path / "config.json")
            if not (path / "diffusion_pytorch_model.safetensors").is_file() and any(path.glob("*.bin")):
                raise CheckpointError(f"{path} holds only pickled weights (.bin), which can run code when loaded: "
                                      "latentlab reads diffusion_pytorch_model.safetensors only (diffusers' "
                                      "save_pretrained writes it)")
            path = path / "diffusion_pytorch_model.safetensors"
        if path.suffix != ".safetensors":
            raise CheckpointError(f"{path}: only .safetensors files are loaded (pickled .bin/.ckpt files can run code)")
        _existing(path)
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as err:
            raise CheckpointError(f"{path} could not be read (truncated or corrupt?): {err}") from err
        where = str(path)
    if config is None:
        try:
            config = infer_diffusers_vae_config(state, where=where, **settings)
        except ValueError as err:  # VAEConfig refusing what was read, e.g. a scaling factor of 0
            if isinstance(err, CheckpointError):
                raise
            raise CheckpointError(f"{where}: {err}") from err
    vae = _build_vae(config, convert_diffusers_vae_state(state), where)
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
