// The peer's web page (docs/operate.md, "The web page"). Everything shown comes from the
// peer's JSON and is put on the page as text (textContent), never as HTML. The upload token
// lives in this variable for as long as the page is open, nowhere else.
"use strict";

let uploadToken = "";
const pendingUploads = [];

function $(id) { return document.getElementById(id); }

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function link(href, text) {
  const a = el("a", text);
  a.href = href;
  return a;
}

function humanSize(n) {
  if (typeof n !== "number") return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function shortHash(h) { return h ? h.slice(0, 12) + "…" : "(hashing)"; }

// /archivos/NAME on the peer at `base` ("" for this one).
function fileUrl(base, name) { return base + "/archivos/" + encodeURIComponent(name); }

// A holder's URL as another peer reported it: used only if it is plain http(s).
function holderBase(url) {
  try {
    const u = new URL(url);
    return u.protocol === "http:" || u.protocol === "https:" ? u.origin : null;
  } catch (e) {
    return null;
  }
}

async function getJson(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

function setStatus(text, bad) {
  const s = $("status");
  s.textContent = text;
  s.className = bad ? "bad" : "";
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    if (c instanceof Node) td.appendChild(c); else td.textContent = c;
    tr.appendChild(td);
  }
  return tr;
}

let files = [];

function renderFiles() {
  const body = $("files").tBodies[0];
  const filter = $("files-filter").value.toLowerCase();
  const shown = files.filter(f => f.name.toLowerCase().includes(filter)).slice(0, 500);
  body.replaceChildren(...shown.map(f => {
    const hash = el("code", shortHash(f.sha256));
    if (f.sha256) hash.title = f.sha256;
    return row([link(fileUrl("", f.name), f.name), humanSize(f.size), hash]);
  }));
  $("files-count").textContent = "(" + files.length + ")";
}

async function refreshFiles() {
  files = await getJson("/listado");
  files.sort((a, b) => a.name.localeCompare(b.name));
  renderFiles();
}

async function refreshPeers() {
  const { peers } = await getJson("/peers");
  $("peers").tBodies[0].replaceChildren(...peers.map(p => {
    const state = el("span", p.state, "state-" + p.state);
    return row([p.name ? p.name + " " + p.url : p.url, p.role, state, String(p.failures)]);
  }));
}

async function search(event) {
  event.preventDefault();
  const name = $("search-name").value.trim();
  const message = $("search-message");
  const table = $("search-results");
  if (!name) return;
  message.textContent = "Searching…";
  table.hidden = true;
  try {
    const r = await fetch("/buscar?holders=8&archivo=" + encodeURIComponent(name), { cache: "no-store" });
    const reply = await r.json();
    if (!r.ok) throw new Error(reply.error || "HTTP " + r.status);
    if (!reply.present) { message.textContent = "Nobody holds “" + name + "”."; return; }
    const holders = reply.holders && reply.holders.length ? reply.holders
      : [{ url: reply.via || "", size: reply.size, sha256: reply.sha256 }];
    $("search-results").tBodies[0].replaceChildren(...holders.map(h => {
      const base = h.url ? holderBase(h.url) : "";
      const hash = el("code", shortHash(h.sha256));
      if (h.sha256) hash.title = h.sha256;
      const name = base === null ? el("span", reply.filename) : link(fileUrl(base, reply.filename), reply.filename);
      return row([h.url || "this peer", name, humanSize(h.size), hash]);
    }));
    message.textContent = holders.length + (holders.length === 1 ? " holder" : " holders") + ".";
    table.hidden = false;
  } catch (e) {
    message.textContent = "Search failed: " + e.message;
  }
}

// What this peer said of uploads in /health: whether they need the token, how large.
let uploadRules = { tokenRequired: false, maxBytes: 0 };

// Why `file` cannot be uploaded, checked before any byte is sent (a browser cannot wait for
// "100 Continue", so a refusal after the body started would cost the whole body); "" if
// it may be.
function refusal(file) {
  if (uploadRules.maxBytes && file.size > uploadRules.maxBytes)
    return "larger than this peer accepts (" + humanSize(uploadRules.maxBytes) + ")";
  if (files.some(f => f.name.toLowerCase() === file.name.toLowerCase())) return "a file of that name exists here";
  return "";
}

function upload(file) {
  if (uploadRules.tokenRequired && !uploadToken) {
    pendingUploads.push(file);
    $("token-box").hidden = false;
    $("token").focus();
    return;
  }
  const item = el("li");
  const bar = el("progress");
  bar.max = file.size || 1;
  bar.value = 0;
  const label = el("span", " " + file.name + " ");
  const outcome = el("span");
  item.append(bar, label, outcome);
  $("uploads").prepend(item);
  const why = refusal(file);
  if (why) {
    outcome.textContent = "not sent: " + why;
    outcome.className = "bad";
    return;
  }
  const xhr = new XMLHttpRequest();
  xhr.open("PUT", fileUrl("", file.name));
  if (uploadToken) xhr.setRequestHeader("Authorization", "Bearer " + uploadToken);
  xhr.upload.onprogress = e => { bar.value = e.loaded; };
  xhr.onload = () => {
    let answer = {};
    try { answer = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
    if (xhr.status === 401) {
      item.remove();
      pendingUploads.push(file);
      $("token-box").hidden = false;
      $("token").focus();
      return;
    }
    if (xhr.status >= 200 && xhr.status < 300) {
      bar.value = bar.max;
      outcome.textContent = "stored";
      refreshFiles().catch(() => {});
    } else {
      outcome.textContent = "failed: " + (answer.error || "HTTP " + xhr.status);
      outcome.className = "bad";
    }
  };
  xhr.onerror = () => { outcome.textContent = "failed: connection lost"; outcome.className = "bad"; };
  xhr.send(file);
}

function uploadAll(list) { for (const f of list) upload(f); }

function retryWithToken() {
  uploadToken = $("token").value;
  $("token-box").hidden = true;
  uploadAll(pendingUploads.splice(0));
}

// Throughput from the peer's byte counters, one sample a second, the last minute drawn.
const samples = [];
let last = null;

async function refreshTransfers() {
  const t = await getJson("/transfers");
  const now = performance.now();
  if (last) {
    const dt = (now - last.at) / 1000;
    samples.push({ sent: Math.max(0, t.sent_bytes - last.sent) / dt,
                   received: Math.max(0, t.received_bytes - last.received) / dt });
    if (samples.length > 60) samples.shift();
  }
  last = { at: now, sent: t.sent_bytes, received: t.received_bytes };
  const s = samples.length ? samples[samples.length - 1] : { sent: 0, received: 0 };
  $("transfers-now").textContent = t.active + " in flight · sending " + humanSize(s.sent) +
    "/s · receiving " + humanSize(s.received) + "/s";
  drawChart();
}

function drawChart() {
  const c = $("chart");
  const g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  const peak = Math.max(1, ...samples.map(s => Math.max(s.sent, s.received)));
  const plot = (key, color) => {
    g.strokeStyle = color;
    g.beginPath();
    samples.forEach((s, i) => {
      const x = (i / 59) * (c.width - 1);
      const y = c.height - 1 - (s[key] / peak) * (c.height - 12);
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
  };
  plot("sent", "#0b6bcb");
  plot("received", "#2e7d32");
  g.fillStyle = "#5f6b73";
  g.font = "11px sans-serif";
  g.fillText("peak " + humanSize(peak) + "/s  (blue: sent, green: received)", 4, 11);
}

function every(ms, fn) {
  const run = () => fn().then(() => setStatus(""), e => setStatus(e.message, true));
  run();
  setInterval(run, ms);
}

function start() {
  getJson("/health").then(h => {
    $("peer-name").textContent = h.name;
    document.title = "p2p-share · " + h.name;
    uploadRules = { tokenRequired: h.upload_token_required === true, maxBytes: h.max_upload_bytes || 0 };
  }, e => setStatus(e.message, true));
  $("search-form").addEventListener("submit", search);
  $("files-filter").addEventListener("input", renderFiles);
  $("upload-input").addEventListener("change", e => { uploadAll(e.target.files); e.target.value = ""; });
  $("token-retry").addEventListener("click", retryWithToken);
  const zone = $("drop-zone");
  zone.addEventListener("dragover", e => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", e => { e.preventDefault(); zone.classList.remove("over"); uploadAll(e.dataTransfer.files); });
  every(5000, refreshFiles);
  every(2000, refreshPeers);
  every(1000, refreshTransfers);
}

document.addEventListener("DOMContentLoaded", start);
