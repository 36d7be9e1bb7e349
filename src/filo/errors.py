"""The one exception type for problems a user can fix (bad input, missing files, bad config)."""


class FiloError(Exception):
    """A problem with the user's input or setup.

    The message must say what was wrong (with the offending path or value) and how to
    fix it; the CLI prints it as one line, without a traceback.
    """
