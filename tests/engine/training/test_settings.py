"""The settings table: every setting is described for each command that has it, and the words
of a run's command line give its values back exactly."""

import pytest

from vit_studio.cli import build_parser
from vit_studio.cli.train import request_from
from vit_studio.engine.training.settings import (
    COMMANDS,
    FINETUNE,
    LEARNING,
    RUNTIME,
    command_arguments,
    setting,
    settings_for,
)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_setting_says_what_it_does_and_its_default_for_its_command(command):
    entries = settings_for(command)
    assert len({entry.option for entry in entries}) == len(entries)  # one flag each
    for entry in entries:
        assert entry.label and entry.help.endswith(".") and entry.default_for(command)
        assert entry.type in (int, float, str, bool)
        assert not entry.choices or entry.type is str


def test_kinds_select_what_a_resumed_run_may_change():
    runtime = {entry.name for entry in settings_for(FINETUNE, RUNTIME)}
    assert runtime == {"device", "precision", "compile", "max_minutes", "fit_epochs",
                       "patience", "val_every", "checkpoint_every"}  # fmt: skip
    assert "lr" in {entry.name for entry in settings_for(FINETUNE, LEARNING)}
    assert setting("train", "layers").target == "num_layers"
    with pytest.raises(KeyError):
        setting("train", "freeze")  # a new model has nothing to freeze


def test_command_words_read_back_as_the_same_values():
    values = {"epochs": 7, "lr": 0.1 + 0.2, "augment": "strong", "compile": True,
              "fit_epochs": False, "seed": None, "freeze": "2", "val_share": 0.25}  # fmt: skip
    words = command_arguments(FINETUNE, values)
    assert words == ["--epochs", "7", "--lr", "0.30000000000000004", "--freeze", "2",
                     "--augment", "strong", "--val-share", "0.25", "--compile"]  # fmt: skip
    # The parser of the finetune command (the top-level one only lists the commands).
    args = build_parser(FINETUNE).parse_args(["finetune", "folder", "--out", "m.safetensors",
                                              *words])  # fmt: skip
    given = request_from(FINETUNE, args).settings
    assert given == {name: value for name, value in values.items() if value not in (None, False)}
