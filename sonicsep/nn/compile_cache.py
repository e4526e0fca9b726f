"""JAX's persistent compilation cache for SonicSep's commands.

Every ``python -m sonicsep.train``, ``transfer``, ``predict``, ``similar`` and ``serve`` run
compiles its model's programs again; a rerun of the same model and batch shapes (a resumed run,
the next prediction, the report's second look) can load them from disk instead. The cache lives
in ``$XDG_CACHE_HOME/sonicsep/jax`` (``~/.cache/sonicsep/jax``), bounded to
:data:`MAX_BYTES` with JAX's least-recently-used eviction, whose file lock also keeps two
processes from reading an entry while another writes it.

JAX's own variables win: ``JAX_COMPILATION_CACHE_DIR`` chooses another folder, and setting it
to an empty string turns the cache off; ``JAX_COMPILATION_CACHE_MAX_SIZE`` sets the bound.
Only programs that took at least a second to compile are written (JAX's default,
``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

MAX_BYTES = 2 << 30
DIR_VARIABLE = "JAX_COMPILATION_CACHE_DIR"
SIZE_VARIABLE = "JAX_COMPILATION_CACHE_MAX_SIZE"


def default_dir(environ: MutableMapping[str, str]) -> Path:
    """``$XDG_CACHE_HOME/sonicsep/jax``, ``~/.cache/sonicsep/jax`` without it."""
    base = environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sonicsep" / "jax"


def enable(environ: MutableMapping[str, str] | None = None) -> Path | None:
    """Turn the cache on for this process and the processes it starts; returns its folder, or
    None where it is off (``JAX_COMPILATION_CACHE_DIR`` set empty, or no folder can be made).

    It works through JAX's variables, so that importing JAX is left to the first model: a
    command's ``main`` calls it first. Where JAX is imported already, its settings follow.
    """
    environ = os.environ if environ is None else environ
    if DIR_VARIABLE not in environ:
        folder = default_dir(environ)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:  # a read-only home: compile as without the cache
            return None
        environ[DIR_VARIABLE] = str(folder)
    environ.setdefault(SIZE_VARIABLE, str(MAX_BYTES))
    jax = sys.modules.get("jax")
    if jax is not None and environ is os.environ:  # JAX read the variables at import
        jax.config.update("jax_compilation_cache_dir", environ[DIR_VARIABLE] or None)
        jax.config.update("jax_compilation_cache_max_size", int(environ[SIZE_VARIABLE]))
    return Path(environ[DIR_VARIABLE]) if environ[DIR_VARIABLE] else None
