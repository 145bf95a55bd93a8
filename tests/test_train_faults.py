"""Faults a training run must survive (issue 13): a real Ctrl-C, kill -9 during a save, a run
directory that already holds a run, outputs that cannot be written, and run checkpoints written by
an earlier latentlab. Tiny VAE, a few steps each."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, safe_open

from latentlab import checkpoints, harness
from latentlab.harness import DeferredInterrupt
from latentlab.runfiles import RunExistsError
from latentlab.train import VAETrainSettings, train_vae
from latentlab.vae import VAEConfig

REPO = Path(__file__).resolve().parent.parent
TINY = ["train", "vae", "--preset", "tiny", "--batch-size", "2", "--patch-size", "32"]


def _settings(steps: int) -> VAETrainSettings:
    return VAETrainSettings(steps=steps, batch_size=2, patch_size=32, checkpoint_every=1e9)


def _run_file(path: Path) -> tuple[dict, dict]:
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    return load_file(str(path)), meta


def _assert_same_run_state(a: Path, b: Path) -> None:
    """Every tensor (weights, Adam moments and counts, RNG) and the step and data RNG are identical."""
    (ta, ma), (tb, mb) = _run_file(a), _run_file(b)
    assert sorted(ta) == sorted(tb)
    for name in ta:
        torch.testing.assert_close(tb[name], ta[name], rtol=0, atol=0, msg=name)
    assert (ma["step"], ma["data_rng"]) == (mb["step"], mb["data_rng"])


# The child runs the real command line. Its third batch blocks (after drawing from the data RNG,
# i.e. in the middle of step 3) until the parent has sent SIGINT and then a line on stdin.
_CHILD = """
import sys
from latentlab.cli import main
from latentlab.data import PhotoPatches

draw, calls = PhotoPatches.batch, []
def batch(self, n):
    x = draw(self, n)
    calls.append(n)
    if len(calls) == 3:
        print("inside step 3", file=sys.stderr, flush=True)
        sys.stdin.readline()
    return x
PhotoPatches.batch = batch
sys.exit(main(sys.argv[1:]))
"""


def test_a_real_ctrl_c_lands_between_steps_and_resume_is_bit_exact(tmp_path):
    args = [*TINY, "--steps", "6", "--run-dir", str(tmp_path / "run"), "--out", str(tmp_path / "a.safetensors")]
    env = dict(os.environ, OMP_NUM_THREADS=str(torch.get_num_threads()))  # the same sums as this process
    child = subprocess.Popen([sys.executable, "-c", _CHILD, *args], cwd=REPO, env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in child.stderr:
        if "inside step 3" in line:
            break
    child.send_signal(signal.SIGINT)  # lands while step 3 is half done
    stdout, stderr = child.communicate("go on\n", timeout=300)
    assert child.returncode == 130, stderr
    assert "interrupted at step 3" in stderr and "interrupted at step" not in stdout  # messages: stderr
    assert json.loads(stdout)["steps"] == 3
    assert checkpoints.load_vae(tmp_path / "a.safetensors").metrics["steps"] == 3  # the model was saved too

    from latentlab.cli import main

    assert main([*args, "--resume"]) == 0
    assert main([*TINY, "--steps", "6", "--run-dir", str(tmp_path / "straight"),
                 "--out", str(tmp_path / "b.safetensors")]) == 0
    _assert_same_run_state(tmp_path / "straight" / "last.safetensors", tmp_path / "run" / "last.safetensors")


def test_a_second_ctrl_c_quits_at_once_and_the_handler_is_restored():
    before = signal.getsignal(signal.SIGINT)
    with DeferredInterrupt() as interrupt:
        signal.raise_signal(signal.SIGINT)
        assert interrupt.requested  # the first one only asks
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


_WRITER = """
import sys
from pathlib import Path
from latentlab.atomic import atomic_write

def write(tmp):
    tmp.write_bytes(b"the first half of a checkpoint")
    print("writing", flush=True)
    sys.stdin.readline()  # killed here

