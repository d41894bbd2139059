"""Errors that the CLI turns into one clear message and exit status 2."""


class InputError(ValueError):
    """Bad user input: the message names the field, the value and what is allowed."""
