"""The console scripts' entry points, in a module that imports only the standard library.

A command's first moments are spent loading: click, then torch (seconds) or
ONNX Runtime and OpenCV (a third of one). A Ctrl-C meanwhile must be the
command's one line, not a traceback from deep inside an import; since the
console script imports this module first, what is left uncovered is the
interpreter's own start.
"""

import importlib
import sys
from collections.abc import Callable
from typing import NoReturn


def interrupted(prog: str, said: str = "") -> NoReturn:
    """Ctrl-C: one line, with what the command kept if it says, and the shell's exit code for SIGINT."""
    print(f"{prog}: interrupted" + (f": {said}" if said else ""), file=sys.stderr)
    sys.exit(130)


def load_and_run(prog: str, module: str, name: str) -> None:
    """Import a command's module and run its entry point `name`, a Ctrl-C while it loads being one line.

    What the Ctrl-C interrupted may turn it into an error of its own: ONNX
    Runtime's ImportError "initialization failed", or on Python 3.11 a
    dataclass's RuntimeError "Error calling __set_name__".
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


def _command(prog: str, module: str, name: str) -> Callable[[], None]:
    return lambda: load_and_run(prog, module, name)


# cnn-train, cnn-eval and cnn-export go through their package, which says which extra to install if torch is missing.
run_main = _command("cnn-run", "digit_cnn_edge.runtime.cli", "run_main")
train_main = _command("cnn-train", "digit_cnn_edge.train", "train_main")
eval_main = _command("cnn-eval", "digit_cnn_edge.train", "eval_main")
export_main = _command("cnn-export", "digit_cnn_edge.export", "export_main")
