"""What the bad-input battery (tests/test_bad_inputs_*.py) builds its hostile inputs from.

Each battery case asserts one exact outcome: the exception's type and the words of its message
that name the problem and the fix, or the documented behaviour. At the command line: the exit
code, the message on stderr, and never a traceback."""

from __future__ import annotations

import pickle
import struct
import zlib
from pathlib import Path

import torch

from latentlab.cli import main


class Payload:
    """Unpickling this touches `marker`: a file that would prove that a loader ran a pickle's code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def write_pickles(folder: Path, marker: Path) -> dict[str, Path]:
    """A malicious pickle under every name a checkpoint may have: plain pickles and torch.save's zip
    format, as .safetensors, .ckpt, .pt and .bin, and a diffusers folder whose weights are one."""
    plain = pickle.dumps({"state_dict": Payload(marker)})
    files = {}
    for name in ("evil.safetensors", "evil.ckpt", "evil.pt", "evil.bin"):
        files[name] = folder / name
        files[name].write_bytes(plain)
    files["zip.pt"] = folder / "zip.pt"
    torch.save({"state_dict": Payload(marker)}, files["zip.pt"])  # what a real .ckpt/.pt is
    files["zip.safetensors"] = folder / "zip.safetensors"
    files["zip.safetensors"].write_bytes(files["zip.pt"].read_bytes())
    diffusers = folder / "diffusers-vae"
    diffusers.mkdir()
    (diffusers / "config.json").write_text('{"_class_name": "AutoencoderKL", "scaling_factor": 0.18215}')
    (diffusers / "diffusion_pytorch_model.safetensors").write_bytes(plain)
    files["diffusers folder"] = diffusers
    only_bin = folder / "diffusers-bin"
    only_bin.mkdir()
    (only_bin / "config.json").write_text("{}")
    (only_bin / "diffusion_pytorch_model.bin").write_bytes(plain)
    files["diffusers .bin folder"] = only_bin
    assert not marker.exists()
    return files


def png_header(width: int, height: int) -> bytes:
    """A PNG file of a few dozen bytes that claims width×height pixels (a "decompression bomb")."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
            + chunk(b"IEND", b""))


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """`latentlab ARGV` in this process → (exit code, stdout, stderr); argparse's exit is an exit code.
    Fails the test on a traceback: the command line answers with a message, never with one."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, out, err
