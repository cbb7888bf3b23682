"""`vit-studio train | finetune | evaluate`: train, fine-tune or score a ViT on an image folder.

Progress goes to standard error (a redrawn line on a terminal, plain lines otherwise); the scan
report, epoch summaries and results go to standard output.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from vit_studio.cli.common import add_device_argument, add_model_argument, model_path, open_model
from vit_studio.engine.augment import AugmentConfig
from vit_studio.engine.checkpoints import load_model
from vit_studio.engine.data import CachedImages, FolderScan, ImageItem, cache_images
from vit_studio.engine.errors import StudioError
from vit_studio.engine.fileio import write_text_atomic
from vit_studio.engine.finetune import (
    DEFAULT_AUGMENT,
    DEFAULT_VAL_SHARE,
    SPLIT_SEED,
    cache_split,
    plan_finetune,
    prepare_inputs,
    resume_inputs,
    scan_training_folder,
)
from vit_studio.engine.model import StudioModel
from vit_studio.engine.text import counted
from vit_studio.engine.training import (
    ARCH_PRESETS,
    PRECISIONS,
    EpochInfo,
    EvalResult,
    StepInfo,
    TrainCallbacks,
    TrainCheckpoint,
    TrainConfig,
    TrainPaths,
    TrainResult,
    dataset_mean_std,
    default_lr,
    evaluate,
    load_checkpoint,
    new_model,
    preset_arch,
    train,
)

EXIT_INTERRUPTED = 130
# Architecture flags (argparse names) -> `preset_arch` overrides.
_ARCH_ARGS = {
    "image_size": "image_size",
    "patch_size": "patch_size",
    "layers": "num_layers",
    "heads": "num_heads",
    "dim": "hidden_dim",
    "mlp_dim": "mlp_dim",
}
# The largest confusion matrix printed on the terminal (--json always has it).
_MAX_PRINTED_CLASSES = 20


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_train(subparsers)
    _register_finetune(subparsers)
    _register_evaluate(subparsers)


def _register_train(subparsers: argparse._SubParsersAction) -> None:
    presets = "; ".join(f"{name}: {p.note}" for name, p in ARCH_PRESETS.items())
    parser = subparsers.add_parser(
        "train",
        help="train a ViT from scratch on a folder of class subfolders",
        description="Train a new ViT on FOLDER (FOLDER/<class>/*.jpg, or FOLDER/train/<class> "
        "+ FOLDER/val/<class>). Writes the best-by-validation model to --out, a resumable "
        "checkpoint OUT.checkpoint.pt and the metrics history OUT.metrics.jsonl beside it. "
        "Ctrl-C stops; --resume continues from the last checkpoint with the run's own settings.",
    )
    parser.add_argument("folder", metavar="FOLDER", help="the image folder")
    parser.add_argument(
        "--arch", choices=tuple(ARCH_PRESETS), help=f"architecture preset ({presets})"
    )
    for flag, what in (
        ("--image-size", "input size in pixels"),
        ("--patch-size", "patch size in pixels"),
        ("--layers", "encoder blocks"),
        ("--heads", "attention heads"),
        ("--dim", "hidden size"),
        ("--mlp-dim", "MLP size"),
    ):
        parser.add_argument(flag, type=int, metavar="N", help=f"override the preset's {what}")
    _add_training_arguments(parser, epochs=100, augment="strong", finetune=False)
    parser.set_defaults(handler=run_train)


def _register_finetune(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "finetune",
        help="fine-tune a ViT on a folder of class subfolders",
        description="Fine-tune --model (default: the bundled model) on FOLDER: the head is "
        "replaced for FOLDER's classes, the position embeddings are resized for --image-size. "
        "Settings not given are derived from FOLDER as the GUI derives them (printed before the "
        "run starts), so the same settings give the same model from either. Outputs, Ctrl-C and "
        "--resume work as for `train`.",
    )
    parser.add_argument("folder", metavar="FOLDER", help="the image folder")
    add_model_argument(parser, " to start from")
    parser.add_argument(
        "--freeze",
        default=None,
        metavar="none|backbone|N",
        help="what stays fixed: none (train everything), backbone (train the head only), or N "
        "(train the last N blocks and the head) (default: from the smallest class: backbone "
        "under 20 images, half the blocks under 200, else none)",
    )
    parser.add_argument(
        "--image-size", type=int, metavar="S", help="train at S pixels (default: the model's)"
    )
    _add_training_arguments(parser, epochs=None, augment=DEFAULT_AUGMENT, finetune=True)
    parser.set_defaults(handler=run_finetune)


def _register_evaluate(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="top-1, per-class accuracy and confusion matrix of a model on a folder",
        description="Score --model on FOLDER's images. With a FOLDER/train + FOLDER/val layout "
        "only val/ is used; otherwise every image in the class folders is. Folder classes are "
        "matched to the model's class names by name.",
    )
    parser.add_argument("folder", metavar="FOLDER", help="the image folder")
    add_model_argument(parser)
    parser.add_argument(
        "--json", metavar="FILE", help="write results as JSON to FILE ('-' for standard output)"
    )
    parser.add_argument("--batch-size", type=int, default=256, metavar="N", help="default: 256")
    add_device_argument(parser)
    parser.set_defaults(handler=run_evaluate)


def _add_training_arguments(
    parser: argparse.ArgumentParser, *, epochs: int | None, augment: str, finetune: bool
) -> None:
    # Settings default to None so that --resume can tell the ones given from the ones not.
    lr_rule = (
        "1e-4 × batch/128 when everything trains, else 5e-4 × batch/128"
        if finetune
        else ("5e-4 × batch/128")
    )
    parser.add_argument("--out", required=True, metavar="M.safetensors", help="the model to write")
    parser.add_argument("--resume", action="store_true", help="continue OUT.checkpoint.pt")
    parser.add_argument(
        "--epochs",
        type=int,
        metavar="N",
        help=f"default: {epochs}" if epochs else "default: about 300 steps in all (3 to 50)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help="default: a tenth of the training images, 8 to 64" if finetune else "default: 128",
    )
    parser.add_argument("--lr", type=float, metavar="LR", help=f"peak learning rate ({lr_rule})")
    parser.add_argument("--weight-decay", type=float, metavar="WD", help="AdamW (default: 0.05)")
    parser.add_argument(
        "--warmup-epochs",
        type=float,
        metavar="E",
        help="linear warmup (default: 5%% of the epochs, at most 10)",
    )
    parser.add_argument("--label-smoothing", type=float, metavar="E", help="default: 0.1")
    parser.add_argument(
        "--grad-clip", type=float, metavar="NORM", help="max gradient norm, 0 for none (default 1)"
    )
    parser.add_argument(
        "--augment",
        choices=("off", "light", "strong"),
        help="light: crop + flip; strong: + TrivialAugment, random erasing, Mixup/CutMix "
        f"(default: {augment})",
    )
    parser.add_argument("--mixup", type=float, metavar="ALPHA", help="Mixup alpha, 0 for off")
    parser.add_argument("--cutmix", type=float, metavar="ALPHA", help="CutMix alpha, 0 for off")
    parser.add_argument("--seed", type=int, metavar="N", help="training seed (default: 0)")
    parser.add_argument(
        "--val-share",
        type=float,
        metavar="F",
        help="share of each class held out for validation when FOLDER has no val/ "
        f"(default {DEFAULT_VAL_SHARE})",
    )
    add_device_argument(parser)
    # How-to-run settings default to None too: a resumed run then keeps its own.
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="auto: bf16 autocast on CUDA and on CPUs with bf16 instructions, else fp32",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        default=None,
        help="torch.compile model and augmentation: ~30 s to start, then about 2x faster on a GPU",
    )
    parser.add_argument(
        "--max-minutes",
        type=float,
        metavar="M",
        help="stop (saved, resumable) when the next epoch would pass M minutes",
    )
    parser.add_argument(
        "--fit-epochs",
        action="store_true",
        default=None,
        help="with --max-minutes: time the first epochs, then cut --epochs to what fits, so the "
        "learning-rate schedule ends inside the budget",
    )
    parser.add_argument("--val-every", type=int, metavar="N", help="validate every N epochs (1)")
    parser.add_argument(
        "--checkpoint-every", type=int, metavar="N", help="checkpoint every N epochs (1)"
    )
    parser.set_defaults(default_epochs=epochs, default_augment=augment, finetune=finetune)


# --- configuration from arguments --------------------------------------------------------------


def _given_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The learning settings given on the command line, as TrainConfig field values."""
    given = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "weight_decay": args.weight_decay,
        "warmup_epochs": args.warmup_epochs,
        "label_smoothing": args.label_smoothing,
        "seed": args.seed,
        "freeze": getattr(args, "freeze", None),
    }
    if args.grad_clip is not None:
        given["grad_clip"] = args.grad_clip or None
    if args.augment is not None or args.mixup is not None or args.cutmix is not None:
        augment = AugmentConfig.preset(args.augment or args.default_augment)
        if args.mixup is not None:
            augment = replace(augment, mixup_alpha=args.mixup)
        if args.cutmix is not None:
            augment = replace(augment, cutmix_alpha=args.cutmix)
        given["augment"] = augment
    return {k: v for k, v in given.items() if v is not None}


