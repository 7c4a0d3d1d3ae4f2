"""The errors a user can cause and fix, as one small family.

Each is raised where the problem is found, with a message that names the file
and the problem; the shared CLI wrapper (`common.cli.run_cli`) prints it as one
line and exits with its code. Nothing else formats errors, so every command
fails the same way and no user mistake ends in a traceback.
"""


class UserError(Exception):
    """Something the user asked for that cannot be done as asked."""

    exit_code = 1


class BadInput(UserError):
    """An input (image, video, camera, data folder) that is missing, unreadable or refused."""


class BadModel(UserError):
    """A model or checkpoint file that is missing, corrupt, or not one of ours."""


class CannotWrite(UserError):
    """An output that cannot be written where it was asked for."""


class MissingExtra(UserError):
    """An optional dependency group that is not installed; 2, like a usage error, since nothing ran."""

    exit_code = 2


def shortened(text: str, most: int = 160) -> str:
    """`text` as one line of at most `most` characters, cut at a word: a library's reason or a file's own text
    inside an error line, which must stay one readable line however long they are."""
    line = " ".join(text.split())
    return line if len(line) <= most else line[:most].rsplit(" ", 1)[0] + " ..."
