"""`python -m tests.engine.training.stop_after_one_epoch train ...`: `vit-studio` whose run is
cancelled once its first epoch is saved, as the fine-tune panel's Stop would cancel it.

The distributed tests start it under torchrun to leave a checkpoint after epoch 1 that a run
with another number of processes then resumes.
"""

import sys

from vit_studio.cli import main
from vit_studio.engine.training import pipeline

_real_train = pipeline.train


def _train_one_epoch(*args, callbacks, cancel, **kwargs):
    epochs = []
    on_epoch = callbacks.on_epoch

    def count(info):
        epochs.append(info.epoch)
        if on_epoch is not None:
            on_epoch(info)

    callbacks.on_epoch = count
    return _real_train(*args, callbacks=callbacks, cancel=lambda: bool(epochs), **kwargs)


if __name__ == "__main__":
    pipeline.train = _train_one_epoch
    sys.exit(main())
