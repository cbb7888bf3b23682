"""Training with several processes (torchrun, gloo on the CPU): each rank trains on its share of
every global batch, the weights are those of one process with the same batch, only rank 0
writes and prints, and a checkpoint resumes with another number of processes.

The runs are real `python -m torch.distributed.run --standalone --nproc-per-node 2 -m vit_studio
...` commands, compared with the same command run in one process.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from safetensors.torch import load_file

from tests.conftest import random_model
from tests.engine.training.helpers import colour_images, config, fresh
from tests.test_cli_train import SMALL, colour_folder
from vit_studio.cli import main
from vit_studio.engine.errors import StudioError
from vit_studio.engine.model import load_studio_model, save_model
from vit_studio.engine.training import load_checkpoint, loop, train
from vit_studio.engine.training.distributed import Group, current, process_group, shard_bounds

REPO = Path(__file__).resolve().parents[3]
# No augmentation and fp32, so that one process and two differ only by rounding; 3 steps an epoch.
EXACT = ["--batch-size", "16", "--lr", "3e-3", "--augment", "off", "--device", "cpu",
         "--precision", "fp32", "--epochs", "2"]  # fmt: skip
TOLERANCE = 1e-3
needs_gloo = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="needs torch.distributed"
)


def torchrun_test(test):
    """A test that starts torchrun: several seconds (two interpreters import torch)."""
    return pytest.mark.slow(needs_gloo(test))


def torchrun(*args, module="vit_studio", processes=2, succeeds=True):
    """Run `python -m MODULE ARGS` in `processes` processes under torchrun; its output."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={processes}", "-m", module, *map(str, args)]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert (done.returncode == 0) == succeeds, done.stdout + done.stderr
    return done.stdout, done.stderr


def largest_difference(a, b):
    return max((a[k] - b[k]).abs().max().item() for k in a)


