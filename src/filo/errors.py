"""The one exception type for problems a user can fix (bad input, missing files, bad config)."""


class FiloError(Exception):
    """A problem with the user's input or setup.

    The message must say what was wrong (with the offending path or value) and how to
    fix it; the CLI prints it as one line, without a traceback.
    """


class Interrupted(BaseException):
    """The process was asked to stop by a signal (SIGTERM, SIGHUP); raised so cleanups and run records unwind.

    A BaseException like KeyboardInterrupt, so that `except Exception` blocks do not swallow it.
    """

    def __init__(self, signal_number: int) -> None:
        import signal

        self.signal_number = signal_number
        super().__init__(f"interrupted by {signal.Signals(signal_number).name}")
