"""The one exception type for problems a user can cause and fix."""


class StudioError(Exception):
    """A bad file, folder, checkpoint or option.

    The message is one line that names the offending file (or option) and says how to fix it;
    the CLI prints it as is and exits 2, the GUI shows it without a traceback.
    """
