"""JAX's persistent compilation cache, as the commands turn it on (sonicsep/nn/compile_cache.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from sonicsep.nn import compile_cache

DIR, SIZE = compile_cache.DIR_VARIABLE, compile_cache.SIZE_VARIABLE


def test_the_default_folder_is_under_the_user_cache(tmp_path):
    environ = {"XDG_CACHE_HOME": str(tmp_path)}
    folder = compile_cache.enable(environ)
    assert folder == tmp_path / "sonicsep" / "jax" and folder.is_dir()
    assert environ[DIR] == str(folder) and environ[SIZE] == str(2 << 30)


def test_jax_s_own_variables_win_and_an_empty_folder_turns_it_off(tmp_path):
    environ = {"XDG_CACHE_HOME": str(tmp_path), DIR: str(tmp_path / "mine"), SIZE: "1000"}
    assert compile_cache.enable(environ) == tmp_path / "mine"
    assert environ[SIZE] == "1000" and not (tmp_path / "sonicsep").exists()
    assert compile_cache.enable({"XDG_CACHE_HOME": str(tmp_path), DIR: ""}) is None


def test_no_folder_can_be_made_leaves_it_off(tmp_path):
    (tmp_path / "file").write_text("")
    environ = {"XDG_CACHE_HOME": str(tmp_path / "file")}
    assert compile_cache.enable(environ) is None and DIR not in environ


def test_a_process_that_enables_it_writes_its_compilations_there(tmp_path):
    environ = {k: v for k, v in os.environ.items() if k not in (DIR, SIZE)}
    environ.update(XDG_CACHE_HOME=str(tmp_path), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    program = (
        "from sonicsep.nn import compile_cache; compile_cache.enable();"
        "import jax, jax.numpy as jnp;"
        "print(jax.jit(lambda x: jnp.sin(x) * 3)(jnp.arange(5.0)).sum())"
    )
    for _ in range(2):  # the second run loads what the first wrote
        done = subprocess.run([sys.executable, "-c", program], env=environ,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and done.stderr == "", done.stderr
    entries = list((tmp_path / "sonicsep" / "jax").glob("*-cache"))
    assert entries, list((tmp_path / "sonicsep" / "jax").iterdir())
