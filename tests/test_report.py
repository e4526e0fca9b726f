"""``python -m sonicsep.report``: page content, skips with notes, and a headless-Chromium render.

The render check opens a copy of the page with a small script that records, after the load
event, whether every image decoded (``naturalWidth > 0``) and every table has a visible box,
and reads the result back from Chromium's ``--dump-dom``.
"""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import ONE_POINT_GRIDS, make_demo_store, train_tiny_cnn

from sonicsep import benchmark, report

CHECK_SCRIPT = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images).map(
    (img) => ({alt: img.alt, loaded: img.complete && img.naturalWidth > 0}));
  const tables = Array.from(document.querySelectorAll("table")).map((table) => {
    const box = table.getBoundingClientRect();
    const style = getComputedStyle(table);
    return {id: table.id, rows: table.rows.length,
            visible: box.width > 0 && box.height > 0 && style.visibility === "visible"
                     && style.display !== "none"};
  });
  const out = document.createElement("pre");
  out.id = "render-check";
  out.textContent = JSON.stringify({images, tables});
  document.body.appendChild(out);
});
</script>"""


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """A report of a demo store, a classical run, a CNN run and a folder that is no run.

    The audio of the first jazz track (jazz's example) is deleted after featurizing, so its
    waveform must be skipped with a note while its spectrograms still come from the store.
    """
    folder = tmp_path_factory.mktemp("report")
    store = make_demo_store(folder)
    tracks = store.tracks()
    jazz = tracks[tracks["genre"] == "jazz"].iloc[0]
    Path(jazz["path"]).unlink()
    classical_dir = folder / "classical"
    argv = ["--store", store.url, "--out", str(classical_dir), "--features", "summary,mfcc",
            "--methods", "knn", "--jobs", "1"]
    assert benchmark.main(argv, grids=ONE_POINT_GRIDS) == 0
    cnn_dir = train_tiny_cnn(store, folder / "cnn_mel")
    not_a_run = folder / "empty"
    not_a_run.mkdir()
    out = folder / "site"
    code = report.main(["--store", store.url, "--out", str(out), "--runs", str(classical_dir),
                        str(cnn_dir), str(not_a_run)])
    return {"code": code, "out": out, "html": (out / "index.html").read_text(),
            "store": store, "jazz": jazz["track_id"]}


def test_exit_3_when_a_run_cannot_be_read_and_the_page_says_why(page):
    assert page["code"] == report.EXIT_PARTIAL
    assert "empty holds neither results.json" in page["html"]


def test_one_self_contained_file(page):
    assert [p.name for p in page["out"].iterdir()] == ["index.html"]
    sources = re.findall(r'<img src="([^"]+)"', page["html"])
    # 5 genre examples, the t-SNE map, 2 classical confusion matrices, the CNN's curve and matrix.
    assert len(sources) == 5 + 1 + 2 + 2
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_examples_tables_and_notes(page):
    text, store = page["html"], page["store"]
    for genre in store.genres:
        assert f'alt="{genre}: {genre}.00000"' in text
    assert f"waveform of {page['jazz']} (jazz) skipped: cannot decode" in text
    results = text.split('id="results-table"')[1].split("</table>")[0]
    assert results.count("<tr>") == 1 + 2 + 1  # header, kNN on summary and mfcc, the CNN
    assert "<td>kNN</td><td>summary</td>" in results and "<td>cnn</td><td>mel</td>" in results
    for table in ("store-counts", "feature-config", "results-table"):
        assert f'id="{table}"' in text


def test_results_table_in_markdown():
    rows = [{"run": "r", "model": "kNN", "input": "mel", "val segment": 0.5, "val track": 1.0,
             "test segment": None, "test track": 0.25}]
    assert report.results_markdown(rows).splitlines()[-1] == (
        "| r | kNN | mel | 50.0 | 100.0 | — | 25.0 |"
    )


def test_usage_errors_exit_2(tmp_path, capsys):
    assert report.main(["--store", str(tmp_path / "none.zarr"), "--out", str(tmp_path)]) == 2
    assert "no feature store" in capsys.readouterr().err


def test_every_image_loads_and_every_table_shows_in_chromium(page, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium installed (Debian: apt-get install chromium; .ci/run does)")
    checked = tmp_path / "index.html"  # a copy: the page itself carries no script
    checked.write_text(page["html"].replace("</body>", CHECK_SCRIPT + "</body>"))
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=10000", "--dump-dom", checked.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    found = re.search(r'<pre id="render-check">(.*?)</pre>', done.stdout, re.S)
    assert found, f"no check output; chromium said: {done.stderr[-2000:]}"
    result = json.loads(html.unescape(found.group(1)))
    assert len(result["images"]) == 10
    assert [i["alt"] for i in result["images"] if not i["loaded"]] == []
    tables = {t["id"]: t for t in result["tables"]}
    assert set(tables) == {"store-counts", "feature-config", "results-table"}
    assert all(t["visible"] and t["rows"] > 1 for t in tables.values())
