"""The web demo under load: latency and throughput of ``POST /api/predict``, on loopback only.

Starts ``python -m sonicsep.serve`` as a subprocess on 127.0.0.1 (a free port), warms it with
one request, then sends ``--rounds`` bursts of ``--clients`` concurrent uploads of a 30 s clip
(each client one request per burst, all released together) and times every request from
sending to the parsed answer. Bounded: at most ``--rounds`` bursts, and no burst starts after
``--max-seconds``. Beside it, in one run, the same analysis in-process and serially
(:meth:`sonicsep.webapp.Demo.analyse`: featurize, predict, search, spectrogram), the floor
that HTTP, multipart parsing and concurrency add to.

    .venv/bin/python benchmarks/bench_serve.py [--store sonicsep-demo.zarr]
        [--model classical-results] [--clip FILE] [--clients 20] [--rounds 3]

The clip defaults to the store's first track (a 30 s clip in the demo store).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from sonicsep.benchmark import DEFAULT_OUT
from sonicsep.store import DEFAULT_STORE
from sonicsep.webapp import load_demo

BOUNDARY = "sonicsep-bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def multipart(clip: Path) -> bytes:
    head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{clip.name}"\r\nContent-Type: application/octet-stream\r\n\r\n')
    return head.encode() + clip.read_bytes() + f"\r\n--{BOUNDARY}--\r\n".encode()


def post(url: str, body: bytes) -> float:
    """Seconds from sending the upload to the parsed answer; raises on any status but 200."""
    request = urllib.request.Request(
        url + "api/predict", data=body, method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        answer = json.loads(response.read())
    elapsed = time.perf_counter() - start
    if "top" not in answer:
        raise RuntimeError(f"unexpected answer: {str(answer)[:200]}")
    return elapsed


def burst(url: str, body: bytes, clients: int) -> tuple[list[float], float, list[str]]:
    """``clients`` uploads released at once: their latencies, the burst's wall time, errors."""
    latencies, errors = [], []
    gate = threading.Barrier(clients + 1)

    def client():
        gate.wait()
        try:
            latencies.append(post(url, body))
        except Exception as exc:  # every failure is reported, none stops the burst
            errors.append(repr(exc))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    gate.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - start, errors


def start_server(store: str, model: str, port: int) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "sonicsep.serve", "--store", store, "--model", model,
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()  # printed once it listens
    if "SonicSep demo at" not in line:
        server.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return server, f"http://127.0.0.1:{port}/"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=DEFAULT_STORE)
    parser.add_argument("--model", default=DEFAULT_OUT)
    parser.add_argument("--clip", help="audio file to upload (default: the store's first track)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serial", type=int, default=5, help="in-process analyses timed")
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--out", default="benchmarks/results/bench_serve.json")
    args = parser.parse_args()

    demo = load_demo(args.store, args.model)
    clip = Path(args.clip or demo.store.strings("path")[0])
    seconds = demo.store.tracks()["duration"][0] if args.clip is None else None
    body = multipart(clip)
    demo.analyse(str(clip), clip.name)  # warm: kernels loaded, caches filled
    serial = []
    for _ in range(args.serial):
        start = time.perf_counter()
        demo.analyse(str(clip), clip.name)
        serial.append(time.perf_counter() - start)

    server, url = start_server(args.store, args.model, free_port())
    try:
        post(url, body)  # warm the server the same way
        latencies, walls, errors = [], [], []
        started = time.perf_counter()
        for _ in range(args.rounds):
            if time.perf_counter() - started > args.max_seconds:
                break
            got, wall, failed = burst(url, body, args.clients)
            latencies += got
            walls.append(wall)
            errors += failed
    finally:
        server.terminate()
        server.wait(timeout=60)

    serial_s = statistics.median(serial)
    report = {
        "clip": str(clip),
        "clip_seconds": None if seconds is None else float(seconds),
        "clip_bytes": clip.stat().st_size,
        "model": demo.predictor.description,
        "store": demo.store.url,
        "clients": args.clients,
        "bursts": len(walls),
        "requests": len(latencies) + len(errors),
        "errors": errors,
        "p50_s": percentile(latencies, 50),
        "p95_s": percentile(latencies, 95),
        "max_s": max(latencies),
        "throughput_per_s": len(latencies) / sum(walls),
        "in_process_serial_s": serial_s,
        "in_process_per_s": 1 / serial_s,
        "cpus": os.cpu_count(),
        "machine": platform.platform(),
    }
    print(f"clip {clip.name} ({report['clip_bytes'] / 1e6:.2f} MB), model: {report['model']}")
    print(f"{report['requests']} requests in {len(walls)} bursts of {args.clients} concurrent "
          f"uploads on loopback, {len(errors)} failed")
    print(f"latency p50 {report['p50_s']:.3f} s, p95 {report['p95_s']:.3f} s, "
          f"max {report['max_s']:.3f} s; throughput {report['throughput_per_s']:.2f} requests/s")
    print(f"in-process analysis, one at a time: {serial_s:.3f} s ({1 / serial_s:.2f}/s); "
          f"the server's throughput is {report['throughput_per_s'] * serial_s:.2f}x that")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
