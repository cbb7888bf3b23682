"""Fine-tuning from the GUI: the panel, its widgets, and the worker that trains in its thread."""