def checkpoint_weights(model_path):
    return load_checkpoint(Path(model_path).with_suffix(".checkpoint.pt")).state["model"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    # 48 training images (3 steps of 16) and 12 validation images, 6 for each of 2 ranks.
    return colour_folder(tmp_path_factory.mktemp("data") / "colours", per_class=20)


@pytest.fixture(scope="module")
def one_process(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "m.safetensors"
    assert main(["train", str(folder), *SMALL, *EXACT, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def two_processes(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("two") / "m.safetensors"
    stdout, stderr = torchrun("train", folder, *SMALL, *EXACT, "--out", out)
    return out, stdout, stderr


# --- the same model as one process ----------------------------------------------------------------


@torchrun_test
def test_two_processes_learn_the_weights_of_one_with_the_same_global_batch(
    one_process, two_processes
):
    two, _, _ = two_processes
    assert largest_difference(load_file(one_process), load_file(two)) < TOLERANCE
    one_final, two_final = checkpoint_weights(one_process), checkpoint_weights(two)
    assert largest_difference(one_final, two_final) < TOLERANCE


@torchrun_test
def test_the_history_is_the_one_process_history(one_process, two_processes):
    one = load_checkpoint(one_process.with_suffix(".checkpoint.pt")).history
    two = load_checkpoint(two_processes[0].with_suffix(".checkpoint.pt")).history
    assert two[-1].train_loss < two[0].train_loss  # it learned
    for a, b in zip(one, two, strict=True):
        assert b.train_loss == pytest.approx(a.train_loss, abs=1e-5)
        assert (b.train_acc, b.val_acc) == (a.train_acc, a.val_acc)
        assert b.val_loss == pytest.approx(a.val_loss, abs=1e-5)
        assert b.val_class_acc == a.val_class_acc


@torchrun_test
def test_the_model_records_the_number_of_processes(one_process, two_processes):
    one = load_studio_model(one_process).meta.provenance["training"]
    two = load_studio_model(two_processes[0]).meta.provenance["training"]
    assert (one["world_size"], two["world_size"]) == (1, 2)


@torchrun_test
def test_only_rank_0_writes_and_prints(two_processes):
    out, stdout, stderr = two_processes
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "m.checkpoint.pt", "m.metrics.jsonl", "m.safetensors",
    ]  # fmt: skip
    assert len(out.with_suffix(".metrics.jsonl").read_text().splitlines()) == 3  # 2 epochs, end
    for once in ("3 classes, 48 training and 12 validation images", "pixels alone: ",
                 "training on 2 processes", "epoch 1/2", "epoch 2/2", "completed after 2 epochs",
                 f"model: {out}"):  # fmt: skip
        assert stdout.count(once) == 1, once
    assert "8 per process" in stdout
    assert "error" not in stderr


# --- resuming with another number of processes ----------------------------------------------------


@torchrun_test
def test_a_run_of_two_processes_resumes_in_one(folder, one_process, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    stdout, _ = torchrun("train", folder, *SMALL, *EXACT, "--out", out,
                         module="tests.engine.training.stop_after_one_epoch")  # fmt: skip
    assert "cancelled after 1 epoch" in stdout
    assert load_checkpoint(out.with_suffix(".checkpoint.pt")).epoch == 1

    assert main(["train", str(folder), "--out", str(out), "--resume"]) == 0
    assert "resuming" in capsys.readouterr().out
    assert largest_difference(checkpoint_weights(one_process), checkpoint_weights(out)) < TOLERANCE


@torchrun_test
def test_finetuning_with_two_processes_fits_the_same_head_and_weights(tmp_path):
    folder = colour_folder(tmp_path / "colours", per_class=10)
    base = save_model(random_model(), tmp_path / "base.safetensors")
    # Derived batch of 8 with a linear probe first: both run on every rank.
    args = ["finetune", folder, "--model", base, "--epochs", "2", "--augment", "off",
            "--device", "cpu", "--precision", "fp32"]  # fmt: skip
    one, two = tmp_path / "one.safetensors", tmp_path / "two.safetensors"
    assert main([*map(str, args), "--out", str(one)]) == 0
    stdout, _ = torchrun(*args, "--out", two)
    assert "started from the probe's head" in stdout and "training on 2 processes" in stdout
    assert largest_difference(checkpoint_weights(one), checkpoint_weights(two)) < TOLERANCE


@torchrun_test
def test_a_batch_that_does_not_split_evenly_stops_every_process_with_one_line(folder, tmp_path):
    flags = [*EXACT, "--batch-size", "15"]  # the later flag wins
    stdout, stderr = torchrun("train", folder, *SMALL, *flags, "--out", tmp_path / "m.safetensors",
                              succeeds=False)  # fmt: skip
    errors = [line for line in stderr.splitlines() if line.startswith("vit-studio: error")]
    assert len(errors) == 1 and "use a batch size that is a multiple of 2" in errors[0]
    assert "epoch 1" not in stdout and not list(tmp_path.iterdir())


# --- the pieces, in one process -------------------------------------------------------------------


def test_without_torchrun_there_is_one_process_and_nothing_to_join():
    with process_group() as group:
        assert group == Group() == current()
        assert not group.distributed and group.is_main
        batch = torch.arange(16)
        assert torch.equal(group.share(batch), batch)
        assert group.augment_seed(123) == 123


def test_each_rank_takes_its_contiguous_share_of_a_global_batch():
    batch = torch.arange(100, 112)
    shares = [Group(rank=r, world_size=3).share(batch) for r in range(3)]
    assert torch.equal(torch.cat(shares), batch)
    assert [len(s) for s in shares] == [4, 4, 4]


def test_shards_of_the_validation_images_cover_them_once():
    for total in (0, 1, 5, 12):
        bounds = [shard_bounds(total, r, 4) for r in range(4)]
        assert bounds[0][0] == 0 and bounds[-1][1] == total
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))


def test_ranks_other_than_0_augment_with_streams_of_their_own():
    seeds = {Group(rank=r, world_size=4).augment_seed(7) for r in range(4)}
    assert len(seeds) == 4 and 7 in seeds


def test_a_batch_that_does_not_split_over_the_processes_is_refused(monkeypatch):
    monkeypatch.setattr(loop, "current", lambda: Group(rank=0, world_size=3))
    with pytest.raises(StudioError, match="multiple of 3.*--batch-size 15"):
        train(fresh(), colour_images(48), None, config(batch_size=16))
