"""The files shipped with ViT Studio: found through the installed package, in any install."""

from importlib import resources as importlib_resources
from pathlib import Path

import pytest

from tests.conftest import write_image
from vit_studio.engine import resources


def test_the_bundled_files_are_read_through_the_installed_package():
    try:
        installed = Path(str(importlib_resources.files("vit_studio.resources")))
    except ModuleNotFoundError:
        pytest.skip("run from a clone that is not installed: no vit_studio.resources package")
    assert installed == resources.RESOURCES_DIR
    assert (installed / "models").is_dir() and (installed / "samples").is_dir()


def test_the_start_up_sample_is_the_cat_or_else_the_first_photo(tmp_path, monkeypatch):
    monkeypatch.setattr(resources, "SAMPLES_DIR", tmp_path)
    assert resources.sample_images() == [] and resources.default_sample() is None
    first = write_image(tmp_path / "a_rocket.png")
    (tmp_path / "LICENSES.md").write_text("credits")
    assert resources.sample_images() == [first] and resources.default_sample() == first
    cat = write_image(tmp_path / resources.DEFAULT_SAMPLE_NAME)
    assert resources.default_sample() == cat
    monkeypatch.setattr(resources, "SAMPLES_DIR", tmp_path / "missing")
    assert resources.sample_images() == []