atomic_write(Path(sys.argv[1]), write)
"""


def test_kill_9_during_a_save_keeps_the_previous_file_and_the_next_start_cleans_up(tmp_path):
    run = tmp_path / "run"
    train_vae(VAEConfig.tiny(), None, _settings(2), run_dir=run, progress=False)
    before = (run / "last.safetensors").read_bytes()

    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(run / "last.safetensors")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline() == "writing\n"
    orphan = run / f".last.safetensors.tmp-{writer.pid}"
    assert orphan.is_file()  # recognisable: hidden, named after its target and its writer
    writer.kill()
    writer.wait()
    legacy = run / "last.safetensors.k3x9_q2a.tmp"  # what latentlab 0.1's mkstemp left
    legacy.write_bytes(b"stale")
    alive = run / f".latents.safetensors.tmp-{os.getppid()}"  # a writer that is still running
    alive.write_bytes(b"in progress")
    assert (run / "last.safetensors").read_bytes() == before  # the previous file is intact

    with pytest.warns(UserWarning, match="killed run"):
        _, metrics = train_vae(VAEConfig.tiny(), None, _settings(3), run_dir=run, resume=True, progress=False)
    assert metrics["steps"] == 3
    assert not orphan.exists() and not legacy.exists() and alive.exists()
    assert sorted(p.name for p in run.iterdir()) == [alive.name, "last.safetensors"]


def test_a_new_run_refuses_a_directory_that_holds_a_run(tmp_path):
    run = tmp_path / "run"
    train_vae(VAEConfig.tiny(), None, _settings(2), run_dir=run, progress=False)
    before = (run / "last.safetensors").read_bytes()
    with pytest.raises(RunExistsError, match=r"step 2 of 2.*--resume.*another --run-dir.*--overwrite"):
        train_vae(VAEConfig.tiny(), None, _settings(1), run_dir=run, progress=False)
    assert (run / "last.safetensors").read_bytes() == before

    from latentlab.cli import main

    assert main([*TINY, "--steps", "1", "--run-dir", str(run), "--out", str(tmp_path / "m.safetensors")]) == 2
    assert (run / "last.safetensors").read_bytes() == before and not (tmp_path / "m.safetensors").exists()

    _, metrics = train_vae(VAEConfig.tiny(), None, _settings(1), run_dir=run, overwrite=True, progress=False)
    assert metrics["steps"] == 1 and checkpoints.read_metadata(run / "last.safetensors")["step"] == "1"


@pytest.mark.parametrize("where", ["run_dir", "out"])
def test_an_unwritable_output_is_refused_before_the_first_step(tmp_path, where):
    (tmp_path / "a-file").write_text("a file, so nothing can be created under it")
    blocked = tmp_path / "a-file" / "inside"
    places = {"run_dir": tmp_path / "run", "out": tmp_path / "m.safetensors"}
    places[where] = blocked if where == "run_dir" else blocked / "m.safetensors"
    steps = []
    with pytest.raises(PermissionError, match="cannot write in .*a-file"):
        train_vae(VAEConfig.tiny(), places["out"], _settings(2), run_dir=places["run_dir"], progress=False,
                  callback=lambda step, numbers, vae: steps.append(step), callback_every=1)
    assert steps == []  # refused before any training


def test_a_failed_final_save_is_rescued_elsewhere_and_says_where(tmp_path, monkeypatch):
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    run, out_dir = tmp_path / "run", tmp_path / "out"

    def break_both_folders(step, numbers, vae):  # e.g. a disk unmounted during training
        if step != 1:
            return
        for folder in (run, out_dir):
            for f in folder.iterdir():
                f.unlink()
            folder.rmdir()
            folder.write_text("no longer a folder")

    with pytest.warns(UserWarning) as warned:
        vae, metrics = train_vae(VAEConfig.tiny(), out_dir / "m.safetensors", _settings(2), run_dir=run,
                                 progress=False, callback=break_both_folders, callback_every=1)
    messages = " ".join(str(w.message) for w in warned)
    assert metrics["out"] == str(here / "m.safetensors") and f"saved the model to {here / 'm.safetensors'}" in messages
    assert checkpoints.load_vae(here / "m.safetensors").metrics["steps"] == 2
    rescued = here / "run-rescued" / "last.safetensors"
    assert f"--run-dir {rescued.parent} --resume" in messages
    assert checkpoints.read_metadata(rescued)["step"] == "2"


def _legacy_save_run(path, vae, opt, step, elapsed, data_rng, settings):
    """latentlab 0.1's `train._save_run`, verbatim but for the data RNG argument: the layout of the
    run checkpoints of runs started before the harness, which must keep resuming."""
    tensors = {f"model.{k}": v for k, v in vae.state_dict().items()}
    tensors.update({f"optim.{index}.{key}": torch.as_tensor(value)
                    for index, state in opt.state_dict()["state"].items() for key, value in state.items()})
    tensors["rng.torch"] = torch.get_rng_state()
    extra = {"step": str(step), "elapsed": repr(elapsed), "data_rng": json.dumps(data_rng.bit_generator.state),
             "settings": json.dumps({k: v for k, v in settings.__dict__.items() if k != "extra_metrics"})}
    checkpoints.save_checkpoint(path, tensors, "vae-train", vae.config.to_json(), extra=extra)


def test_a_run_checkpoint_in_the_original_layout_still_resumes_exactly(tmp_path, monkeypatch):
    def legacy(files, task, step, elapsed, settings, final=False):
        _legacy_save_run(files.run_path, task.modules["model"], task.optimizer, step, elapsed,
                         task.numpy_rngs["data"], settings)

    def ctrl_c(step, numbers, vae):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(harness, "save_run_checkpoint", legacy)
        train_vae(VAEConfig.tiny(), None, _settings(4), run_dir=tmp_path / "old", progress=False,
                  callback=ctrl_c, callback_every=2)
    assert checkpoints.read_metadata(tmp_path / "old" / "last.safetensors")["step"] == "2"
    train_vae(VAEConfig.tiny(), None, _settings(4), run_dir=tmp_path / "old", resume=True, progress=False)
    train_vae(VAEConfig.tiny(), None, _settings(4), run_dir=tmp_path / "new", progress=False)
    _assert_same_run_state(tmp_path / "new" / "last.safetensors", tmp_path / "old" / "last.safetensors")


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    from latentlab.atomic import atomic_write, atomic_write_text

    target = atomic_write_text(tmp_path / "result.json", '{"good": true}')

    def fails_halfway(tmp: Path) -> None:
        tmp.write_text('{"half')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, fails_halfway)
    assert target.read_text() == '{"good": true}' and [p.name for p in tmp_path.iterdir()] == ["result.json"]