def _runtime_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The how-to-run settings given on the command line (`RUNTIME_FIELDS`)."""
    given = {
        "device": args.device,
        "precision": args.precision,
        "compile": args.compile,
        "max_minutes": args.max_minutes,
        "fit_epochs": args.fit_epochs,
        "val_every": args.val_every,
        "checkpoint_every": args.checkpoint_every,
    }
    return {k: v for k, v in given.items() if v is not None}


def _new_config(args: argparse.Namespace) -> TrainConfig:
    given = _given_settings(args)
    epochs = given.get("epochs", args.default_epochs)
    batch_size = given.get("batch_size", 128)
    freeze = given.get("freeze", "none")
    defaults = {
        "epochs": epochs,
        "lr": default_lr(batch_size, finetune=args.finetune and freeze == "none"),
        "warmup_epochs": min(10.0, round(epochs * 0.05, 2)),
        "augment": AugmentConfig.preset(args.default_augment),
    }
    return TrainConfig(**(defaults | given | _runtime_settings(args)))


def _resumed_config(args: argparse.Namespace, checkpoint: TrainCheckpoint) -> TrainConfig:
    """The checkpoint's settings; only how-to-run ones may change, others must not be given."""
    saved = checkpoint.config
    for name, value in _given_settings(args).items():
        if getattr(saved, name) != value:
            flag = "--" + name.replace("_", "-")
            raise StudioError(
                f"{checkpoint.path}: the run was started with {name}={getattr(saved, name)!r}; "
                f"drop {flag} to resume it, or start a new run without --resume"
            )
    return replace(saved, **_runtime_settings(args))


