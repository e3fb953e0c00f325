"""The error of something a user gave that cannot be used: a config value out of range, a
file that is not what it should be, an output another run holds. A command reports it as one
line (``error: …``, ``neurosnn.io.output.one_line_errors``) where any other exception, a bug,
keeps its traceback; Python callers can catch it as the ``ValueError`` it is."""


class UserError(ValueError):
    """A value, file or folder given to neurosnn that it cannot use; the message says which,
    what was expected and what was found."""
