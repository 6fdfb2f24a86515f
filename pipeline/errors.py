"""The one exception type for mistakes a user can make (bad option, bad file, bad grid).

Command-line entry points turn it into a one-line message and a nonzero exit, never a traceback.
"""


class InputError(ValueError):
    """Invalid user input: the message says what was expected."""
