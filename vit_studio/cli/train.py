"""`vit-studio train | finetune`: train a ViT from scratch, or fine-tune one, on an image folder.

Both are the engine's training pipeline (`engine.training.pipeline`, the one the fine-tune panel
runs too) with flags made from its settings table (`engine.training.settings`). Progress goes to
standard error (`console`); the scan report, the settings and why, epoch summaries and results
go to standard output.

Under torchrun (`torchrun --nproc-per-node N -m vit_studio train ...`) every process runs the
command: they join one process group, rank 0 prepares the run first (scan, image cache) while the
others wait, then all train together. Only rank 0 prints and writes; the others' standard output
and error stay silent, except for an error of their own, which names their rank.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import ExitStack, redirect_stderr, redirect_stdout
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from vit_studio.cli import EXIT_USER_ERROR, summary
from vit_studio.cli.common import add_model_argument, fetched_model
from vit_studio.cli.console import Console
from vit_studio.engine import resources
from vit_studio.engine.errors import StudioError
from vit_studio.engine.hub import local_path, parse_reference
from vit_studio.engine.model import load_studio_model
from vit_studio.engine.text import counted, elapsed_text
from vit_studio.engine.training import EpochInfo, RunStatus, TrainCallbacks, TrainResult, evaluate
from vit_studio.engine.training.distributed import (
    Group,
    OtherRankFailed,
    main_rank_first,
    process_group,
)
from vit_studio.engine.training.outputs_guard import (
    check_output,
    files_in_the_way,
    refuse_base_model,
)
from vit_studio.engine.training.pipeline import (
    PrepareCallbacks,
    PreparedRun,
    RunFailed,
    RunRequest,
    prepare_run,
    run,
)
from vit_studio.engine.training.report import RunReport, check_report_folder, write_report
from vit_studio.engine.training.settings import FINETUNE, RUNTIME, TRAIN, Setting, settings_for

EXIT_INTERRUPTED = 130
_DESCRIPTIONS = {
    TRAIN: (
        summary(TRAIN),
        "Train a new ViT on FOLDER (FOLDER/<class>/*.jpg, or FOLDER/train/<class> + "
        "FOLDER/val/<class>). Writes the best-by-validation model to --out, a resumable "
        "checkpoint OUT.checkpoint.pt and the metrics history OUT.metrics.jsonl beside it. "
        "Ctrl-C stops; --resume continues from the last checkpoint with the run's own settings.",
    ),
    FINETUNE: (
        summary(FINETUNE),
        "Fine-tune --model (default: the bundled model) on FOLDER: the head is replaced for "
        "FOLDER's classes, the position embeddings are resized for --image-size. Settings not "
        "given are derived from FOLDER as the GUI derives them (printed, with the reasons, before "
        "the run starts), so the same settings give the same model from either. Outputs, Ctrl-C "
        "and --resume work as for `train`.",
    ),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    for command in (TRAIN, FINETUNE):
        summary, description = _DESCRIPTIONS[command]
        parser = subparsers.add_parser(command, help=summary, description=description)
        parser.add_argument("folder", metavar="FOLDER", help="the image folder")
        if command == FINETUNE:
            add_model_argument(parser, "the bundled model; the model to start from")
            # A hub model is downloaded inside `main_rank_first`, so that torchrun's processes do
            # not all download it into the same partial file at once.
            parser.set_defaults(fetches_model=True)
        parser.add_argument(
            "--out", required=True, metavar="M.safetensors", help="the model to write"
        )
        parser.add_argument("--resume", action="store_true", help="continue OUT.checkpoint.pt")
        parser.add_argument(
            "--report",
            metavar="DIR",
            type=Path,
            help="also write a report there once the run ends: index.html with the kept model "
            "against not fine-tuning, accuracy per class, the confusion matrix and the "
            "validation images with the largest loss, as thumbnails (a new or empty folder)",
        )
        parser.add_argument(
            "--overwrite",
            action="store_true",
            help="replace the model, checkpoint and metrics of an earlier run at --out (without "
            "it, an --out that exists is refused; the model fine-tuned from never is replaced)",
        )
        for entry in settings_for(command):
            add_setting_argument(parser, entry, command)
        parser.set_defaults(handler=partial(run_command, command))


def add_setting_argument(parser: argparse.ArgumentParser, entry: Setting, command: str) -> None:
    """The flag of one setting. Every default is None, so that the settings given can be told
    from the ones left to the plan (or, when resuming, to the checkpoint)."""
    text = f"{entry.help} (default: {entry.default_for(command)})".replace("%", "%%")
    if entry.type is bool and entry.kind == RUNTIME:
        parser.add_argument(entry.option, dest=entry.name, action="store_true", default=None,
                            help=text)  # fmt: skip
    elif entry.type is bool:
        parser.add_argument(entry.option, dest=entry.name, default=None,
                            action=argparse.BooleanOptionalAction, help=text)  # fmt: skip
    elif entry.choices:
        parser.add_argument(entry.option, dest=entry.name, choices=entry.choices, help=text)
    else:
        parser.add_argument(entry.option, dest=entry.name, type=entry.type, metavar=entry.metavar,
                            help=text)  # fmt: skip


def request_from(command: str, args: argparse.Namespace) -> RunRequest:
    """The run the command line asks for; `settings` holds only the flags given."""
    given: dict[str, Any] = {}
    for entry in settings_for(command):
        value = getattr(args, entry.name)
        if value is not None:
            given[entry.name] = value
    model = getattr(args, "model", None)
    return RunRequest(
        command=command,
        folder=Path(args.folder),
        out=Path(args.out),
        settings=given,
        base_model=Path(model) if model else None,
        base_num_heads=getattr(args, "num_heads", None),
        resume=args.resume,
    )


def run_command(command: str, args: argparse.Namespace) -> int:
    request = request_from(command, args)
    if args.report is not None:
        check_report_folder(args.report)  # refused before anything trains
    with process_group() as group:
        if group.is_main:  # only rank 0 writes, the report too
            return _run_request(request, group, args.overwrite, args.report)
        with ExitStack() as silent:
            devnull = silent.enter_context(open(os.devnull, "w", encoding="utf-8"))
            silent.enter_context(redirect_stdout(devnull))
            silent.enter_context(redirect_stderr(devnull))
            try:
                return _run_request(request, group, args.overwrite)
            except OtherRankFailed:
                return EXIT_USER_ERROR  # the rank that failed says why
            except KeyboardInterrupt:
                return EXIT_INTERRUPTED
            except StudioError as exc:
                raise StudioError(f"process {group.rank} of {group.world_size}: {exc}") from exc


def _run_request(
    request: RunRequest, group: Group, overwrite: bool, report: Path | None = None
) -> int:
    console = Console()
    started = time.monotonic()
    with main_rank_first(group):
        # Refused before anything is downloaded, scanned or written; rank 0 says why.
        check_output(request.out, _local_base_model(request), overwrite=overwrite,
                     resume=request.resume)  # fmt: skip
        replaced = [] if request.resume else files_in_the_way(request.out)
        if replaced:
            names = ", ".join(path.name for path in replaced)
            console.line(f"note: --overwrite: replacing {names} of an earlier run")
        if request.base_model is not None:
            request = replace(request, base_model=Path(fetched_model(str(request.base_model))))
            refuse_base_model(request.out, request.base_model)  # a hub model, now it is here
        prepared = prepare_run(
            request,
            PrepareCallbacks(
                on_scanned=lambda scan: console.line(scan.report()),
                on_planned=lambda plan: console.line("\n".join(plan.explain())),
                progress=console.stage,
            ),
        )
        # Refused here, where rank 0 fails first and the others stop without repeating it.
        group.local_batch(min(prepared.config.batch_size, len(prepared.train_images.labels)))
    console.close()
    _report_prepared(console, prepared, time.monotonic() - started)
    baseline = prepared.pixel_baseline() if group.is_main else None
    group.barrier()  # the others wait here, not in DDP's first collective with its short timeout
    if baseline is not None:
        console.line(f"pixels alone: {baseline:.1%} of the validation images (logistic "
                     "regression on raw 32 x 32 pixels: what the model must beat)")  # fmt: skip
    try:
        result = run(
            prepared,
            TrainCallbacks(
                on_step=console.step,
                on_epoch=lambda info: console.line(_epoch_text(info)),
                on_note=console.line,
            ),
        )
    except KeyboardInterrupt:
        console.close()
        if prepared.resumable_checkpoint() is not None:
            print(f"interrupted; resume with: {request.resume_command()}", file=sys.stderr)
        else:
            print("interrupted before the first checkpoint; nothing to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except RunFailed as exc:
        console.close()
        if exc.checkpoint is None:
            raise
        raise StudioError(
            f"{exc} (the last checkpoint, {exc.checkpoint}, is kept: resume with "
            f"{request.resume_command()})"
        ) from exc
    console.close()
    _print_result(result, request, baseline)
    if report is not None:
        page = write_report(report, _run_report(prepared, result, baseline))
        print(f"report: {page}")
    return 0


def _run_report(prepared: PreparedRun, result: TrainResult, baseline: float | None) -> RunReport:
    """The report's contents: the kept model scored again on the validation images."""
    validation = None
    paths = result.paths
    if prepared.val_images is not None and paths is not None and paths.model.is_file():
        validation = evaluate(load_studio_model(paths.model), prepared.val_images)
    plan = prepared.plan
    return RunReport(
        title=prepared.command_line,
        result=result,
        validation=validation,
        settings=plan.explain() if plan is not None else (),
        pixel_baseline=baseline,
    )
