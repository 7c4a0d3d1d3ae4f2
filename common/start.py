"""The console scripts' entry points, in a module that imports only the standard library.

A command's first moments are spent loading: click, then torch (seconds) or
ONNX Runtime and OpenCV (a third of one). A Ctrl-C meanwhile must be the
command's one line, not a traceback from deep inside an import; since the
console script imports this module first, what is left uncovered is the
interpreter's own start.
"""

from __future__ import annotations

import importlib
import signal
import sys

TYPE_CHECKING = False  # typing itself takes 3 ms to import, a window in which a Ctrl-C is a traceback
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType
    from typing import NoReturn


def interrupted(prog: str, said: str = "") -> NoReturn:
    """Ctrl-C: one line, with what the command kept if it says, and the shell's exit code for SIGINT."""
    print(f"{prog}: interrupted" + (f": {said}" if said else ""), file=sys.stderr)
    sys.exit(130)


def load_and_run(prog: str, module: str, name: str) -> None:
    """Import a command's module and run its entry point `name`, a Ctrl-C while it loads being one line.

    What the Ctrl-C interrupted may turn it into an error of its own: ONNX
    Runtime's ImportError "initialization failed", on Python 3.11 a
    dataclass's RuntimeError "Error calling __set_name__", or numpy's
    ImportError "Importing the numpy C-extensions failed", which keeps no
    trace of the KeyboardInterrupt; so whether SIGINT came is noted too.
    """
    came: list[bool] = []

    def noted(signum: int, frame: FrameType | None) -> None:
        came.append(True)
        signal.default_int_handler(signum, frame)  # raises KeyboardInterrupt

    ours = signal.getsignal(signal.SIGINT) is signal.default_int_handler  # not where SIGINT is ignored
    if ours:
        signal.signal(signal.SIGINT, noted)
    try:
        main = getattr(importlib.import_module(module), name)
    except KeyboardInterrupt:
        interrupted(prog)
    except Exception as e:
        if not (came or caused_by_ctrl_c(e)):
            raise
        interrupted(prog)
    finally:
        if ours and signal.getsignal(signal.SIGINT) is noted:
            signal.signal(signal.SIGINT, signal.default_int_handler)
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


def _command(prog: str, module: str, name: str) -> Callable[[], None]:
    return lambda: load_and_run(prog, module, name)


# cnn-train, cnn-eval and cnn-export go through their package, which says which extra to install if torch is missing.
run_main = _command("cnn-run", "digit_cnn_edge.runtime.cli", "run_main")
train_main = _command("cnn-train", "digit_cnn_edge.train", "train_main")
eval_main = _command("cnn-eval", "digit_cnn_edge.train", "eval_main")
export_main = _command("cnn-export", "digit_cnn_edge.export", "export_main")
