"""The engine: models, images, analysis and training. Pure torch/numpy/pillow; never imports Qt."""
