"""Where downloads go and which files are models, answered without torch, as torch answers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch.hub

from vit_studio.engine.locations import default_torch_hub_checkpoints, is_model_path


@pytest.mark.parametrize(
    "env",
    [{}, {"TORCH_HOME": "{tmp}/torch-home"}, {"XDG_CACHE_HOME": "{tmp}/xdg"},
     {"TORCH_HOME": "{tmp}/torch-home", "XDG_CACHE_HOME": "{tmp}/xdg"},
     {"TORCH_HOME": "~/elsewhere"}],
    ids=["default", "TORCH_HOME", "XDG_CACHE_HOME", "both", "TORCH_HOME with ~"],
)  # fmt: skip
def test_the_torch_hub_folder_is_the_one_torch_hub_uses(env, tmp_path, monkeypatch):
    for variable in ("TORCH_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value.format(tmp=tmp_path))
    assert default_torch_hub_checkpoints() == Path(torch.hub.get_dir()) / "checkpoints"


def test_model_files_are_known_by_name_and_hub_folders_by_their_config(tmp_path):
    (tmp_path / "hub").mkdir()
    (tmp_path / "hub" / "config.json").write_text("{}")
    (tmp_path / "photos").mkdir()
    assert is_model_path(tmp_path / "vit.SafeTensors") and is_model_path(tmp_path / "hub")
    assert not is_model_path(tmp_path / "cat.jpg") and not is_model_path(tmp_path / "photos")
