"""Training and fine-tuning on cached image folders: one loop for the CLI and the GUI.

A run keeps the cached uint8 images on the training device (pinned host memory when they do not
fit), cuts each batch by index and augments it there with `augment.BatchAugmenter`, so there are
no loader processes and nothing for a GPU to wait on. AdamW (fused on CUDA), linear warmup then a
per-step cosine, label smoothing, gradient clipping, bf16 autocast on CUDA.

The loop reads numbers back from the device only every `log_every` steps and at epoch ends, so
CUDA steps queue up without host synchronisation. Every `checkpoint_every` epochs it writes,
atomically, everything needed to continue bit-exactly (weights, optimiser, schedule position,
scaler, the torch/CUDA/numpy/Python RNG states, history, config); the sample order and the
augmentation streams restart from (seed, epoch) each epoch, so they need no state. Only tensors
and primitive containers go in, so `torch.load(weights_only=True)` reads it. The
best-by-validation model is saved in our .safetensors format with its training provenance.

The modules, one concern each:
    settings    the settings of a run, described once: flags, form fields, explanations
    plan        the values a run trains with: the user's, and defaults from the data, with why
    pipeline    a run from a request: scan, plan, prepare or resume, run (CLI and GUI alike)
    presets     named architectures, new models, dataset statistics, default learning rate
    adapt       preparing a trained model to fine-tune: new head, image size, freezing
    class_match which of a model's classes a folder's class folders are, by name
    start       where a fine-tune starts: the base model's own head or a probe, the better
    mirror_test whether mirroring changes what a folder's images show (the flip setting)
    precision   precision settings and the autocast dtype they mean on a device
    config      `TrainConfig` and the settings a resumed run may change
    progress    step and epoch reports, callbacks, output paths, the result of a run
    source      cached images on the device, cut into batches by index
    evaluation  `evaluate` and `EvalResult`; the shared eval-mode prediction pass
    checkpoint  the resumable checkpoint: save, load, check, RNG states
    schedule    learning rate per step, weight-decay groups, epoch seeds, fitting a time budget
    outputs     the files a run writes: best model, metrics history and how it ended;
                runs that did not end
    report      the --report page: controls, classes, confusion, largest losses
    steps       the optimiser of a run and one optimisation step
    validation  validating during a run (sharded over torchrun's processes)
    distributed several processes (torchrun): process group, batch shares, collectives
    loop        `train`: the epochs, reports, decisions and saving of a run

Everything public is importable from here: `from vit_studio.engine.training import train`.
"""

from vit_studio.engine.training.adapt import (
    apply_freeze,
    interpolate_pos_embedding,
    prepare_finetune,
)
from vit_studio.engine.training.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    TrainCheckpoint,
    load_checkpoint,
)
from vit_studio.engine.training.config import RUNTIME_FIELDS, TrainConfig
from vit_studio.engine.training.evaluation import (
    EvalResult,
    FolderEvaluation,
    evaluate,
    evaluate_folder,
)
from vit_studio.engine.training.loop import train
from vit_studio.engine.training.precision import PRECISIONS, autocast_dtype
from vit_studio.engine.training.presets import (
    ARCH_PRESETS,
    ArchPreset,
    dataset_mean_std,
    default_lr,
    new_model,
    preset_arch,
)
from vit_studio.engine.training.progress import (
    EpochInfo,
    RunStatus,
    StepInfo,
    TrainCallbacks,
    TrainPaths,
    TrainResult,
)

__all__ = [
    "ARCH_PRESETS",
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "PRECISIONS",
    "RUNTIME_FIELDS",
    "ArchPreset",
    "EpochInfo",
    "EvalResult",
    "FolderEvaluation",
    "RunStatus",
    "StepInfo",
    "TrainCallbacks",
    "TrainCheckpoint",
    "TrainConfig",
    "TrainPaths",
    "TrainResult",
    "apply_freeze",
    "autocast_dtype",
    "dataset_mean_std",
    "default_lr",
    "evaluate",
    "evaluate_folder",
    "interpolate_pos_embedding",
    "load_checkpoint",
    "new_model",
    "prepare_finetune",
    "preset_arch",
    "train",
]
