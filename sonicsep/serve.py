"""``python -m sonicsep.serve``: the genre and similar-songs demo as a local web page.

Serves :mod:`sonicsep.webapp` with uvicorn on ``--host``:``--port`` (default 127.0.0.1:8000)
and prints the page's URL once it is listening. The server has no authentication: binding to
any address but a loopback one prints a warning saying so.

With no ``--store`` it serves the demo store (:data:`sonicsep.store.DEFAULT_STORE`), and with no
``--model`` the classical models ``python -m sonicsep.benchmark`` writes for it
(:data:`sonicsep.benchmark.DEFAULT_OUT`); whichever is missing is built first, by the same
entry points a user would run (``python -m sonicsep.featurize``, then
``python -m sonicsep.benchmark --features summary``), with their progress shown. A store given
with ``--store`` needs a ``--model`` too: training one on a real dataset is a job of its own.

Exit codes: 0 the server was stopped (SIGTERM), 2 usage error (no such store or model, bad
option, an address it cannot listen on), 3 the demo store or model could not be built, 130
interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Sequence
from pathlib import Path

from sonicsep.errors import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    SonicSepError,
    exits_on_interrupt,
)
from sonicsep.nn import compile_cache
from sonicsep.store import COMPLETE, DEFAULT_STORE, store_state
from sonicsep.webapp import DEFAULT_K, DEFAULT_MAX_UPLOAD_MB

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
# How the demo model is trained: the benchmark's defaults on the summary set alone. Every set
# took 3m22 on the 2-core development machine, summary alone 1m03, and its models scored
# 90-100% test track accuracy on the demo store there, as the other sets' did (80-100%).
DEMO_BENCHMARK = ["--features", "summary"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) reaches this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def bind_warning(host: str) -> str:
    return (
        f"warning: serving on {host}, which other machines may reach: the server has no "
        "authentication, so anyone who can connect can upload files to it and listen to the "
        f"store's audio; use --host {DEFAULT_HOST} to keep it to this machine"
    )


def page_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def ensure_demo_store(say) -> int:
    """Featurize the demo corpus into :data:`DEFAULT_STORE` unless it is complete; exit code."""
    if store_state(DEFAULT_STORE) == COMPLETE:
        return EXIT_OK
    from sonicsep import featurize

    say(f"no demo store at {DEFAULT_STORE}: building it first, as "
        "`python -m sonicsep.featurize` does (about a minute)")
    return featurize.main([])


def ensure_demo_model(store: str, model: Path, say) -> int:
    """Train the demo's classical models into ``model`` unless it holds some; exit code."""
    if (model / "models").is_dir():
        return EXIT_OK
    from sonicsep import benchmark

    argv = ["--store", store, "--out", str(model), *DEMO_BENCHMARK]
    say(f"no model at {model}: training one first, as `python -m sonicsep.benchmark "
        f"{' '.join(argv)}` does")
    return benchmark.main(argv)


def build_parser() -> argparse.ArgumentParser:
    from sonicsep.benchmark import DEFAULT_OUT

    p = argparse.ArgumentParser(
        prog="python -m sonicsep.serve",
        description="Serve the genre and similar-songs demo as a local web page.",
    )
    p.add_argument("--store", help=f"local feature store (default: {DEFAULT_STORE}, the demo "
                   "store, featurized first if absent)")
    p.add_argument("--model", help="deep-model workdir, classical .joblib or classical results "
                   f"folder (default with the demo store: {DEFAULT_OUT}, trained first if "
                   "absent; required with --store)")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default: {DEFAULT_HOST}, this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"port (default: {DEFAULT_PORT})")
    p.add_argument("--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_MB, metavar="MB",
                   help=f"largest upload accepted, in MB (default: {DEFAULT_MAX_UPLOAD_MB})")
    p.add_argument("-k", type=int, default=DEFAULT_K,
                   help=f"similar tracks shown (default: {DEFAULT_K})")
    return p


def serve(app, host: str, port: int) -> bool:
    """Run ``app`` with uvicorn until stopped, printing the URL once it listens; False when
    it could not listen (uvicorn has logged why)."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets=None):
            await super().startup(sockets)
            if self.started:  # port 0: the port the system chose
                bound = self.servers[0].sockets[0].getsockname()[1]
                print(f"SonicSep demo at {page_url(host, bound)}  (Ctrl-C stops it)", flush=True)

    server = Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                   access_log=False))
    try:
        server.run()
    except SystemExit:  # uvicorn's way out when it cannot bind
        return False
    return server.started


@exits_on_interrupt(
    "the server is stopped; it wrote nothing but the demo store and model it was building "
    "(featurize resumes, benchmark restarts): rerun the same command"
)
def main(argv: Sequence[str] | None = None) -> int:
    from sonicsep.benchmark import DEFAULT_OUT

    args = build_parser().parse_args(argv)
    compile_cache.enable()  # for a deep model, and the demo's training
    if args.max_upload_mb <= 0 or args.k < 1 or not 0 <= args.port < 65536:
        print("error: --max-upload-mb must be > 0, -k >= 1 and --port in [0, 65535]",
              file=sys.stderr)
        return EXIT_USAGE
    if args.store is not None and args.model is None:
        print("error: --store needs --model: a model trained on that store "
              "(python -m sonicsep.benchmark --store STORE writes one to classical-results/)",
              file=sys.stderr)
        return EXIT_USAGE
    if not is_loopback(args.host):
        print(bind_warning(args.host), file=sys.stderr, flush=True)

    def say(line):
        print(line, file=sys.stderr, flush=True)

    store = args.store or DEFAULT_STORE
    model = args.model or DEFAULT_OUT
    if args.store is None:
        code = ensure_demo_store(say)
        if code != EXIT_OK:
            say("error: the demo store could not be built (see above)")
            return code if code == EXIT_USAGE else EXIT_PARTIAL
    if args.model is None:
        code = ensure_demo_model(store, Path(model), say)
        if code != EXIT_OK:
            say("error: the demo model could not be trained (see above)")
            return code if code == EXIT_USAGE else EXIT_PARTIAL
    from sonicsep.webapp import create_app, load_demo

    try:
        say(f"loading the model ({model}) and the similarity index of {store} ...")
        demo = load_demo(store, model, k=args.k, max_upload_mb=args.max_upload_mb)
    except SonicSepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not serve(create_app(demo), args.host, args.port):
        print(f"error: could not listen on {args.host}:{args.port}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
