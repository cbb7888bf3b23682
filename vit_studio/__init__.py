"""ViT Studio: look inside Vision Transformers and fine-tune them on your own images."""

__version__ = "0.1.0"
