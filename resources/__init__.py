"""The files ViT Studio ships: installed as the package `vit_studio.resources` (pyproject.toml maps
this folder into it), read through `vit_studio.engine.resources`."""
