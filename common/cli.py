"""What every console script shares: one-line errors, clean Ctrl-C.

This is the one place an error becomes text. Everything a user can cause is a
`UserError` raised where it happens; click's own usage errors (bad option
values) come here too. Each is printed as `prog: error: message` on one line.
"""

import importlib.util
import math
import sys
from collections.abc import Callable, Iterable
from typing import NoReturn

import click

from digit_cnn_edge.common.errors import MissingExtra, UserError
from digit_cnn_edge.common.start import interrupted


def print_error(prog: str, message: str) -> None:
    """One line on stderr, whatever line breaks the message carried."""
    click.echo(f"{prog}: error: {' '.join(str(message).splitlines())}", err=True)


def report(error: UserError) -> None:
    """An error that fails one input of a command that goes on with the others (cnn-run's sources)."""
    print_error(click.get_current_context().find_root().info_name, str(error))


def fail(prog: str, error: UserError) -> NoReturn:
    print_error(prog, str(error))
    sys.exit(error.exit_code)


def run_cli(command: click.Command, prog: str, argv: list[str] | None = None) -> NoReturn:
    """Run a click command so that any failure the user caused is one line on stderr.

    Click's own usage errors print three lines; users asked for one, naming the problem.
    """
    try:
        rv = command.main(args=argv, prog_name=prog, standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt) as e:
        # Click turns Ctrl-C into Abort; a stage may have said what it kept ("kept the last finished epoch ...").
        interrupted(prog, str(e.__cause__ if isinstance(e, click.exceptions.Abort) and e.__cause__ else e))
    except click.ClickException as e:
        print_error(prog, e.format_message())
        sys.exit(e.exit_code)
    except UserError as e:
        fail(prog, e)
    sys.exit(rv if isinstance(rv, int) else 0)


def entry_point(command: click.Command, prog: str) -> Callable[[], None]:
    """A zero-argument function for [project.scripts]."""
    return lambda: run_cli(command, prog)


def missing_modules(modules: Iterable[str]) -> list[str]:
    """The modules that are not installed, found without importing any."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def needs_extra(prog: str, extra: str, modules: tuple[str, ...]) -> None:
    """Exit 2 with one line when an optional dependency group is not installed.

    The base install is the runtime alone, so `cnn-train` and `cnn-export` can
    be on the PATH without torch; they say which extra to install instead of
    ending in an import traceback.
    """
    missing = missing_modules(modules)
    if missing:
        fail(prog, MissingExtra(f"needs {', '.join(missing)}: pip install 'digit-cnn-edge[{extra}]'"))


class FiniteFloatRange(click.FloatRange):
    """click's FloatRange without nan and infinity, which it lets through.

    Its bounds are comparisons, and every comparison with nan is false, so
    `--atol nan` would pass `min=0` and then turn off every `diff > atol` gate.
    """

    name = "finite float range"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number