def _check_no_arch_flags(args: argparse.Namespace) -> None:
    names = ("arch", *_ARCH_ARGS) if args.command == "train" else ("image_size",)
    given = [name for name in names if getattr(args, name, None) is not None]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise StudioError(f"{flags}: a resumed run keeps its checkpoint's architecture; drop it")


def _command_line(args: argparse.Namespace) -> str:
    """The command as given, normalised: positional folder, then every flag that was set."""
    words = ["vit-studio", args.command, args.folder]
    for name, value in vars(args).items():
        if name in _NOT_FLAGS or value is None or value is False:
            continue
        words.append("--" + name.replace("_", "-"))
        if value is not True:
            words.append(str(value))
    return shlex.join(words)


_NOT_FLAGS = frozenset(
    {"command", "folder", "handler", "default_epochs", "default_augment", "finetune"}
)


# --- train and finetune ----------------------------------------------------------------------


def run_train(args: argparse.Namespace) -> int:
    paths = TrainPaths.beside(args.out)
    if args.resume:
        return _resume(args, paths)
    if args.arch is None:
        raise StudioError(
            "choose an architecture with --arch (lite for 32px images such as CIFAR; tiny, small "
            "or base for 224px photos)"
        )
    config = _new_config(args)
    scan = _scan(args.folder, args.val_share)
    overrides = {field: getattr(args, name) for name, field in _ARCH_ARGS.items()}
    arch = preset_arch(args.arch, len(scan.class_names), **overrides)
    progress, started = _Progress(sys.stderr), time.monotonic()
    train_cache, val_cache = cache_split(scan, arch.image_size, progress=progress.fraction)
    _report_loaded(progress, train_cache, val_cache, started)
    mean, std = dataset_mean_std(train_cache.images)
    model = new_model(
        arch, scan.class_names, mean=mean, std=std, seed=config.seed, name=paths.model.stem
    )
    print(f"model: ViT '{args.arch}', {arch.describe()}, {model.num_parameters():,} parameters")
    data = {"val_share": _val_share(args.val_share), "split_seed": SPLIT_SEED}
    return _run(args, paths, model, train_cache, val_cache, config, data, resume=None)


