"""What every console script shares: one-line errors, clean Ctrl-C."""

import importlib.util
import sys
from collections.abc import Callable

import click


def run_cli(command: click.Command, prog: str, argv: list[str] | None = None) -> None:
    """Run a click command so that any failure the user caused is one line on stderr.

    Click's own usage errors print three lines; users asked for one, naming the problem.
    """
    try:
        rv = command.main(args=argv, prog_name=prog, standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo(f"{prog}: interrupted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo(f"{prog}: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        click.echo(f"{prog}: error: {e.format_message()}", err=True)
        sys.exit(e.exit_code)
    sys.exit(rv if isinstance(rv, int) else 0)


def entry_point(command: click.Command, prog: str) -> Callable[[], None]:
    """A zero-argument function for [project.scripts]."""
    return lambda: run_cli(command, prog)


def needs_extra(prog: str, extra: str, modules: tuple[str, ...]) -> None:
    """Exit 2 with one line when an optional dependency group is not installed.

    The base install is the runtime alone, so `cnn-train` and `cnn-export` can
    be on the PATH without torch; they say which extra to install instead of
    ending in an import traceback.
    """
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        click.echo(f"{prog}: error: needs {', '.join(missing)}: pip install 'digit-cnn-edge[{extra}]'", err=True)
        sys.exit(2)
