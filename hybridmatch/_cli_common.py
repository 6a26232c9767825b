"""What every ``hybridmatch`` command shares: one line and exit code 2 for bad input, never a traceback."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from .errors import HybridMatchError, Interrupted

__all__ = ["OneLineErrors", "friendly", "int_list"]


def friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turns expected failures into one line on stderr and a non-zero exit, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HybridMatchError as exc:
            click.echo(f"hybridmatch: error: {exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt as exc:
            click.echo(f"hybridmatch: {exc}" if isinstance(exc, Interrupted) else "hybridmatch: interrupted", err=True)
            sys.exit(130)
        except OSError as exc:  # the machine's, not the input's: a full disk, a folder that went away
            click.echo(f"hybridmatch: error: {exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}", err=True)
            sys.exit(2)
        except Exception as exc:  # a bug: one line unless HYBRIDMATCH_DEBUG asks for the traceback
            if os.environ.get("HYBRIDMATCH_DEBUG"):
                raise
            click.echo(f"hybridmatch: internal error: {type(exc).__name__}: {exc} (set HYBRIDMATCH_DEBUG=1 for details)", err=True)
            sys.exit(1)

    return wrapper


class OneLineErrors(click.Group):
    """Usage errors (an unknown option, ``--budget nan``) as one line and exit code 2, like every
    other bad input, instead of click's usage block."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False  # click's errors come back here instead of being printed with the usage
        try:
            code = super().main(*args, **kwargs)
        except click.ClickException as exc:
            click.echo(f"hybridmatch: error: {exc.format_message()}", err=True)
            sys.exit(2)
        except click.Abort:
            click.echo("hybridmatch: interrupted", err=True)
            sys.exit(130)
        finally:
            if "hybridmatch.render" in sys.modules:  # the command is done with its render workers
                from .render import end_workers

                end_workers()
        sys.exit(code if isinstance(code, int) else 0)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The ``hybridmatch`` process's entry point (tests call :meth:`main` and keep their process).
        Once the command is done and every file is written, the process ends without tearing down
        its modules: Python's clean-up of torch, nevergrad and librosa took 0.7-1.2 s after every
        command. The exit handlers (logging, temporary folders, joblib's) still run."""
        try:
            self.main(*args, **kwargs)
            code: Any = 0
        except SystemExit as exc:
            code = exc.code
        _exit_now(code)


def _exit_now(code: Any) -> None:
    """Ends the process as ``sys.exit(code)`` would, less the module teardown: the exit handlers
    run and the standard streams are flushed first."""
    import atexit

    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()  # what interpreter shutdown would run first; os._exit runs none
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or broken pipe has nothing left to flush
            stream.flush()
    os._exit(code or 0)


def int_list(ctx: Any, param: Any, value: str) -> list[int]:
    try:
        out = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter("expected comma-separated integers") from None
    if not out or min(out) < 1:
        raise click.BadParameter("expected positive integers")
    return out
