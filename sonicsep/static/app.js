// The SonicSep demo page: upload a song, draw what /api/predict says, explore /api/map.
// Plain browser JavaScript and Plotly (served by the app from the plotly package): no build
// step and nothing fetched from outside the server.
"use strict";

const $ = (id) => document.getElementById(id);
const PLOT_CONFIG = { displaylogo: false, responsive: true };
let info = null;

function colour(genre) {
  return (info && info.colours[genre]) || "#888";
}

function percent(p) {
  return `${(100 * p).toFixed(1)}%`;
}

// A message for a failed request: the server's own detail where it gave one.
async function getJSON(url, options) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (err) {
    throw new Error(`the server could not be reached (${err.message})`);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    let detail = body && body.detail;
    if (Array.isArray(detail)) detail = detail.map((d) => d.msg).join("; ");
    throw new Error(detail || `${response.status} ${response.statusText}`);
  }
  return body;
}

function element(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) node.append(child);
  return node;
}

function chip(genre) {
  const node = element("span", { className: "chip", textContent: genre });
  node.style.background = colour(genre);
  return node;
}

// One list item per track: id, genre, distance and a player when its audio is on disk.
function trackList(list, tracks, onPick) {
  list.replaceChildren(...tracks.map((t, i) => {
    const row = element("div", { className: "row" },
      element("span", { className: "rank", textContent: `${i + 1}.` }),
      element("span", { className: "id", textContent: t.track_id }), chip(t.genre),
      element("span", { className: "distance", textContent: `distance ${t.distance.toFixed(3)}` }));
    if (onPick) {
      const button = element("button", { type: "button", textContent: "neighbours" });
      button.addEventListener("click", () => onPick(t.track_id));
      row.append(button);
    }
    const item = element("li", {}, row);
    item.dataset.trackId = t.track_id;
    if (t.audio_url) {
      item.append(element("audio", { controls: true, preload: "none", src: t.audio_url }));
    } else {
      item.append(element("span", { className: "no-audio", textContent: "audio file not on disk" }));
    }
    return item;
  }));
}

// ------------------------------------------------------------------ upload and results
function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function finished() {
  document.body.dataset.analyses = String(Number(document.body.dataset.analyses) + 1);
}

async function analyse(file) {
  showError("");
  $("warning").hidden = true;
  const player = $("upload-player");
  if (player.src) URL.revokeObjectURL(player.src);
  player.src = URL.createObjectURL(file);  // the upload plays from the browser's own copy
  player.hidden = false;
  if (info && file.size > info.max_upload_mb * 2 ** 20) {
    $("results").hidden = true;
    showError(`${file.name} is larger than the server's limit of ${info.max_upload_mb} MB`);
    finished();
    return;
  }
  $("status").textContent = `analysing ${file.name} ...`;
  document.body.dataset.state = "busy";
  const form = new FormData();
  form.append("file", file, file.name);
  try {
    render(await getJSON("/api/predict", { method: "POST", body: form }));
    $("status").textContent = "";
    document.body.dataset.state = "done";
  } catch (err) {
    $("results").hidden = true;
    $("status").textContent = "";
    showError(err.message);
    document.body.dataset.state = "error";
  }
  finished();
}

function render(answer) {
  $("results").hidden = false;
  if (answer.warning) {
    $("warning").textContent = `warning: ${answer.warning}`;
    $("warning").hidden = false;
  }
  const best = answer.top[0];
  $("top-genre").replaceChildren(
    element("span", { className: "genre", textContent: best.genre }),
    element("span", { className: "confidence", textContent: percent(best.probability) }));
  $("top-genre").style.color = colour(best.genre);
  drawGenres(answer);
  drawSegments(answer);
  drawSpectrogram(answer);
  trackList($("similar"), answer.similar, (id) => pickTrack(id, true));
}

function drawGenres(answer) {
  // most likely at the top, ties in the answer's order (as its top genre breaks them)
  const p = answer.probabilities;
  const order = [...answer.genres].sort((a, b) => p[b] - p[a]).reverse();
  Plotly.react("genre-bars", [{
    type: "bar", orientation: "h", y: order, x: order.map((g) => p[g]),
    marker: { color: order.map(colour) }, hovertemplate: "%{y}: %{x:.1%}<extra></extra>",
  }], {
    margin: { l: 90, r: 10, t: 5, b: 35 }, xaxis: { range: [0, 1.02], tickformat: ".0%" },
  }, PLOT_CONFIG);
}

