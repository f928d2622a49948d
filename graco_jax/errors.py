"""The user's mistakes, as exception types the CLI reports in one line (no traceback).

Anything raised as (a subclass of) `InputError` is the user's to fix: a bad path, an unreadable or
unsafe file, a bad click, a bad config override, a missing dataset folder. Everything else is a
bug and keeps its traceback. The classes also derive from the builtin type a caller would expect
(`ValueError`, `FileNotFoundError`), so existing `except ValueError` code keeps working.
"""


class InputError(ValueError):
  """Bad input from the user: the message says what is wrong, `hint` (if any) what to do."""

  def __init__(self, message: str, hint: str | None = None):
    super().__init__(message)
    self.hint = hint


class MissingInputError(InputError, FileNotFoundError):
  """A file or folder the user named does not exist."""


class ArtifactError(InputError):
  """An exported model that cannot be used here: corrupt, mismatched, or for another platform."""
