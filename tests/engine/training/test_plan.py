"""Plans: settings left open are derived from the data (fine-tune) or are the from-scratch
defaults (train), chosen ones are kept, and every derived one says why."""

from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import TINY_ARCH
from vit_studio.engine.augment import AugmentConfig
from vit_studio.engine.data import FolderScan, ImageItem
from vit_studio.engine.errors import StudioError
from vit_studio.engine.training import TrainConfig, default_lr
from vit_studio.engine.training.mirror_test import MirrorTest
from vit_studio.engine.training.plan import (
    BATCH_RANGE,
    EPOCH_RANGE,
    FINETUNE_LR,
    FULL_FROM,
    LAYER_DECAY,
    MIN_BUDGET_MINUTES,
    MIN_PATIENCE,
    TARGET_STEPS,
    config_fields,
    config_values,
    default_batch_size,
    default_budget_minutes,
    default_epochs,
    default_freeze,
    default_patience,
    finetune_lr,
    plan_finetune,
    plan_train,
    resolve_flip,
)
from vit_studio.engine.training.settings import FINETUNE, setting


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


def test_a_few_hundred_images_train_every_layer_from_a_probed_head_for_400_steps():
    plan = plan_finetune(fake_scan(per_class=80), TINY_ARCH)  # 800 training images
    config = plan.config
    assert config.batch_size == 64  # a tenth of 800 is 80: the largest power of two below, max 64
    assert config.epochs == 33  # 12 steps per epoch -> about 400 steps
    assert config.freeze == "none" and config.layer_decay == 0.75 and config.probe_head
    assert config.lr == finetune_lr(64, "none") == 5e-4
    assert config.warmup_epochs == 1.65 and config.augment == AugmentConfig.gentle()
    assert plan.image_size == TINY_ARCH.image_size
    assert set(plan.reasons) == {
        "image_size", "batch_size", "epochs", "freeze", "lr", "warmup_epochs", "augment",
        "flip", "layer_decay", "probe_head", "max_minutes", "fit_epochs", "patience",
    }  # fmt: skip
    assert config.flip == "auto" and config.keep_start  # never worse than where it starts
    assert "smallest class has 80 training images" in plan.reasons["freeze"]
    assert (config.max_minutes, config.fit_epochs) == (6.7, True)  # half a second per image


def test_derived_epochs_come_with_a_time_budget_that_chosen_epochs_do_not():
    assert default_budget_minutes(600) == 5.0
    assert default_budget_minutes(50) == 5.0  # a small folder gets the minimum
    assert default_budget_minutes(3000) == 25.0
    chosen = plan_finetune(fake_scan(80), TINY_ARCH, epochs=40).config
    assert (chosen.max_minutes, chosen.fit_epochs) == (None, False)
    own_budget = plan_finetune(fake_scan(80), TINY_ARCH, max_minutes=2.0)
    assert own_budget.config.max_minutes == 2.0 and own_budget.config.fit_epochs
    assert "max_minutes" not in own_budget.reasons
    no_fitting = plan_finetune(fake_scan(80), TINY_ARCH, fit_epochs=False).config
    assert no_fitting.max_minutes == 6.7 and not no_fitting.fit_epochs


def test_the_help_texts_state_the_rules_the_plan_uses():
    def default(name):
        return setting(FINETUNE, name).default_for(FINETUNE)

    assert f"about {TARGET_STEPS} steps" in default("epochs")
    assert f"from {EPOCH_RANGE[0]} to {EPOCH_RANGE[1]} epochs" in default("epochs")
    assert f"from {BATCH_RANGE[0]} to {BATCH_RANGE[1]}" in default("batch_size")
    assert f"{FINETUNE_LR:.0e} × batch/128".replace("e-0", "e-") in default("lr")
    assert f"under {FULL_FROM} images" in default("freeze")
    assert str(LAYER_DECAY) == default("layer_decay")
    assert f"at least {MIN_BUDGET_MINUTES:g} min" in default("max_minutes")


@pytest.mark.parametrize(
    ("images", "batch"), [(5, 8), (100, 8), (200, 16), (640, 64), (50_000, 64)]
)
def test_the_batch_is_a_power_of_two_near_a_tenth_of_the_images(images, batch):
    assert default_batch_size(images) == batch


def test_epochs_aim_at_400_steps_within_bounds():
    assert default_epochs(800, 64) == 33
    assert default_epochs(24, 8) == 60  # 3 steps per epoch: capped
    assert default_epochs(100_000, 64) == 3  # one epoch is plenty of steps: at least 3


def test_every_layer_trains_unless_the_smallest_class_is_tiny():
    assert default_freeze(5) == "backbone"
    assert default_freeze(10) == default_freeze(500) == "none"
    assert finetune_lr(64, "backbone") == 2.5e-4  # the head alone: the larger rate


def test_chosen_settings_are_kept_and_the_learning_rate_follows_them():
    plan = plan_finetune(fake_scan(per_class=80), TINY_ARCH, batch_size=32, freeze="none", seed=7)
    config = plan.config
    assert (config.batch_size, config.freeze, config.seed) == (32, "none", 7)
    assert config.lr == finetune_lr(32, "none")  # follows the chosen batch
    assert config.epochs == 16  # 25 steps per epoch
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
        "33 epochs, batches of 8, learning rate 6.25e-05, every layer trains, 32 px, seed 0"
    )


