"""``python -m sonicsep.serve``: the JSON API, its limits and security rules, the CLI.

The API runs in-process through FastAPI's TestClient on the tiny demo store of ``helpers`` and
a one-point kNN, loaded once for the module. One test runs the command as a subprocess on
loopback (and a second, bound to 0.0.0.0, only until it warns). The page itself is driven in
headless Chromium in ``test_serve_browser.py``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient  # needs httpx2, in the dev extra
from helpers import ONE_POINT_GRIDS, make_demo_store, track_path

from sonicsep import benchmark, classical, classical_features, predict, serve, similar, webapp
from sonicsep.store import DEFAULT_STORE

REPO = Path(__file__).resolve().parents[1]
MAX_UPLOAD_MB = 2  # a 30 s mono 16-bit clip at 22050 Hz is 1.3 MB
K = 5


def write_clip(path: Path, seconds: float, seed: int = 0, sr: int = 22050) -> Path:
    """A few chords of sines over noise: music enough for the features, made in milliseconds."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = 0.05 * rng.standard_normal(len(t))
    for f in rng.uniform(80, 2000, 4):
        y += 0.15 * np.sin(2 * np.pi * f * t) * (1 + np.sin(2 * np.pi * rng.uniform(0.5, 3) * t))
    sf.write(path, np.clip(y, -1, 1), sr, subtype="PCM_16")
    return path