def run_finetune(args: argparse.Namespace) -> int:
    """The GUI's fine-tune path (`engine.finetune`), with settings from flags and the data."""
    paths = TrainPaths.beside(args.out)
    if args.resume:
        return _resume(args, paths)
    base_path = model_path(args.model)
    base = load_model(base_path)
    scan = _scan(args.folder, args.val_share)
    plan = plan_finetune(
        scan,
        base.arch,
        image_size=args.image_size,
        **_given_settings(args),
        **_runtime_settings(args),
    )
    print(f"settings: {plan.describe()}")
    for name, reason in plan.reasons.items():
        print(f"  {name}: {reason}")
    progress, started = _Progress(sys.stderr), time.monotonic()
    inputs = prepare_inputs(
        base,
        scan,
        plan,
        val_share=_val_share(args.val_share),
        base_path=base_path,
        name=paths.model.stem,
        progress=progress.fraction,
    )
    print(f"model: {base.meta.name} from {base_path}, now {inputs.model.arch.describe()}")
    _report_loaded(progress, inputs.train, inputs.val, started)
    return _run(args, paths, inputs.model, inputs.train, inputs.val, plan.config, inputs.data, None)


def _resume(args: argparse.Namespace, paths: TrainPaths) -> int:
    _check_no_arch_flags(args)
    checkpoint = load_checkpoint(paths.checkpoint)
    config = _resumed_config(args, checkpoint)
    data = checkpoint.provenance.get("data", {})
    if args.val_share is not None and args.val_share != data.get("val_share"):
        raise StudioError(
            f"{checkpoint.path}: the run used --val-share {data.get('val_share')}; drop "
            "--val-share to resume it"
        )
    scan = _scan(args.folder, data.get("val_share", DEFAULT_VAL_SHARE))
    print(f"resuming {paths.checkpoint} after epoch {checkpoint.epoch} of {config.epochs}")
    progress, started = _Progress(sys.stderr), time.monotonic()
    inputs = resume_inputs(checkpoint, scan, progress=progress.fraction)
    _report_loaded(progress, inputs.train, inputs.val, started)
    return _run(
        args, paths, inputs.model, inputs.train, inputs.val, config, inputs.data, checkpoint
    )


def _val_share(argument: float | None) -> float:
    return DEFAULT_VAL_SHARE if argument is None else argument


def _scan(folder: str, val_share: float | None) -> FolderScan:
    progress = _Progress(sys.stderr)
    scan = scan_training_folder(
        folder,
        _val_share(val_share),
        progress=lambda done, total: progress.fraction("checking images", done, total),
    )
    progress.done()
    print(scan.report())
    return scan


