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


def interrupted(prog: str, said: str = "") -> NoReturn:
    """Ctrl-C: one line, with what the command kept if it says, and the shell's exit code for SIGINT."""
    click.echo(f"{prog}: interrupted" + (f": {said}" if said else ""), err=True)
    sys.exit(130)


def entry_point(command: click.Command, prog: str) -> Callable[[], None]:
    """A zero-argument function for [project.scripts]."""
    return lambda: run_cli(command, prog)


def load_and_run(prog: str, module: str, name: str) -> None:
    """Import a command's module and run its entry point `name`.

    Loading takes a while (torch seconds, ONNX Runtime and OpenCV a third of
    one), and a Ctrl-C meanwhile is the command's one line, not a traceback
    from deep inside an import. What it interrupted may turn it into an
    error of its own: ONNX Runtime's ImportError "initialization failed", or
    on Python 3.11 a dataclass's RuntimeError "Error calling __set_name__".
    """
    try:
        main = getattr(importlib.import_module(module), name)
    except KeyboardInterrupt:
        interrupted(prog)
    except Exception as e:
        if not caused_by_ctrl_c(e):
            raise
        interrupted(prog)
    main()


def caused_by_ctrl_c(error: BaseException) -> bool:
    """Whether a KeyboardInterrupt is among the exceptions that led to `error`: its causes and contexts, and theirs."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        cause = todo.pop()
        if cause is None or id(cause) in seen:
            continue
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        todo += [cause.__cause__, cause.__context__]
    return False


def run_main() -> None:
    """`cnn-run`'s console script: here, in a module that loads nothing heavy, so a Ctrl-C at start is one line."""
    load_and_run("cnn-run", "digit_cnn_edge.runtime.cli", "run_main")


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