def build_model(store, out: Path) -> Path:
    """A results folder holding a one-point kNN on summaries (what benchmark saves, without
    its figures: t-SNE alone takes seconds)."""
    features = classical_features.load_feature_set(store, "summary")
    _, knn = classical.benchmark_method("knn", features, store, grid=ONE_POINT_GRIDS["knn"])
    knn.save(out / "models" / "knn.joblib")
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_demo_store(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def model(store, tmp_path_factory):
    return build_model(store, tmp_path_factory.mktemp("serve-model"))


@pytest.fixture(scope="module")
def demo(store, model):
    return webapp.load_demo(store.url, model, k=K, max_upload_mb=MAX_UPLOAD_MB)


@pytest.fixture(scope="module")
def client(demo):
    with TestClient(webapp.create_app(demo)) as client:
        yield client


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Four generated 30 s clips."""
    folder = tmp_path_factory.mktemp("clips")
    return [write_clip(folder / f"clip{i}.wav", 30.0, seed=i) for i in range(4)]


def upload(client, path: Path, name: str | None = None):
    with open(path, "rb") as f:
        return client.post("/api/predict", files={"file": (name or path.name, f, "audio/wav")})


# ---------------------------------------------------------------------- answers
def test_predict_answers_as_predict_and_similar_do(client, store, model, demo):
    path = track_path(store, 7)
    response = upload(client, Path(path))
    assert response.status_code == 200, response.text
    answer = response.json()
    predictor = predict.load_predictor(model)
    expected = predict.predict_files([path], predictor, predict.DEFAULT_MAX_SECONDS,
                                     top=len(predictor.genres))[path]
    for key in ("top", "probabilities", "n_segments", "segments"):
        assert answer[key] == expected[key], key
    index = similar.load_or_build_index(store)
    hits = similar.answer([path], store, index, K, None)[path]
    assert [{k: h[k] for k in ("track_id", "genre", "distance")} for h in answer["similar"]] == hits
    assert answer["similar"][0]["track_id"] == store.strings("track")[7]
    assert all(h["audio_url"] == f"/api/tracks/{h['track_id']}/audio" for h in answer["similar"])
    assert answer["filename"] == Path(path).name and answer["warning"] == ""
    picture = answer["spectrogram"]
    assert len(picture["frequencies"]) == len(picture["db"]) == store.config.n_mels
    assert {len(row) for row in picture["db"]} == {len(picture["times"])}
    assert np.all(np.diff(picture["times"]) > 0) and picture["times"][-1] <= answer["duration"]


def test_spectrogram_places_each_segment_at_its_time():
    from sonicsep.config import FeatureConfig

    config = FeatureConfig(n_mels=4, n_mfcc=4, segment_seconds=1.0, n_fft=512, hop_length=256)
    frames = config.frames_per_segment
    mel_db = np.arange(3 * 4 * frames, dtype=np.float32).reshape(3, 4, frames)
    full = webapp.spectrogram(mel_db, config, duration=2.5, max_columns=10**6)
    step = int(np.ceil(config.sr / config.hop_length))  # frames until the next segment starts
    times = np.array(full["times"])
    assert times[step] == pytest.approx(1.0, abs=1e-3) and times[-1] <= 2.5
    assert np.array(full["db"])[:, step] == pytest.approx(mel_db[1, :, 0])
    small = webapp.spectrogram(mel_db, config, duration=2.5, max_columns=7)
    assert len(small["times"]) <= 7 and len(small["db"][0]) == len(small["times"])


def test_a_track_and_its_neighbours(client, demo, store):
    track_id = str(store.strings("track")[3])
    answer = client.get(f"/api/tracks/{track_id}").json()
    assert answer["genre"] == store.tracks()["genre"][3] and answer["status"] == "ok"
    ids = [h["track_id"] for h in answer["neighbours"]]
    assert len(ids) == K and track_id not in ids
    assert client.get("/api/tracks/no-such-track").status_code == 404


def test_the_map_is_computed_once_and_lists_every_indexed_track(demo, monkeypatch):
    calls, real = [], webapp.tsne_embedding

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(webapp, "tsne_embedding", counted)
    fresh = webapp.Demo(store=demo.store, predictor=demo.predictor, index=demo.index)
    with TestClient(webapp.create_app(fresh)) as client, ThreadPoolExecutor(4) as pool:
        maps = list(pool.map(lambda _: client.get("/api/map").json(), range(4)))
    assert len(calls) == 1 and all(m == maps[0] for m in maps)
    points = maps[0]["points"]
    assert sorted(p["track_id"] for p in points) == sorted(demo.index.track_ids)
    assert {p["genre"] for p in points} == set(demo.store.genres)


def test_model_and_index_load_once_per_process(store, model, monkeypatch, tmp_path):
    loads = {"model": 0, "index": 0}

    def count(name, function):
        def counted(*args, **kwargs):
            loads[name] += 1
            return function(*args, **kwargs)
        return counted

    monkeypatch.setattr(webapp, "load_predictor", count("model", webapp.load_predictor))
    monkeypatch.setattr(webapp, "load_or_build_index", count("index", webapp.load_or_build_index))
    demo = webapp.load_demo(store.url, model, k=K)
    clip = write_clip(tmp_path / "short.wav", 3.0)
    with TestClient(webapp.create_app(demo)) as client:
        for _ in range(3):
            assert upload(client, clip).status_code == 200
    assert loads == {"model": 1, "index": 1}


def test_twenty_concurrent_predicts_of_30_s_clips_all_succeed(client, clips):
    serial = upload(client, clips[0]).json()
    jobs = [clips[i % len(clips)] for i in range(20)]
    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(lambda clip: upload(client, clip), jobs))
    assert [r.status_code for r in responses] == [200] * 20
    answers = {}  # one answer per clip, whichever request gave it; clip 0's as when alone
    for clip, response in zip(jobs, responses, strict=True):
        assert response.json() == answers.setdefault(clip, response.json())
        assert response.json()["duration"] == pytest.approx(30.0)
    assert answers[clips[0]] == serial


# ---------------------------------------------------------------------- malformed uploads
@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, store):
    folder = tmp_path_factory.mktemp("bad")
    wav = Path(track_path(store, 0)).read_bytes()
    files = {
        "not-audio.wav": b"this is not audio " * 100,
        "empty.wav": b"",
        "truncated-header.wav": wav[:30],
        "too-short.wav": write_clip(folder / "tiny.wav", 0.2).read_bytes(),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


@pytest.mark.parametrize(("name", "message"), [
    ("not-audio.wav", "cannot decode audio file 'not-audio.wav'"),
    ("empty.wav", "cannot decode audio file 'empty.wav'"),
    ("truncated-header.wav", "cannot decode audio file 'truncated-header.wav'"),
    ("too-short.wav", "too-short.wav: too short"),
])
def test_undecodable_uploads_get_422_with_the_decoders_message(client, bad_files, clips, name,
                                                                message):
    response = upload(client, bad_files / name)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith(message), detail
    assert tempfile.gettempdir() not in detail  # the temporary path is not shown
    assert upload(client, clips[0]).status_code == 200  # and the server keeps serving


def test_a_wav_cut_short_of_its_header_is_answered_with_a_warning(client, clips, tmp_path):
    cut = tmp_path / "cut.wav"
    cut.write_bytes(clips[0].read_bytes()[: 22050 * 2 * 10])  # 10 of its 30 s
    answer = upload(client, cut).json()
    assert answer["warning"].startswith("truncated: the WAV header declares 30.00 s")
    assert answer["duration"] == pytest.approx(10.0, abs=0.01)


def test_uploads_over_the_limit_get_413(client, clips, demo):
    limit = demo.max_upload_bytes
    declared = client.post("/api/predict", files={"file": ("big.wav", b"\0" * (limit + 2**20))})
    assert declared.status_code == 413 and "--max-upload-mb" in declared.json()["detail"]
    just_over = client.post("/api/predict", files={"file": ("big.wav", b"\0" * (limit + 1))})
    assert just_over.status_code == 413  # within the multipart slack: caught while copied
    assert upload(client, clips[0]).status_code == 200


def test_a_body_without_length_is_cut_off_at_the_limit(demo):
    """The app reads a chunked body only up to the limit (TestClient would send it whole)."""
    import asyncio

    chunk, limit = 2**16, demo.max_upload_bytes + webapp.MULTIPART_SLACK
    reads, sent = [], []

    async def receive():
        reads.append(chunk)
        if len(reads) == 1:
            return {"type": "http.request", "more_body": True,
                    "body": b'--b\r\nContent-Disposition: form-data; name="file"; '
                            b'filename="big.wav"\r\n\r\n'}
        return {"type": "http.request", "body": b"\0" * chunk, "more_body": len(reads) < 10**4}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/api/predict",
             "raw_path": b"/api/predict", "root_path": "", "query_string": b"",
             "headers": [(b"content-type", b"multipart/form-data; boundary=b"),
                         (b"transfer-encoding", b"chunked")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    asyncio.run(webapp.create_app(demo)(scope, receive, send))
    assert sent[0]["status"] == 413
    assert limit < sum(reads) <= limit + 2 * chunk


def test_uploads_live_in_a_temporary_folder_removed_at_request_end(client, clips, bad_files,
                                                                    store, tmp_path,
                                                                    monkeypatch):
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    seen = []
    real = webapp.featurize_track

    def spy(path, config):
        seen.append((path, sorted(os.listdir(os.path.dirname(path)))))
        return real(path, config)

    monkeypatch.setattr(webapp, "featurize_track", spy)
    store_files = {p: p.stat().st_mtime_ns for p in Path(store.url).rglob("*")}
    assert upload(client, clips[1]).status_code == 200
    assert upload(client, bad_files / "not-audio.wav").status_code == 422
    assert client.post("/api/predict", files={"file": ("x.wav", b"\0" * (3 << 20))}).status_code \
        == 413
    assert len(seen) == 2
    for path, listing in seen:
        assert Path(path).parent.parent == temp and listing == [Path(path).name]
    assert list(temp.iterdir()) == []
    assert {p: p.stat().st_mtime_ns for p in Path(store.url).rglob("*")} == store_files


# ---------------------------------------------------------------------- audio endpoint
def test_a_tracks_audio_is_its_file(client, store):
    track_id, path = store.strings("track")[2], track_path(store, 2)
    response = client.get(f"/api/tracks/{track_id}/audio")
    assert response.status_code == 200 and response.content == Path(path).read_bytes()
    assert response.headers["content-type"].startswith("audio/")
    part = client.get(f"/api/tracks/{track_id}/audio", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == Path(path).read_bytes()[100:200]


@pytest.mark.parametrize("attempt", [
    "/api/tracks/..%2F..%2F..%2Fetc%2Fpasswd/audio",
    "/api/tracks/%2Fetc%2Fpasswd/audio",
    "/api/tracks/%252e%252e%252fetc%252fpasswd/audio",
    "/api/tracks/..%5C..%5Cetc%5Cpasswd/audio",
    "/api/tracks/../../../../etc/passwd/audio",
    "/api/tracks/%2e%2e/%2e%2e/etc/passwd/audio",
    "/api/tracks/no-such-track/audio",
    "/static/../webapp.py",
    "/static/..%2Fwebapp.py",
    "/static/%2e%2e/serve.py",
])
def test_traversal_gets_404(client, attempt):
    assert client.get(attempt).status_code == 404


def test_symlinks_out_of_the_dataset_root_get_404(store, model, tmp_path):
    """Two tracks' files replaced by links: one leaving the dataset root, one staying in it."""
    linked = make_demo_store(tmp_path / "links", n_per_genre=2)
    paths = [Path(p) for p in linked.strings("path")]
    outside = tmp_path / "secret.wav"
    shutil.copy(paths[0], outside)
    paths[0].unlink()
    paths[0].symlink_to(outside)
    inside = paths[2].with_name("kept.wav")
    paths[2].rename(inside)
    paths[2].symlink_to(inside)
    demo = webapp.load_demo(linked.url, model)
    ids = linked.strings("track")
    with TestClient(webapp.create_app(demo)) as client:
        assert client.get(f"/api/tracks/{ids[0]}/audio").status_code == 404
        assert client.get(f"/api/tracks/{ids[2]}/audio").content == inside.read_bytes()
        assert client.get(f"/api/tracks/{ids[0]}").json()["audio_url"] is None


# ---------------------------------------------------------------------- page and docs
def test_the_page_and_the_docs_load_only_local_assets(client):
    import re

    page = client.get("/").text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert {"/static/app.js", "/static/app.css", "/vendor/plotly.min.js"} <= set(assets)
    for url in assets:
        if not url.startswith(("data:", "/docs")):
            assert url.startswith("/") and client.get(url).status_code == 200, url
    docs = client.get("/docs").text
    assert "cdn" not in docs.lower() and "/static-offline-docs/swagger-ui-bundle.js" in docs
    spec = client.get("/openapi.json").json()
    assert {"/api/predict", "/api/tracks/{track_id}", "/api/tracks/{track_id}/audio",
            "/api/map"} <= set(spec["paths"])


# ---------------------------------------------------------------------- the command
def test_loopback_addresses():
    assert all(map(serve.is_loopback, ["127.0.0.1", "127.3.2.1", "::1", "localhost"]))
    assert not any(map(serve.is_loopback, ["0.0.0.0", "::", "192.168.1.5", "example.org"]))


def test_usage_errors_exit_2(tmp_path, capsys, model):
    assert serve.main(["--store", str(tmp_path / "s.zarr")]) == 2
    assert "--store needs --model" in capsys.readouterr().err
    assert serve.main(["--store", str(tmp_path / "s.zarr"), "--model", str(model)]) == 2
    assert "no feature store" in capsys.readouterr().err
    assert serve.main(["--max-upload-mb", "0"]) == 2


def test_no_arguments_build_the_demo_store_and_model_first(store, model, tmp_path, monkeypatch,
                                                          capsys):
    """Orchestration only: featurize and benchmark are faked by tiny builds of the same things."""
    from sonicsep import featurize

    monkeypatch.chdir(tmp_path)
    calls, served = [], []

    def fake_featurize(argv):
        calls.append(("featurize", argv))
        shutil.copytree(store.url, DEFAULT_STORE)
        return 0

    def fake_benchmark(argv):
        calls.append(("benchmark", argv))
        shutil.copytree(model, argv[argv.index("--out") + 1])
        return 0

    monkeypatch.setattr(featurize, "main", fake_featurize)
    monkeypatch.setattr(benchmark, "main", fake_benchmark)
    monkeypatch.setattr(serve, "serve", lambda app, host, port: served.append((host, port)) or 1)
    assert serve.main([]) == 0
    assert calls == [("featurize", []), ("benchmark", ["--store", DEFAULT_STORE, "--out",
                                                       benchmark.DEFAULT_OUT, "--features",
                                                       "summary"])]
    err = capsys.readouterr().err
    assert "building it first" in err and "training one first" in err
    assert served == [("127.0.0.1", 8000)]
    assert serve.main(["--port", "8001"]) == 0 and len(calls) == 2  # built once


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read_line(stream, want: str, timeout: float) -> list[str]:
    """Lines of ``stream`` up to the first containing ``want`` (read in a thread, bounded)."""
    lines = []

    def read():
        for line in stream:
            lines.append(line)
            if want in line:
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    return lines


def test_other_addresses_than_loopback_get_a_warning(store, model, monkeypatch, capsys):
    """In-process, so no test ever listens on every interface of the machine it runs on."""
    served = []
    monkeypatch.setattr(serve, "serve", lambda app, host, port: served.append(host) or True)
    args = ["--store", store.url, "--model", str(model)]
    assert serve.main([*args, "--host", "0.0.0.0"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: serving on 0.0.0.0") and "no authentication" in err
    assert serve.main(args) == 0
    assert "warning" not in capsys.readouterr().err and served == ["0.0.0.0", "127.0.0.1"]


def test_the_command_serves_on_loopback_until_ctrl_c(store, model, clips):
    """``python -m sonicsep.serve`` as a user runs it: the URL, the page, a prediction, a 413
    for a declared 10 GB upload answered before any of it is sent, then Ctrl-C."""
    import http.client

    port = _free_port()
    run = subprocess.Popen(
        [sys.executable, "-m", "sonicsep.serve", "--store", store.url, "--model", str(model),
         "--port", str(port), "--max-upload-mb", str(MAX_UPLOAD_MB)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        lines = _read_line(run.stdout, "SonicSep demo at", 120)
        url = f"http://127.0.0.1:{port}/"
        assert lines and url in lines[-1], lines
        with urllib.request.urlopen(url, timeout=30) as page:
            assert b"SonicSep" in page.read()
        boundary = "sonicsep"
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="clip.wav"\r\nContent-Type: audio/wav\r\n\r\n').encode()
        body = head + clips[0].read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        content_type = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        request = urllib.request.Request(url + "api/predict", data=body, method="POST",
                                         headers=content_type)
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200 and b'"top"' in response.read()
        huge = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        huge.putrequest("POST", "/api/predict")
        huge.putheader("Content-Type", content_type["Content-Type"])
        huge.putheader("Content-Length", str(10 * 2**30))
        huge.endheaders(head)  # and nothing more of the 10 GB
        assert huge.getresponse().status == 413
        huge.close()
        run.send_signal(signal.SIGINT)  # Ctrl-C
        _, err = run.communicate(timeout=60)
        assert run.returncode == 130, err
        assert err.splitlines()[-1].startswith("interrupted; the server is stopped"), err
        assert "Traceback" not in err
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()


# ---------------------------------------------------------------------- the page in Chromium
@pytest.fixture(scope="module")
def live_url(demo):
    """The app on a free loopback port, served by uvicorn in a thread of this process."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(webapp.create_app(demo), host="127.0.0.1", port=0,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/"
    server.should_exit = True
    thread.join(30)


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium installed (Debian: apt-get install chromium; .ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (the dev extra)")
    with sync_api.sync_playwright() as playwright:
        # Debian's chromium, not a Playwright download (none can be fetched here).
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser, live_url):
    """The demo page with the map drawn, shared by the tests (loading Plotly takes seconds);
    every URL it requested is in ``page.requested``."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.requested = []
    page.on("request", lambda request: page.requested.append(request.url))
    page.goto(live_url)
    page.wait_for_selector("#map .main-svg", timeout=60_000)
    yield page
    page.close()


def choose_file(page, files) -> None:
    """Upload through the page's file input and wait until the page has drawn the answer."""
    done = int(page.get_attribute("body", "data-analyses")) + 1
    page.set_input_files("#file", files)
    page.wait_for_function(f"document.body.dataset.analyses === '{done}'", timeout=60_000)


def check_drawn(page, predicted: dict, n_genres: int) -> None:
    """Genre bars, segment strip, spectrogram, similar list and player, as the API said."""
    assert page.get_attribute("body", "data-state") == "done", page.inner_text("#error")
    assert page.inner_text("#top-genre .genre") == predicted["top"][0]["genre"]
    plots = page.evaluate("""() => Object.fromEntries(
        ["genre-bars", "segments", "spectrogram"].map((id) => {
          const div = document.getElementById(id);
          return [id, {svg: div.querySelectorAll(".main-svg").length,
                       types: div.data.map((t) => t.type), x: div.data[0].x.length}];
        }))""")
    assert all(p["svg"] > 0 for p in plots.values()), plots
    assert plots["genre-bars"]["types"] == ["bar"] and plots["genre-bars"]["x"] == n_genres
    assert plots["segments"]["types"] == ["bar"] * n_genres
    assert plots["segments"]["x"] == predicted["n_segments"]
    assert plots["spectrogram"]["types"] == ["heatmap"]
    assert page.locator("#similar li").count() == K
    assert page.locator("#similar li audio").count() == K  # every demo track is on disk
    assert page.get_attribute("#upload-player", "src").startswith("blob:")


def test_the_page_draws_a_generated_clip_shows_errors_and_explores(page, live_url, model,
                                                                    tmp_path):
    clip = write_clip(tmp_path / "made.wav", 7.0, seed=11)
    choose_file(page, clip)
    predictor = predict.load_predictor(model)
    expected = predict.predict_files([str(clip)], predictor, 600, 3)[str(clip)]
    check_drawn(page, expected, len(predictor.genres))
    # an error: the decoder's message, and the results hidden
    choose_file(page, {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not audio"})
    assert page.get_attribute("body", "data-state") == "error"
    assert page.inner_text("#error").startswith("cannot decode audio file 'notes.txt'")
    assert page.locator("#results").is_hidden()
    # explore: clicking a point plays its track and lists its neighbours
    # at the point's place: Plotly finds the point under the mouse itself
    box = page.locator("#map .scatterlayer .point").first.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    page.wait_for_function(f"document.querySelectorAll('#map-neighbours li').length === {K}")
    assert page.get_attribute("#map-player", "src").endswith("/audio")
    assert all(url.startswith((live_url, "blob:", "data:")) for url in page.requested), \
        page.requested
    page.screenshot(path=tmp_path / "generated.png", full_page=True)


def test_the_page_draws_a_real_clip_as_predict_answers_it(page, gtzan_wav, model, tmp_path):
    choose_file(page, gtzan_wav)
    predictor = predict.load_predictor(model)
    expected = predict.predict_files([str(gtzan_wav)], predictor, 600, 3)[str(gtzan_wav)]
    check_drawn(page, expected, len(predictor.genres))
    shot = tmp_path / "serve.png"
    page.screenshot(path=shot, full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("SONICSEP_SERVE_SCREENSHOT"):  # how docs/serve.png is made
        from PIL import Image

        small = Image.open(shot).convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE)
        small.save(os.environ["SONICSEP_SERVE_SCREENSHOT"], optimize=True)


def test_the_api_docs_render_offline(browser, live_url):
    page = browser.new_page()
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(live_url + "docs")
    assert "SonicSep" in page.locator(".swagger-ui .info .title").inner_text(timeout=60_000)
    assert page.locator(".opblock").count() >= 5
    assert all(url.startswith((live_url, "data:")) for url in requested), requested
    page.close()