def _report_loaded(
    progress: _Progress, train_cache: CachedImages, val_cache: CachedImages | None, started: float
) -> None:
    """List the files that no longer decoded since the scan, and how long loading took."""
    caches = [c for c in (train_cache, val_cache) if c is not None]
    for cached in caches:
        for skipped in cached.skipped:
            progress.line(f"skipped {skipped.path}: {skipped.reason}")
    progress.done()
    count = sum(len(c.labels) for c in caches)
    size = train_cache.images.shape[-1]
    print(f"loaded {count} images at {size}px in {time.monotonic() - started:.1f} s")


def _run(
    args: argparse.Namespace,
    paths: TrainPaths,
    model: StudioModel,
    train_cache: CachedImages,
    val_cache: CachedImages | None,
    config: TrainConfig,
    data: dict[str, Any],
    resume: TrainCheckpoint | None,
) -> int:
    if resume is None and paths.checkpoint.exists():
        print(
            f"note: {paths.checkpoint} from an earlier run will be replaced (--resume continues it)"
        )
    command = ["vit-studio", args.command, args.folder, "--out", args.out]
    provenance = {
        "command": _command_line(args),
        "dataset": str(Path(args.folder).resolve()),
        "data": data,
    }
    reporter = _TrainReporter(sys.stderr)
    started = time.time()
    try:
        result = train(
            model,
            train_cache,
            val_cache,
            config,
            out=paths.model,
            callbacks=TrainCallbacks(
                on_step=reporter.step, on_epoch=reporter.epoch, on_note=reporter.note
            ),
            resume=resume,
            provenance=provenance,
        )
    except KeyboardInterrupt:
        reporter.progress.done()
        resumable = paths.checkpoint.exists() and (
            resume is not None or paths.checkpoint.stat().st_mtime >= started
        )
        if resumable:
            print(
                f"interrupted; resume with: {shlex.join([*command, '--resume'])}", file=sys.stderr
            )
        else:
            print("interrupted before the first checkpoint; nothing to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    reporter.progress.done()
    _print_result(result, [*command, "--resume"])
    return 0


def _print_result(result: TrainResult, resume_command: list[str]) -> None:
    minutes = result.seconds / 60.0
    if result.best_val_acc is not None:
        best = f"best validation accuracy {result.best_val_acc:.2%} (epoch {result.best_epoch})"
    else:
        best = "no validation images: the latest model was kept"
    epochs = counted(result.epochs_completed, "epoch")
    print(f"{result.status} after {epochs} in {minutes:.1f} min; {best}")
    if result.paths is not None and result.paths.model.exists():
        print(f"model: {result.paths.model}")
        print(f"metrics: {result.paths.metrics}")
    if result.status == "time budget" and result.paths is not None:
        print(f"continue with: {shlex.join(resume_command)}")


class _Progress:
    """One status line: redrawn in place on a terminal; in a log, at most a line per 30 s."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last_plain = 0.0
        self.open = False

    def show(self, text: str, *, plain: bool = True) -> None:
        """Redraw the line; without a terminal print it only if `plain` (and 30 s have passed)."""
        if self.tty:
            self.stream.write("\r" + text[:160].ljust(80) + "\033[K")
            self.stream.flush()
            self.open = True
        elif plain and time.monotonic() - self.last_plain >= 30.0:
            self.last_plain = time.monotonic()
            print(text, file=self.stream, flush=True)

    def fraction(self, what: str, done: int, total: int) -> None:
        width = 20
        filled = width * done // max(total, 1)
        self.show(f"{what} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", plain=False)

    def line(self, text: str, stream: TextIO | None = None) -> None:
        """A line that stays (the status line is cleared first)."""
        self.done()
        print(text, file=stream or self.stream, flush=True)

    def done(self) -> None:
        if self.open:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.open = False


class _TrainReporter:
    """Turns the engine's callbacks into a progress line and one summary line per epoch."""

    def __init__(self, stream: TextIO) -> None:
        self.progress = _Progress(stream)

    def step(self, info: StepInfo) -> None:
        width = 20
        filled = width * info.step // info.steps_per_epoch
        self.progress.show(
            f"epoch {info.epoch}/{info.epochs} [{'#' * filled}{'.' * (width - filled)}] "
            f"{info.step}/{info.steps_per_epoch}  loss {info.loss:.4f}  acc {info.acc:.1%}  "
            f"{info.images_per_s:,.0f} img/s  ETA {_duration(info.eta_s)}"
        )

    def epoch(self, info: EpochInfo) -> None:
        text = (
            f"epoch {info.epoch}/{info.epochs}  loss {info.train_loss:.4f}  "
            f"acc {info.train_acc:.1%}"
        )
        if info.val_acc is not None:
            text += f"  val loss {info.val_loss:.4f}  val acc {info.val_acc:.2%}"
        text += f"  lr {info.lr:.2e}  {info.seconds:.1f} s  {info.images_per_s:,.0f} img/s"
        if info.best:
            text += "  saved"
        self.progress.line(text, sys.stdout)

    def note(self, message: str) -> None:
        self.progress.line(message, sys.stdout)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


# --- evaluate --------------------------------------------------------------------------------


def run_evaluate(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise StudioError(f"--batch-size {args.batch_size}: use at least 1")
    path = model_path(args.model)
    model = open_model(args.model, args.device)
    quiet = args.json == "-"
    scan = scan_training_folder(args.folder, 0.0)
    items = _items_for_model(scan, model)
    if not quiet:
        print(scan.report())
    progress = _Progress(sys.stderr)
    cached = cache_images(
        items,
        model.meta.preprocessing.resize_size,
        progress=lambda done, total: progress.fraction("loading images", done, total),
    )
    result = evaluate(
        model,
        cached,
        batch_size=args.batch_size,
        progress=lambda done, total: progress.fraction("evaluating", done, total),
    )
    progress.done()
    if not quiet:
        _print_evaluation(result, path, scan)
    if args.json:
        document = {
            "model": str(path),
            "folder": str(scan.root),
            "subset": "val" if scan.has_val_folder else "all",
        } | result.to_dict()
        text = json.dumps(document, indent=2) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            write_text_atomic(args.json, text)
    return 0


def _items_for_model(scan: FolderScan, model: StudioModel) -> list[ImageItem]:
    """The images to score, labelled with the model's class indices (matched by name)."""
    index = {name: k for k, name in enumerate(model.meta.class_names)}
    unknown = [name for name in scan.class_names if name not in index]
    if unknown:
        raise StudioError(
            f"{scan.root}: class folders {', '.join(unknown)} are not classes of the model "
            f"({', '.join(model.meta.class_names[:10])}...); rename or remove them"
        )
    items = scan.val if scan.has_val_folder else scan.train + scan.val
    return [ImageItem(item.path, index[scan.class_names[item.label]]) for item in items]


def _print_evaluation(result: EvalResult, path: Path, scan: FolderScan) -> None:
    subset = "val/ folder" if scan.has_val_folder else "all images"
    print(
        f"{path} on {scan.root} ({subset}): top-1 {result.accuracy:.2%} "
        f"on {len(result.labels)} images, loss {result.loss:.4f}"
    )
    present = [k for k, n in enumerate(result.support) if n > 0]
    width = max(len(name) for name in result.class_names)
    for k in present:
        name = result.class_names[k]
        print(f"  {name:<{width}}  {result.per_class_accuracy[k]:7.2%}  of {result.support[k]}")
    if len(result.class_names) <= _MAX_PRINTED_CLASSES:
        confusion = result.confusion
        cell = max(4, len(str(confusion.max())) + 1)
        print("confusion (rows: true class, columns: predicted class, numbered as the rows):")
        print(" " * (width + 2) + "".join(f"{k:>{cell}}" for k in range(len(confusion))))
        for k, row in enumerate(confusion):
            label = f"{result.class_names[k]:<{width}}"
            print(f"  {label}" + "".join(f"{v:>{cell}}" for v in row) + f"  ({k})")
