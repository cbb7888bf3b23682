"""The fine-tune plan: settings left open are derived from the data, chosen ones are kept."""

from pathlib import Path

import pytest

from tests.conftest import TINY_ARCH, random_model, write_image
from vit_studio.engine.augment import AugmentConfig
from vit_studio.engine.data import FolderScan, ImageItem
from vit_studio.engine.errors import StudioError
from vit_studio.engine.finetune import (
    SPLIT_SEED,
    default_batch_size,
    default_epochs,
    default_freeze,
    plan_finetune,
    prepare_inputs,
    resume_inputs,
    scan_training_folder,
)
from vit_studio.engine.training import default_lr


def fake_scan(per_class: int, classes: int = 10, val_per_class: int = 0) -> FolderScan:
    """A scan of `classes` classes with `per_class` training images each (no files needed)."""
    names = tuple(f"class{k}" for k in range(classes))
    train = tuple(
        ImageItem(Path(f"{k}/{i}.png"), k) for k in range(classes) for i in range(per_class)
    )
    val = tuple(
        ImageItem(Path(f"{k}/v{i}.png"), k) for k in range(classes) for i in range(val_per_class)
    )
    return FolderScan(Path("folder"), names, train, val, (), 0, False)


def test_a_few_hundred_images_get_a_few_hundred_steps_with_the_last_half_of_the_blocks():
    plan = plan_finetune(fake_scan(per_class=80), TINY_ARCH)  # 800 training images
    config = plan.config
    assert config.batch_size == 64  # a tenth of 800 is 80: the largest power of two below, max 64
    assert config.epochs == 25  # 12 steps per epoch -> 300 steps
    assert config.freeze == "1"  # 80 images in the smallest class: half of the 3 blocks
    assert config.lr == default_lr(64, finetune=False)  # part of the model is frozen
    assert config.warmup_epochs == 1.25 and config.augment == AugmentConfig.light()
    assert plan.image_size == TINY_ARCH.image_size
    assert set(plan.reasons) == {
        "image_size", "batch_size", "epochs", "freeze", "lr", "warmup_epochs", "augment"
    }  # fmt: skip
    assert "smallest class has 80 training images" in plan.reasons["freeze"]


@pytest.mark.parametrize(
    ("images", "batch"), [(5, 8), (100, 8), (200, 16), (640, 64), (50_000, 64)]
)
def test_the_batch_is_a_power_of_two_near_a_tenth_of_the_images(images, batch):
    assert default_batch_size(images) == batch


def test_epochs_aim_at_300_steps_within_bounds():
    assert default_epochs(800, 64) == 25
    assert default_epochs(24, 8) == 50  # 3 steps per epoch: capped
    assert default_epochs(100_000, 64) == 3  # one epoch is plenty of steps: at least 3


def test_less_of_the_network_trains_the_fewer_images_the_smallest_class_has():
    assert default_freeze(5, 12) == "backbone"
    assert default_freeze(50, 12) == "6"
    assert default_freeze(500, 12) == "none"


def test_chosen_settings_are_kept_and_the_learning_rate_follows_them():
    plan = plan_finetune(fake_scan(per_class=80), TINY_ARCH, batch_size=32, freeze="none", seed=7)
    config = plan.config
    assert (config.batch_size, config.freeze, config.seed) == (32, "none", 7)
    assert config.lr == default_lr(32, finetune=True)  # every layer trains: the smaller rate
    assert config.epochs == 12  # 25 steps per epoch
    assert {"batch_size", "freeze", "seed"}.isdisjoint(plan.reasons)
    assert plan_finetune(fake_scan(80), TINY_ARCH, lr=0.01, epochs=40).config.warmup_epochs == 2.0
    assert plan_finetune(fake_scan(80), TINY_ARCH, lr=0.01).config.lr == 0.01


def test_runtime_settings_pass_through_and_bad_values_are_refused():
    assert plan_finetune(fake_scan(80), TINY_ARCH, device="cpu").config.device == "cpu"
    with pytest.raises(StudioError, match="epochs must be at least 1"):
        plan_finetune(fake_scan(80), TINY_ARCH, epochs=0)


def test_the_plan_describes_itself_in_one_line():
    text = plan_finetune(fake_scan(per_class=10), TINY_ARCH).describe()
    assert text == (
        "25 epochs, batches of 8, learning rate 3.13e-05, only the new head trains, 32 px, seed 0"
    )


@pytest.fixture
def folder(tmp_path):
    for k, name in enumerate(("a", "b")):
        for i in range(5):
            write_image(tmp_path / "data" / name / f"{i}.png", size=(20, 20), seed=10 * k + i)
    return tmp_path / "data"


def test_inputs_are_the_prepared_model_and_the_images_at_its_size(folder):
    scan = scan_training_folder(folder, 0.2)
    plan = plan_finetune(scan, TINY_ARCH, image_size=24)
    stages = []
    inputs = prepare_inputs(
        random_model(), scan, plan, val_share=0.2, base_path="base.safetensors", name="mine",
        progress=lambda what, done, total: stages.append(what),
    )  # fmt: skip
    assert inputs.model.meta.name == "mine" and inputs.model.meta.class_names == ("a", "b")
    assert inputs.model.arch.image_size == 24 and inputs.train.images.shape[1:] == (3, 24, 24)
    assert (len(inputs.train.labels), len(inputs.val.labels)) == (8, 2)
    assert inputs.data == {
        "val_share": 0.2, "split_seed": SPLIT_SEED, "base_model": "base.safetensors"
    }  # fmt: skip
    assert "loading training images at 24 px" in stages


class _Checkpoint:
    """What `resume_inputs` reads of a checkpoint: its model and provenance."""

    provenance = {"data": {"val_share": 0.2}}

    def model(self):
        return random_model()  # classes "class 0".."class 4"


def test_resuming_on_a_folder_with_other_classes_is_refused(folder):
    with pytest.raises(StudioError, match="resume on the same folder"):
        resume_inputs(_Checkpoint(), scan_training_folder(folder))
