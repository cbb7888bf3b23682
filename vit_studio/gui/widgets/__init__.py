"""Views and panels of the main window; each draws from an `Analysis` handed to it."""
