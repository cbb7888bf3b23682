"""Folder names matched to a model's classes as people write them: case, separators and plurals
set aside, ImageNet-style synonym lists read, and nothing matched twice or by a mere prefix."""

import pytest

from vit_studio.engine.training.class_match import match_class_names, same_class

CIFAR = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@pytest.mark.parametrize(
    ("folder", "model_class"),
    [("cats", "cat"), ("Dogs", "dog"), ("buses", "bus"), ("butterflies", "butterfly"),
     ("Sports_Car", "sports car"), ("sports-cars", "sports car"), ("deer", "deer"),
     ("boxes", "box"), ("airplane", "airplanes")],
)  # fmt: skip
def test_the_same_class_in_other_words(folder, model_class):
    assert same_class(folder, model_class)


@pytest.mark.parametrize(
    ("folder", "model_class"),
    [("cat", "dog"), ("cat", "catch"), ("car", "cart"), ("ship", "sheep"), ("", "cat")],
)
def test_different_classes_and_prefixes_do_not_match(folder, model_class):
    assert not same_class(folder, model_class)


def test_each_folder_gets_the_index_of_its_class():
    assert match_class_names(("dogs", "cats"), CIFAR) == (5, 3)


def test_a_synonym_list_matches_any_of_its_names():
    imagenet = ("tench, Tinca tinca", "tabby, tabby cat", "tiger cat")
    assert match_class_names(("tabby cats", "Tinca tinca"), imagenet) == (1, 0)


def test_no_match_when_a_folder_is_not_a_class_or_two_folders_name_one_class():
    assert match_class_names(("cats", "hamsters"), CIFAR) is None
    assert match_class_names(("cat", "cats"), CIFAR) is None
