"""The Qt desktop app. Talks to the engine only through the workers in `workers`."""