function drawSegments(answer) {
  const mids = answer.segments.map((s) => (s.start + s.end) / 2);
  const widths = answer.segments.map((s) => s.end - s.start);
  const tops = answer.segments.map((s) => s.top[0].genre);
  const traces = answer.genres.map((genre) => ({
    type: "bar", name: genre, x: mids, width: widths, marker: { color: colour(genre) },
    y: answer.segments.map((s) => s.top.find((t) => t.genre === genre).probability),
    customdata: tops,
    hovertemplate: `%{x:.1f} s: ${genre} %{y:.1%} (top: %{customdata})<extra></extra>`,
  }));
  Plotly.react("segments", traces, {
    barmode: "stack", bargap: 0.05, margin: { l: 50, r: 10, t: 5, b: 40 },
    xaxis: { title: { text: "time (s)" } },
    yaxis: { title: { text: "probability" }, range: [0, 1], tickformat: ".0%" },
    legend: { orientation: "h", y: 1.15 },
  }, PLOT_CONFIG);
}

function drawSpectrogram(answer) {
  const s = answer.spectrogram;
  Plotly.react("spectrogram", [{
    type: "heatmap", z: s.db, x: s.times, y: s.frequencies, colorscale: "Viridis",
    colorbar: { title: { text: "dB" } },
    hovertemplate: "%{x:.2f} s, %{y:.0f} Hz: %{z:.1f} dB<extra></extra>",
  }], {
    margin: { l: 60, r: 10, t: 5, b: 40 },
    xaxis: { title: { text: "time (s)" } },
    yaxis: {
      title: { text: "frequency (Hz, mel bands)" }, type: "log",
      tickvals: [50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000],
    },
  }, PLOT_CONFIG);
}

// ------------------------------------------------------------------ explore
async function drawMap() {
  const map = await getJSON("/api/map");
  if (map.note) $("map-note").textContent = `${map.method}; ${map.note}`;
  const genres = [...new Set(map.points.map((p) => p.genre))];
  const traces = genres.map((genre) => {
    const points = map.points.filter((p) => p.genre === genre);
    return {
      type: "scatter", mode: "markers", name: genre, marker: { color: colour(genre), size: 8 },
      x: points.map((p) => p.x), y: points.map((p) => p.y), customdata: points.map((p) => p.track_id),
      hovertemplate: `%{customdata}<br>${genre}<extra></extra>`,
    };
  });
  await Plotly.react("map", traces, {
    margin: { l: 10, r: 10, t: 5, b: 10 }, hovermode: "closest",
    xaxis: { visible: false }, yaxis: { visible: false },
  }, PLOT_CONFIG);
  $("map").on("plotly_click", (event) => pickTrack(event.points[0].customdata, true));
  $("map").dataset.points = String(map.points.length);
}

async function pickTrack(trackId, play) {
  try {
    const track = await getJSON(`/api/tracks/${encodeURIComponent(trackId)}`);
    $("map-track").replaceChildren(
      element("span", { className: "id", textContent: `${track.track_id} ` }), chip(track.genre),
      ` (${track.split}) nearest tracks:`);
    const player = $("map-player");
    player.hidden = !track.audio_url;
    if (track.audio_url) {
      player.src = track.audio_url;
      if (play) player.play().catch(() => {});
    }
    trackList($("map-neighbours"), track.neighbours, (id) => pickTrack(id, true));
    $("explore").scrollIntoView({ behavior: "smooth", block: "nearest" });
  } catch (err) {
    $("map-track").textContent = err.message;
  }
}

// ------------------------------------------------------------------ start
function wireUpload() {
  const drop = $("drop");
  $("file").addEventListener("change", (event) => {
    const [file] = event.target.files;
    if (file) analyse(file);
    event.target.value = "";  // choosing the same file again analyses it again
  });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    const [file] = event.dataTransfer.files;
    if (file) analyse(file);
  });
}

async function start() {
  wireUpload();
  try {
    info = await getJSON("/api/info");
    $("info").textContent = `model: ${info.model} | store: ${info.store} (${info.n_tracks} tracks)`;
    $("limits").textContent = `any length: the first ${info.max_seconds / 60} minutes are ` +
      `analysed; at most ${info.max_upload_mb} MB`;
  } catch (err) {
    $("info").textContent = `the server did not answer: ${err.message}`;
    return;
  }
  try {
    await drawMap();
  } catch (err) {
    $("map-note").textContent = `no map: ${err.message}`;
  }
}

start();