def test_an_image_size_that_is_not_a_multiple_of_the_patch_size_is_refused_with_one_that_is():
    with pytest.raises(StudioError, match="not a multiple of the base model's patch size .8 px.; "
                                          "use e.g. 24 px"):  # fmt: skip
        plan_finetune(fake_scan(80), TINY_ARCH, image_size=30)


def test_every_derived_setting_is_explained_in_table_order():
    plan = plan_finetune(fake_scan(per_class=10), TINY_ARCH, epochs=4)
    lines = plan.explain()
    assert lines[0] == f"settings: {plan.describe()}"
    named = [line.split(":")[0].strip() for line in lines[1:]]
    assert named == ["batch_size", "lr", "freeze", "layer_decay", "probe_head", "image_size",
                     "augment", "flip", "warmup_epochs", "patience"]  # fmt: skip
    assert "epochs" not in named  # chosen: nothing to explain


def test_augmentation_is_a_preset_whose_mixing_can_be_set_on_its_own():
    plan = plan_finetune(fake_scan(80), TINY_ARCH, mixup=0.4)
    assert plan.config.augment == replace(AugmentConfig.gentle(), mixup_alpha=0.4)
    strong = plan_finetune(fake_scan(80), TINY_ARCH, augment="strong", cutmix=0.0)
    assert strong.config.augment == replace(AugmentConfig(), cutmix_alpha=0.0)
    assert plan_finetune(fake_scan(80), TINY_ARCH, grad_clip=0.0).config.grad_clip is None


def test_a_plans_values_give_the_same_plan_back():
    plan = plan_finetune(fake_scan(80), TINY_ARCH, augment="strong", val_share=0.3)
    again = plan_finetune(fake_scan(80), TINY_ARCH, **plan.values())
    assert again.config == plan.config and again.image_size == plan.image_size
    assert again.val_share == 0.3 and again.reasons == {}
    # The learning settings alone round-trip through their names (runtime ones are the defaults).
    rebuilt = TrainConfig(**config_fields("finetune", config_values("finetune", plan.config)))
    # keep_start is no setting: every fine-tune plan sets it.
    assert rebuilt == replace(plan.config, max_minutes=None, fit_epochs=False, keep_start=False)


def test_training_from_scratch_gets_long_strongly_augmented_defaults():
    plan = plan_train(fake_scan(80), 32)
    config = plan.config
    assert (config.epochs, config.batch_size, config.lr) == (100, 128, default_lr(128))
    assert config.augment == AugmentConfig() and config.warmup_epochs == 5.0
    assert "freeze" not in plan.values() and plan.describe().startswith("100 epochs")
    assert plan_train(fake_scan(80), 32, batch_size=256).config.lr == default_lr(256)


def test_a_setting_no_command_has_is_a_bug_not_a_user_error():
    with pytest.raises(KeyError):
        plan_finetune(fake_scan(80), TINY_ARCH, arch="lite")


def test_mirroring_is_measured_on_the_folder_unless_no_augmentation_was_asked_for():
    plan = plan_finetune(fake_scan(80), TINY_ARCH)
    assert plan.config.flip == "auto" and "measured on the folder" in plan.reasons["flip"]
    off = plan_finetune(fake_scan(80), TINY_ARCH, augment="off")
    assert off.config.flip == "off" and off.config.augment.hflip == 0.0
    flips_only = plan_finetune(fake_scan(80), TINY_ARCH, augment="off", flip="on")
    assert flips_only.config.augment == replace(AugmentConfig.off(), hflip=0.5)
    never = plan_finetune(fake_scan(80), TINY_ARCH, flip="off").config.augment
    assert never == replace(AugmentConfig.gentle(), hflip=0.0)


def test_an_auto_mirroring_follows_the_mirror_test_and_says_what_it_measured():
    plan = plan_finetune(fake_scan(80), TINY_ARCH)
    symbols = resolve_flip(plan, MirrorTest(200, 0.9, 0.3, 120, 0))
    assert symbols.config.augment.hflip == 0.0 and symbols.config.flip == "auto"
    assert symbols.reasons["flip"].startswith("auto: never mirrored; a quick probe scored 90%")
    photos = resolve_flip(plan, MirrorTest(200, 0.6, 0.61, 20, 22))
    assert photos.config.augment.hflip == 0.5
    assert photos.reasons["flip"].startswith("auto: mirrored at random")
    assert plan.config.augment.hflip == 0.5  # the plan itself is left as it was


def test_patience_is_a_quarter_of_the_epochs_with_a_floor():
    assert default_patience(40) == 10 and default_patience(8) == MIN_PATIENCE
    assert plan_finetune(fake_scan(80), TINY_ARCH).config.patience == default_patience(33)
    assert plan_finetune(fake_scan(80), TINY_ARCH, patience=0).config.patience is None
    assert plan_train(fake_scan(80), 32).config.patience is None  # from scratch: never