def _local_base_model(request: RunRequest) -> Path | None:
    """The file a fine-tune starts from, as far as it is known without downloading: the bundled
    model when none is named, a hub model only once it is in its cache."""
    if request.command != FINETUNE:
        return None
    if request.base_model is None:
        return resources.default_model_path()
    entry = parse_reference(str(request.base_model))
    return request.base_model if entry is None else local_path(entry)


def _report_prepared(console: Console, prepared: PreparedRun, seconds: float) -> None:
    """What the run starts from, and the files that no longer decoded since the scan."""
    checkpoint = prepared.checkpoint
    if checkpoint is not None:
        console.line(
            f"resuming {checkpoint.path} after epoch {checkpoint.epoch} of {prepared.config.epochs}"
        )
    console.line(f"model: {prepared.description}")
    for skipped in prepared.skipped:
        console.line(f"skipped {skipped.path}: {skipped.reason}", sys.stderr)
    count = len(prepared.train_images.labels)
    if prepared.val_images is not None:
        count += len(prepared.val_images.labels)
    size = prepared.train_images.images.shape[-1]
    console.line(
        f"loaded {counted(count, 'image')} at {size}px in {seconds:.1f} s ({prepared.cache_note})"
    )


def _epoch_text(info: EpochInfo) -> str:
    text = f"epoch {info.epoch}/{info.epochs}  loss {info.train_loss:.4f}  acc {info.train_acc:.1%}"
    if info.val_acc is not None:
        text += f"  val loss {info.val_loss:.4f}  val acc {info.val_acc:.2%}"
    text += f"  lr {info.lr:.2e}  {info.seconds:.1f} s  {info.images_per_s:,.0f} img/s"
    if info.best:
        text += "  saved"
    return text


def _print_result(result: TrainResult, request: RunRequest, baseline: float | None) -> None:
    if result.best_val_acc is not None:
        kept = "the starting model" if result.best_epoch == 0 else f"epoch {result.best_epoch}"
        best = f"best validation accuracy {result.best_val_acc:.2%} ({kept})"
        start = result.start
        if start is not None and start.base_acc is not None:
            best += f"; the base model alone {start.base_acc:.2%}"
        if start is not None and start.probe_acc is not None:
            best += f", a probe on its frozen features {start.probe_acc:.2%}"
        if baseline is not None:
            best += f", pixels alone {baseline:.2%}"
    else:
        best = "no validation images: the latest model was kept"
    epochs = counted(result.epochs_completed, "epoch")
    print(f"{result.status.outcome} after {epochs} in {elapsed_text(result.seconds)}; {best}")
    if result.paths is not None and result.paths.model.exists():
        print(f"model: {result.paths.model}")
        print(f"metrics: {result.paths.metrics}")
    if result.status == RunStatus.TIME_BUDGET and result.paths is not None:
        print(f"continue with: {request.resume_command()}")
