"""SonicSep's one exception hierarchy.

Every error a user can cause derives from :class:`SonicSepError`, so a CLI can catch that one
type, print its message and exit with a usage or failure code instead of a stack trace. Messages
name the offending parameter, file or column and say what to do about it. The exit codes,
:func:`exits_on_interrupt` and :func:`deaf_to_ctrl_c` are the other half of how a command-line
job ends.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import sys
from collections.abc import Callable, Iterator

# Exit codes of every command-line job: success; usage error (bad arguments, missing input);
# some items failed but the rest was saved/answered.
EXIT_OK, EXIT_USAGE, EXIT_PARTIAL = 0, 2, 3
# Stopped by Ctrl-C (SIGINT), the shell convention 128 + 2; what was saved stays saved.
EXIT_INTERRUPTED = 130


def exits_on_interrupt(kept: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Decorate a CLI's ``main``: Ctrl-C ends it with one line and :data:`EXIT_INTERRUPTED`.

    A user who stops a job wants to know what survived, not where Python was; so instead of a
    traceback ``main`` prints ``interrupted; <kept>`` to stderr and returns 130.

    Parameters
    ----------
    kept : str
        What the interrupted job leaves behind and how to go on, e.g. "the last checkpoint is
        kept; rerun the same command to resume".
    """

    def decorate(main: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(main)
        def interruptible(*args, **kwargs) -> int:
            try:
                return main(*args, **kwargs)
            except KeyboardInterrupt:
                print(f"interrupted; {kept}", file=sys.stderr, flush=True)
                return EXIT_INTERRUPTED

        return interruptible

    return decorate


@contextlib.contextmanager
def deaf_to_ctrl_c() -> Iterator[None]:
    """Ignore SIGINT in this process while worker processes are started inside the block.

    Ctrl-C in a terminal signals every process of the job, and each worker process would
    print a traceback of its own. An ignored signal stays ignored across ``exec`` and Python
    then installs no handler, so workers started inside the block leave Ctrl-C to this process,
    which stops them on its way out. Keep the block to the start-up: a Ctrl-C inside it is lost.
    """
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class SonicSepError(Exception):
    """Base class of every error SonicSep raises on purpose."""


class ParameterError(SonicSepError, ValueError):
    """A function argument or configuration value is invalid (names the parameter and value)."""


class ConfigError(ParameterError):
    """A feature/training configuration is inconsistent or cannot be parsed."""


class DecodeError(SonicSepError):
    """An audio file cannot be decoded; names the file and the cause from each backend tried."""

    def __init__(self, path, causes):
        self.path = str(path)
        self.causes = dict(causes) if not isinstance(causes, str) else {"": causes}
        detail = "; ".join(f"{k}: {v}" if k else str(v) for k, v in self.causes.items())
        super().__init__(f"cannot decode audio file {self.path!r}: {detail}")

    def __reduce__(self):  # picklable across Dask workers
        return (type(self), (self.path, self.causes))


class DatasetError(SonicSepError):
    """A dataset folder, metadata file or split file is missing or malformed."""


class StoreError(SonicSepError):
    """A feature store is missing, malformed, or incompatible with the request."""


class StoreBusyError(StoreError):
    """Another live run holds the store's lease (:mod:`sonicsep.lease`); the message names it."""


class ModelError(SonicSepError):
    """A trained model directory is missing, incomplete, or incompatible with the input."""
