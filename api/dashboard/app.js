// StreamHouse Reader dashboard: vanilla JS over the service's own JSON API
// (openapi/openapi.yaml). Nothing is fetched from anywhere but this server.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
};
const fmtInt = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
function fmtBytes(n) {
  if (n === null || n === undefined || !isFinite(n)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? Math.round(n) : n.toFixed(n < 10 ? 2 : 1)} ${units[i]}`;
}
const fmtTime = (ms) => (ms === null || ms === undefined ? "–" : new Date(Number(ms)).toISOString().replace("T", " ").replace("Z", " UTC"));
const enc = encodeURIComponent;

// ------------------------------------------------------------------ API access
// A bearer token (--api-token-file) is kept for this browser tab only.
let token = sessionStorage.getItem("sh-token") || "";

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}
function authHeaders() { return token ? { Authorization: `Bearer ${token}` } : {}; }
async function api(path, init = {}) {
  let r;
  try {
    r = await fetch(path, { ...init, headers: { ...authHeaders(), ...(init.headers || {}) } });
  } catch (e) {
    throw new ApiError(0, { message: `server unreachable (${e.message})` });
  }
  if (r.status === 204) return null;
  const text = await r.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = { message: text.slice(0, 200) }; }
  if (!r.ok) {
    if (r.status === 401) needToken();
    throw new ApiError(r.status, body);
  }
  return body;
}
const statusEl = $("#status");
let sayTimer = null;
// Errors stay until something succeeds; notices clear themselves.
function say(msg, isError = false) {
  statusEl.textContent = msg;
  statusEl.className = isError ? "err" : "";
  clearTimeout(sayTimer);
  if (msg && !isError) sayTimer = setTimeout(() => { if (statusEl.className !== "err") statusEl.textContent = ""; }, 5000);
}
// Reports a failed call, unless it was a 401 (needToken() already asked for a token).
function sayFailure(what, e) {
  if (e.status !== 401) say(`${what}: ${e.message}`, true);
}
function needToken() {
  say("This server needs an API token: enter a read token above.", true);
  $("#token").focus();
}
$("#token").value = token;
$("#auth-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  token = $("#token").value.trim();
  if (token) sessionStorage.setItem("sh-token", token); else sessionStorage.removeItem("sh-token");
  say(token ? "Token set for this tab." : "Token cleared.");
  refreshTopics();
});

// ------------------------------------------------------------------ health
async function refreshHealth() {
  const badge = $("#health");
  try {
    const r = await fetch("/readyz");
    const body = await r.json();
    if (body.ready) {
      badge.textContent = "ready";
      badge.className = "badge ok";
    } else {
      const why = Object.entries(body.checks || {}).filter(([, v]) => v !== "ok" && v !== false && typeof v === "string")
        .map(([k, v]) => `${k}: ${v}`).join(", ");
      badge.textContent = `not ready${why ? ` (${why})` : ""}`;
      badge.className = "badge bad";
    }
  } catch (e) {
    badge.textContent = "unreachable";
    badge.className = "badge bad";
  }
}

// ------------------------------------------------------------------ topics
let topics = [];  // [{name, partition_count, partitions:[{partition, log_start_offset, high_watermark, segments, bytes}]}]
const expanded = new Set();

async function refreshTopics() {
  try {
    const list = await api("/topics");
    topics = await Promise.all(list.topics.map((t) => api(`/topics/${enc(t.name)}`)));
    renderTopics();
    fillTopicSelects();
    if (statusEl.className === "err") say("");
  } catch (e) {
    sayFailure("Cannot load topics", e);
  }
}

function renderTopics() {
  const tbody = $("#topics-table tbody");
  tbody.replaceChildren();
  $("#topics-empty").hidden = topics.length > 0;
  for (const t of topics) {
    const sum = (f) => t.partitions.reduce((a, p) => a + f(p), 0);
    const open = expanded.has(t.name);
    const toggle = el("button", {
      type: "button", "aria-expanded": String(open), "aria-controls": `parts-${t.name}`,
      text: open ? "Hide partitions" : "Show partitions",
      onclick: () => { open ? expanded.delete(t.name) : expanded.add(t.name); renderTopics(); $(`[aria-controls="parts-${CSS.escape(t.name)}"]`).focus(); },
    });
    tbody.append(el("tr", { "data-topic": t.name },
      el("th", { scope: "row" }, el("a", { href: `#/messages?topic=${enc(t.name)}&partition=${t.partitions.length ? t.partitions[0].partition : 0}`, text: t.name })),
      el("td", { class: "num", text: fmtInt(t.partition_count) }),
      el("td", { class: "num", text: fmtInt(sum((p) => p.high_watermark - p.log_start_offset)) }),
      el("td", { class: "num", text: fmtInt(sum((p) => p.segments)) }),
      el("td", { class: "num", text: fmtBytes(sum((p) => p.bytes)), title: `${fmtInt(sum((p) => p.bytes))} bytes` }),
      el("td", {}, toggle)));
    if (open) tbody.append(el("tr", { class: "sub", id: `parts-${t.name}` }, el("td", { colspan: "6" }, partitionsTable(t))));
  }
}

function partitionsTable(t) {
  const body = el("tbody");
  for (const p of t.partitions) {
    const segHolder = el("tr", { class: "sub", hidden: true }, el("td", { colspan: "7" }));
    const segBtn = el("button", { type: "button", "aria-expanded": "false", text: "Segments" });
    segBtn.addEventListener("click", async () => {
      const show = segHolder.hidden;
      segHolder.hidden = !show;
      segBtn.setAttribute("aria-expanded", String(show));
      if (show) {
        segHolder.firstChild.replaceChildren(el("span", { class: "muted", text: "loading segments…" }));
        try {
          const s = await api(`/topics/${enc(t.name)}/partitions/${p.partition}/segments`);
          segHolder.firstChild.replaceChildren(segmentsTable(s));
        } catch (e) {
          segHolder.firstChild.replaceChildren(el("span", { class: "err", text: `segments: ${e.message}` }));
        }
      }
    });
    body.append(el("tr", { "data-partition": String(p.partition) },
      el("th", { scope: "row", class: "num", text: String(p.partition) }),
      el("td", { class: "num", text: fmtInt(p.log_start_offset) }),
      el("td", { class: "num hw", text: fmtInt(p.high_watermark) }),
      el("td", { class: "num", text: fmtInt(p.high_watermark - p.log_start_offset) }),
      el("td", { class: "num", text: fmtInt(p.segments) }),
      el("td", { class: "num", text: fmtBytes(p.bytes), title: `${fmtInt(p.bytes)} bytes` }),
      el("td", {}, el("span", { class: "actions" },
        el("a", { href: `#/messages?topic=${enc(t.name)}&partition=${p.partition}`, text: "Browse" }),
        el("a", { href: `#/tail?topic=${enc(t.name)}&partition=${p.partition}`, text: "Tail" }),
        segBtn))), segHolder);
  }
  return el("table", { class: "data" },
    el("caption", { class: "sr-only", text: `Partitions of ${t.name}` }),
    el("thead", {}, el("tr", {}, ...["partition", "log start", "high watermark", "records", "segments", "bytes", ""].map(
      (h, i) => el("th", { scope: "col", class: i < 6 ? "num" : null, text: h })))),
    body);
}

function segmentsTable(s) {
  const body = el("tbody");
  for (const g of s.segments) {
    body.append(el("tr", {},
      el("td", { text: g.key, class: "key" }),
      el("td", { class: "num", text: fmtInt(g.base_offset) }),
      el("td", { class: "num", text: fmtInt(g.last_offset) }),
      el("td", { class: "num", text: fmtInt(g.record_count) }),
      el("td", { class: "num", text: fmtBytes(g.size_bytes) }),
      el("td", { text: g.min_timestamp === null ? "–" : `${fmtTime(g.min_timestamp)} → ${fmtTime(g.max_timestamp)}` })));
  }
  return el("table", { class: "data" },
    el("caption", { class: "sr-only", text: `Segments of ${s.topic}/${s.partition}` }),
    el("thead", {}, el("tr", {}, ...["object key", "base offset", "last offset", "records", "size", "timestamps"].map(
      (h, i) => el("th", { scope: "col", class: i >= 1 && i <= 4 ? "num" : null, text: h })))),
    body);
}

function fillTopicSelects() {
  for (const prefix of ["b", "t"]) {
    const sel = $(`#${prefix}-topic`);
    const keep = sel.value;
    sel.replaceChildren(...topics.map((t) => el("option", { value: t.name, text: t.name })));
    if (topics.some((t) => t.name === keep)) sel.value = keep;
    fillPartitions(prefix);
  }
}
function fillPartitions(prefix) {
  const t = topics.find((x) => x.name === $(`#${prefix}-topic`).value);
  const sel = $(`#${prefix}-partition`);
  const keep = sel.value;
  sel.replaceChildren(...(t ? t.partitions : []).map((p) => el("option", { value: String(p.partition), text: String(p.partition) })));
  if (t && t.partitions.some((p) => String(p.partition) === keep)) sel.value = keep;
}
for (const prefix of ["b", "t"]) $(`#${prefix}-topic`).addEventListener("change", () => fillPartitions(prefix));

// ------------------------------------------------------------------ JSON tree
// Objects and arrays fold with <details> (keyboard operable by default).
function jsonTree(value, depth = 0, label = null) {
  const keyPart = label === null ? [] : [el("span", { class: "k", text: JSON.stringify(label) }), ": "];
  if (value !== null && typeof value === "object") {
    const isArr = Array.isArray(value);
    const entries = isArr ? value.map((v, i) => [i, v]) : Object.entries(value);
    const d = el("details", { open: depth < 3 });
    d.append(el("summary", {}, ...keyPart,
      `${isArr ? "[" : "{"} `, el("span", { class: "z", text: `${entries.length} ${isArr ? "items" : "keys"}` }), ` ${isArr ? "]" : "}"}`));
    for (const [k, v] of entries) d.append(jsonTree(v, depth + 1, isArr ? null : k));
    return d;
  }
  const cls = typeof value === "string" ? "s" : typeof value === "number" ? "n" : typeof value === "boolean" ? "b" : "z";
  return el("div", { class: depth === 0 ? "" : "entry" }, ...keyPart, el("span", { class: cls, text: JSON.stringify(value) }));
}

function copyText(text, what) {
  const done = () => say(`Copied ${what} to the clipboard.`);
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => fallbackCopy(text, what));
  } else {
    fallbackCopy(text, what);
  }
}
function fallbackCopy(text, what) {
  const ta = el("textarea", { "aria-hidden": "true", style: "position:fixed;left:-9999px" });
  ta.value = text;
  document.body.append(ta);
  ta.select();
  let ok = false;
  try { ok = document.execCommand("copy"); } catch (_) { ok = false; }
  ta.remove();
  say(ok ? `Copied ${what} to the clipboard.` : `Could not copy ${what}: the browser refused.`, !ok);
}

// What a record's value looks like as text, and whether it is structured JSON.
function valueText(r) {
  if (r.value === null) return "null";
  if (typeof r.value === "string") return r.value;
  return JSON.stringify(r.value);
}
function recordDetail(r) {
  const valueView = r.value !== null && typeof r.value === "object" ? el("div", { class: "tree" }, jsonTree(r.value))
    : el("pre", { text: r.value === null ? "null" : typeof r.value === "string" ? r.value : JSON.stringify(r.value, null, 2) });
  const headers = (r.headers || []).length === 0 ? el("span", { class: "muted", text: "none" })
    : el("table", { class: "data" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "header" }), el("th", { scope: "col", text: "value" }))),
      el("tbody", {}, ...r.headers.map((h) => el("tr", {}, el("td", { class: "key", text: h.key }), el("td", { class: "key", text: h.value === null ? "null" : h.value })))));
  return el("dl", { class: "record" },
    el("dt", { text: "offset" }), el("dd", { text: String(r.offset) }),
    el("dt", { text: "timestamp" }), el("dd", { text: `${fmtTime(r.timestamp)} (${r.timestamp})` }),
    el("dt", { text: "key" }), el("dd", {}, el("pre", { class: "rec-key", text: r.key === null ? "null" : r.key }),
      r.key_encoding ? el("span", { class: "enc", text: r.key_encoding }) : null),
    el("dt", { text: "headers" }), el("dd", {}, headers),
    el("dt", { text: "value" }), el("dd", {},
      el("div", { class: "copy-row" },
        el("button", { type: "button", text: "Copy value", onclick: () => copyText(r.value !== null && typeof r.value === "object" ? JSON.stringify(r.value, null, 2) : valueText(r), "the value") }),
        el("button", { type: "button", text: "Copy record as JSON", onclick: () => copyText(JSON.stringify(r, null, 2), "the record") }),
        r.value_encoding ? el("span", { class: "enc", text: r.value_encoding }) : null),
      valueView));
}

// ------------------------------------------------------------------ message browser
const browse = { topic: null, partition: null, start: null, page: null, back: [] };

function readBrowseForm() {
  return {
    topic: $("#b-topic").value, partition: Number($("#b-partition").value),
    mode: $("#b-mode").value, position: $("#b-position").value.trim(),
    size: Number($("#b-size").value), format: $("#b-format").value,
  };
}
function parseTimestamp(text) {
  if (/^-?\d+$/.test(text)) return Number(text);
  const ms = Date.parse(text);
  return isNaN(ms) ? null : ms;
}

// Seeks as the form says; the start becomes an offset for paging.
async function seek() {
  const f = readBrowseForm();
  if (!f.topic) return say("No topic to browse yet.", true);
  const base = `/topics/${enc(f.topic)}/partitions/${f.partition}`;
  let query;
  if (f.mode === "offset") {
    if (!/^\d+$/.test(f.position)) return say("Offset must be a non-negative integer.", true);
    query = `offset=${f.position}`;
  } else if (f.mode === "timestamp") {
    const ts = parseTimestamp(f.position);
    if (ts === null) return say("Timestamp: give milliseconds since the epoch or a date such as 2024-01-31T12:00:00Z.", true);
    query = `timestamp=${ts}`;
  } else if (f.mode === "earliest") {
    query = "offset=earliest";
  } else {
    try {
      const p = await api(base);
      query = `offset=${Math.max(p.log_start_offset, p.high_watermark - f.size)}`;
    } catch (e) {
      return sayFailure(`Cannot read ${f.topic}/${f.partition}`, e);
    }
  }
  browse.back = [];
  await loadPage(f, query);
}

async function loadPage(f, query) {
  const url = `/topics/${enc(f.topic)}/partitions/${f.partition}/records?${query}&max_records=${f.size}&format=${f.format}`;
  try {
    const page = await api(url);
    Object.assign(browse, { topic: f.topic, partition: f.partition, page, form: f });
    browse.start = page.records.length ? page.records[0].offset : page.next_offset;
    renderPage();
    if (statusEl.className === "err") say("");
    const h = `#/messages?topic=${enc(f.topic)}&partition=${f.partition}&offset=${browse.start}`;
    if (location.hash !== h) history.replaceState(null, "", h);
  } catch (e) {
    const b = e.body || {};
    if (e.status === 416) {
      say(`Offset out of range: ${f.topic}/${f.partition} holds offsets ${b.log_start_offset} to ${b.high_watermark - 1}.`, true);
    } else {
      sayFailure("Cannot read records", e);
    }
  }
}

function renderPage() {
  const { page, form } = browse;
  const tbody = $("#b-records tbody");
  tbody.replaceChildren();
  if (page.records.length === 0) {
    tbody.append(el("tr", {}, el("td", { colspan: "5", class: "muted", text: `No records from offset ${page.next_offset} (high watermark ${page.high_watermark}).` })));
  }
  for (const r of page.records) {
    const detailRow = el("tr", { class: "detail", hidden: true }, el("td", { colspan: "5" }));
    const open = el("button", { type: "button", class: "link", "aria-expanded": "false", text: String(r.offset), title: `Show record ${r.offset}` });
    open.addEventListener("click", () => {
      const show = detailRow.hidden;
      detailRow.hidden = !show;
      open.setAttribute("aria-expanded", String(show));
      if (show && !detailRow.firstChild.firstChild) detailRow.firstChild.append(recordDetail(r));
    });
    const v = valueText(r);
    tbody.append(el("tr", { "data-offset": String(r.offset) },
      el("td", { class: "num" }, open),
      el("td", { text: fmtTime(r.timestamp) }),
      el("td", { class: "key", text: r.key === null ? "null" : r.key }),
      el("td", { class: "value", text: v.length > 300 ? `${v.slice(0, 300)}…` : v }),
      el("td", { class: "num", text: String((r.headers || []).length) })), detailRow);
  }
  const n = page.records.length;
  $("#b-range").textContent = n ? `offsets ${page.records[0].offset}–${page.records[n - 1].offset} of ${page.log_start_offset}–${page.high_watermark - 1} · ${form.topic}/${form.partition}`
    : `${form.topic}/${form.partition}: log ${page.log_start_offset}–${page.high_watermark}`;
  $("#b-prev").disabled = !(browse.back.length || browse.start > page.log_start_offset);
  $("#b-next").disabled = page.next_offset >= page.high_watermark;
}

$("#browse-form").addEventListener("submit", (ev) => { ev.preventDefault(); seek(); });
$("#b-mode").addEventListener("change", () => {
  const m = $("#b-mode").value;
  const pos = $("#b-position");
  pos.disabled = m === "earliest" || m === "latest";
  pos.placeholder = m === "timestamp" ? "ms or 2024-01-31T12:00:00Z" : m === "offset" ? "0" : "";
});
$("#b-next").addEventListener("click", () => {
  if (!browse.page) return;
  browse.back.push(browse.start);
  loadPage(browse.form, `offset=${browse.page.next_offset}`);
});
$("#b-prev").addEventListener("click", () => {
  if (!browse.page) return;
  // Exact when we paged forward to here; otherwise a page's worth of offsets back.
  const prev = browse.back.length ? browse.back.pop()
    : Math.max(browse.page.log_start_offset, browse.start - browse.form.size);
  loadPage(browse.form, `offset=${prev}`);
});

// ------------------------------------------------------------------ live tail
// EventSource (SSE; it sends Accept: text/event-stream itself, ids are offsets and a
// reconnect resumes after Last-Event-ID). With a token the stream is read with fetch
// instead (EventSource cannot send Authorization), as NDJSON.
const tail = { source: null, abort: null, next: null, paused: false, count: 0, topic: null, partition: null };
const TAIL_KEEP = 500;

function tailState(text, cls = "") {
  const s = $("#t-state");
  s.textContent = text;
  s.className = cls;
}
function tailAdd(r) {
  tail.next = r.offset + 1;
  const list = $("#t-list");
  const v = valueText(r);
  const li = el("li", { class: "fresh", "data-offset": String(r.offset) },
    el("span", { text: `#${r.offset}` }), el("span", { text: fmtTime(r.timestamp) }),
    el("span", { class: "k", text: r.key === null ? "null" : r.key }),
    el("span", { class: "v", text: v.length > 400 ? `${v.slice(0, 400)}…` : v, title: v.slice(0, 2000) }));
  list.prepend(li);
  while (list.children.length > TAIL_KEEP) list.lastChild.remove();
  tail.count = list.children.length;
  $("#t-count").textContent = `${tail.count} record${tail.count === 1 ? "" : "s"}`;
}
function tailUrl(topic, partition, from) {
  return `/topics/${enc(topic)}/partitions/${partition}/records/stream?follow=true&format=json&${from}`;
}
function tailClose() {
  if (tail.source) { tail.source.close(); tail.source = null; }
  if (tail.abort) { tail.abort.abort(); tail.abort = null; }
}
function tailOpen(from) {
  tailClose();
  const url = tailUrl(tail.topic, tail.partition, from);
  const where = `${tail.topic}/${tail.partition}`;
  if (token) return tailFetch(url, where);
  const es = new EventSource(url);
  tail.source = es;
  tailState(`connecting to ${where}…`);
  es.onopen = () => tailState(`live: ${where} (server-sent events)`, "live");
  es.onmessage = (ev) => tailAdd(JSON.parse(ev.data));
  es.addEventListener("end", (ev) => {
    es.close();
    tailEnded(where, JSON.parse(ev.data).end);
  });
  es.addEventListener("error", (ev) => {
    if (ev.data) {  // the server's "event: error"
      es.close();
      const e = JSON.parse(ev.data).error;
      tailState(`stream error: ${e.message}`, "err");
      return tailButtons("stopped");
    }
    // A transport error: EventSource reconnects by itself, resuming after Last-Event-ID.
    if (es.readyState === EventSource.CLOSED) {
      tailState(`cannot stream ${where} (the server refused; see the Messages view for the error)`, "err");
      tailButtons("stopped");
    } else {
      tailState(`reconnecting to ${where}…`);
    }
  });
}
async function tailFetch(url, where) {
  const ctl = new AbortController();
  tail.abort = ctl;
  tailState(`connecting to ${where}…`);
  try {
    const r = await fetch(url, { headers: authHeaders(), signal: ctl.signal });
    if (!r.ok) {
      const body = await r.json().catch(() => ({}));
      if (r.status === 401) needToken();
      tailState(`cannot stream ${where}: ${body.message || r.status}`, "err");
      return tailButtons("stopped");
    }
    tailState(`live: ${where} (NDJSON stream)`, "live");
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const obj = JSON.parse(line);
        if (obj.end) return tailEnded(where, obj.end);
        if (obj.error) { tailState(`stream error: ${obj.error.message}`, "err"); return tailButtons("stopped"); }
        tailAdd(obj);
      }
    }
    tailState(`stream of ${where} closed by the server`, "err");
    tailButtons("stopped");
  } catch (e) {
    if (e.name === "AbortError") return;
    tailState(`stream of ${where} failed: ${e.message}`, "err");
    tailButtons("stopped");
  }
}
function tailEnded(where, end) {
  tailState(`stream of ${where} ended at offset ${end.next_offset} (${end.reason})`);
  tailButtons("stopped");
}
function tailButtons(state) {
  $("#t-start").disabled = state !== "stopped";
  $("#t-pause").disabled = state === "stopped";
  $("#t-stop").disabled = state === "stopped";
  $("#t-pause").textContent = state === "paused" ? "Resume" : "Pause";
  if (state === "stopped") { tailClose(); tail.paused = false; }
}
$("#t-from").addEventListener("change", () => { $("#t-offset").disabled = $("#t-from").value !== "offset"; });
$("#tail-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  tail.topic = $("#t-topic").value;
  tail.partition = Number($("#t-partition").value);
  if (!tail.topic) return tailState("no topic to tail yet", "err");
  const from = $("#t-from").value;
  let q = `offset=${from}`;
  if (from === "offset") {
    const o = $("#t-offset").value.trim();
    if (!/^\d+$/.test(o)) return tailState("the offset must be a non-negative integer", "err");
    q = `offset=${o}`;
  }
  tail.paused = false;
  tail.next = null;
  tailButtons("live");
  tailOpen(q);
});
$("#t-pause").addEventListener("click", () => {
  if (!tail.paused) {
    // Pausing closes the stream; resuming reopens it after the last record shown, so none is lost.
    tailClose();
    tail.paused = true;
    tailButtons("paused");
    tailState(`paused at offset ${tail.next === null ? "(none yet)" : tail.next}`, "paused");
  } else {
    tail.paused = false;
    tailButtons("live");
    tailOpen(tail.next === null ? "offset=latest" : `offset=${tail.next}`);
  }
  $("#t-pause").focus();
});
$("#t-stop").addEventListener("click", () => { tailButtons("stopped"); tailState("stopped"); $("#t-start").focus(); });
$("#t-clear").addEventListener("click", () => { $("#t-list").replaceChildren(); tail.count = 0; $("#t-count").textContent = "0 records"; });

// ------------------------------------------------------------------ consumer groups
async function refreshGroups() {
  try {
    const { consumer_groups: groups } = await api("/consumer-groups");
    const details = await Promise.all(groups.map((g) => api(`/consumer-groups/${enc(g)}/offsets`)));
    const tbody = $("#groups-table tbody");
    tbody.replaceChildren();
    $("#groups-empty").hidden = groups.length > 0;
    const holder = $("#groups-detail");
    holder.replaceChildren();
    for (const d of details) {
      const lag = d.offsets.reduce((a, o) => a + (o.lag || 0), 0);
      const last = d.offsets.reduce((a, o) => Math.max(a, o.committed_at_ms || 0), 0);
      tbody.append(el("tr", { "data-group": d.group },
        el("th", { scope: "row" }, el("a", { href: `#group-${enc(d.group)}`, text: d.group })),
        el("td", { class: "num", text: fmtInt(d.offsets.length) }),
        el("td", { class: "num lag", text: fmtInt(lag) }),
        el("td", { text: last ? fmtTime(last) : "–" })));
      holder.append(el("h3", { id: `group-${d.group}`, text: `Group ${d.group}` }),
        el("table", { class: "data", "data-group-offsets": d.group },
          el("caption", { class: "sr-only", text: `Committed offsets and lag of ${d.group}` }),
          el("thead", {}, el("tr", {}, ...["topic", "partition", "committed offset", "high watermark", "lag", "committed at", "metadata"].map(
            (h, i) => el("th", { scope: "col", class: i >= 1 && i <= 4 ? "num" : null, text: h })))),
          el("tbody", {}, ...d.offsets.map((o) => el("tr", {},
            el("td", {}, el("a", { href: `#/messages?topic=${enc(o.topic)}&partition=${o.partition}&offset=${o.committed_offset}`, text: o.topic })),
            el("td", { class: "num", text: String(o.partition) }),
            el("td", { class: "num", text: fmtInt(o.committed_offset) }),
            el("td", { class: "num", text: fmtInt(o.high_watermark) }),
            el("td", { class: "num lag", text: o.lag === null ? "unknown" : fmtInt(o.lag) }),
            el("td", { text: fmtTime(o.committed_at_ms) }),
            el("td", { class: "key", text: o.metadata || "" }))))));
    }
  } catch (e) {
    sayFailure("Cannot load consumer groups", e);
  }
}

// ------------------------------------------------------------------ metrics
// Prometheus text exposition format → [{name, labels, value}].
function parsePrometheus(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let l;
      while ((l = re.exec(m[3])) !== null) labels[l[1]] = l[2].replace(/\\n/g, "\n").replace(/\\(["\\])/g, "$1");
    }
    const v = m[4] === "+Inf" ? Infinity : m[4] === "-Inf" ? -Infinity : Number(m[4]);
    out.push({ name: m[1], labels, value: v });
  }
  return out;
}
const STREAM_ROUTES = new Set(["/topics/{topic}/partitions/{partition}/records/stream", "/topics/{topic}/records/stream"]);

function sampleOf(series, t) {
  const sum = (name, pred = () => true) => series.filter((s) => s.name === name && pred(s.labels)).reduce((a, s) => a + s.value, 0);
  const routes = new Set();
  const buckets = new Map();  // le → cumulative count, over the chosen routes
  const route = $("#m-route").value;
  for (const s of series) {
    if (s.name !== "streamhouse_http_request_duration_seconds_bucket") continue;
    routes.add(s.labels.route);
    if (route ? s.labels.route !== route : STREAM_ROUTES.has(s.labels.route)) continue;
    const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
    buckets.set(le, (buckets.get(le) || 0) + s.value);
  }
  const caches = {};
  for (const s of series) {
    if (s.name === "streamhouse_cache_hits_total" || s.name === "streamhouse_cache_misses_total") {
      const tier = `memory: ${s.labels.cache || "cache"}`;
      caches[tier] = caches[tier] || { hits: 0, misses: 0 };
      caches[tier][s.name.endsWith("hits_total") ? "hits" : "misses"] += s.value;
    }
  }
  if (series.some((s) => s.name === "streamhouse_disk_cache_hits_total")) {
    caches.disk = { hits: sum("streamhouse_disk_cache_hits_total"), misses: sum("streamhouse_disk_cache_misses_total") };
  }
  return {
    t, routes, buckets, caches,
    requests: sum("streamhouse_http_requests_total"),
    storeBytes: sum("streamhouse_object_store_read_bytes_total"),
  };
}

// histogram_quantile over one interval's bucket increments (linear within a bucket).
function quantile(q, prev, cur) {
  const les = [...cur.buckets.keys()].sort((a, b) => a - b);
  const counts = les.map((le) => Math.max(0, cur.buckets.get(le) - (prev.buckets.get(le) || 0)));
  const total = counts.length ? counts[counts.length - 1] : 0;
  if (total <= 0) return null;
  const rank = q * total;
  for (let i = 0; i < les.length; i++) {
    if (counts[i] >= rank) {
      const lo = i === 0 ? 0 : les[i - 1];
      const below = i === 0 ? 0 : counts[i - 1];
      if (les[i] === Infinity) return lo;
      const inBucket = counts[i] - below;
      return inBucket <= 0 ? les[i] : lo + (les[i] - lo) * ((rank - below) / inBucket);
    }
  }
  return null;
}

const metrics = { samples: [], timer: null, keep: 121 };
async function sampleMetrics() {
  try {
    const r = await fetch("/metrics", { headers: authHeaders() });
    if (!r.ok) throw new Error(r.status === 401 ? "this server wants a token for /metrics" : `HTTP ${r.status}`);
    const s = sampleOf(parsePrometheus(await r.text()), Date.now());
    metrics.samples.push(s);
    if (metrics.samples.length > metrics.keep) metrics.samples.shift();
    const sel = $("#m-route");
    for (const route of [...s.routes].sort()) {
      if (![...sel.options].some((o) => o.value === route)) sel.append(el("option", { value: route, text: route }));
    }
    drawMetrics();
  } catch (e) {
    $("#m-samples").textContent = `cannot sample /metrics: ${e.message}`;
  }
}
function startSampling() {
  clearInterval(metrics.timer);
  metrics.timer = setInterval(sampleMetrics, Number($("#m-interval").value));
}
$("#m-interval").addEventListener("change", startSampling);
$("#m-route").addEventListener("change", () => { metrics.samples = []; sampleMetrics(); });

// Series colours are CSS variables (style.css) so the dark scheme has its own.
const COLORS = [0, 1, 2, 3, 4].map((i) => `var(--series-${i})`);
const DASHES = ["", "6 3", "2 2", "8 3 2 3", "1 3"];
function rates(pick) {
  const pts = [];
  const ss = metrics.samples;
  for (let i = 1; i < ss.length; i++) {
    const dt = (ss[i].t - ss[i - 1].t) / 1000;
    const v = dt > 0 ? pick(ss[i - 1], ss[i], dt) : null;
    pts.push({ t: ss[i].t, v: v === null || v === undefined || !isFinite(v) ? null : v });
  }
  return pts;
}
function drawMetrics() {
  const n = metrics.samples.length;
  $("#m-samples").textContent = `${n} sample${n === 1 ? "" : "s"}`;
  drawChart("#chart-rate", [{ name: "requests/s", points: rates((a, b, dt) => Math.max(0, b.requests - a.requests) / dt) }],
    (v) => `${v.toFixed(v < 10 ? 2 : 0)}/s`);
  drawChart("#chart-latency", [
    { name: "p50", points: rates((a, b) => quantile(0.5, a, b)) },
    { name: "p99", points: rates((a, b) => quantile(0.99, a, b)) },
  ], fmtSeconds);
  const tiers = n ? Object.keys(metrics.samples[n - 1].caches).sort() : [];
  drawChart("#chart-cache", tiers.map((tier) => ({
    name: tier,
    points: rates((a, b) => {
      const x = a.caches[tier], y = b.caches[tier];
      if (!x || !y) return null;
      const hits = y.hits - x.hits, total = hits + (y.misses - x.misses);
      return total > 0 ? hits / total : null;
    }),
  })), (v) => `${(v * 100).toFixed(0)}%`, 1);
  drawChart("#chart-store", [{ name: "read from store", points: rates((a, b, dt) => Math.max(0, b.storeBytes - a.storeBytes) / dt) }],
    (v) => `${fmtBytes(v)}/s`);
}
function fmtSeconds(v) {
  if (v < 1e-3) return `${(v * 1e6).toFixed(0)} µs`;
  if (v < 1) return `${(v * 1e3).toFixed(v < 0.01 ? 2 : 1)} ms`;
  return `${v.toFixed(2)} s`;
}

// The smallest of 1, 2, 2.5, 5 × 10^k at or above v (a round top for an axis).
function niceCeil(v) {
  if (!(v > 0)) return 0;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v * (1 - 1e-9)) return m * p;
  return 10 * p;
}

const NS = "http://www.w3.org/2000/svg";
function svgEl(tag, attrs) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}
// A line chart of `series` ([{name, points:[{t, v|null}]}]); null values break the line.
function drawChart(sel, series, fmt, fixedMax = null) {
  const fig = $(sel);
  const svg = $("svg", fig);
  const W = 420, H = 150, L = 58, R = 8, T = 8, B = 20;
  svg.replaceChildren();
  const all = series.flatMap((s) => s.points).filter((p) => p.v !== null);
  const ts = series.flatMap((s) => s.points.map((p) => p.t));
  const t0 = ts.length ? Math.min(...ts) : 0, t1 = ts.length ? Math.max(...ts) : 1;
  let max = fixedMax !== null ? fixedMax : niceCeil(Math.max(0, ...all.map((p) => p.v)));
  if (max <= 0) max = 1;
  const x = (t) => L + (t1 > t0 ? ((t - t0) / (t1 - t0)) * (W - L - R) : W - L - R);
  const y = (v) => T + (1 - v / max) * (H - T - B);
  for (const f of [0, 0.5, 1]) {
    svg.append(svgEl("line", { class: "grid", x1: L, x2: W - R, y1: y(max * f), y2: y(max * f) }));
    const label = svgEl("text", { x: L - 4, y: y(max * f) + 3, "text-anchor": "end" });
    label.textContent = fmt(max * f);
    svg.append(label);
  }
  const span = svgEl("text", { x: W - R, y: H - 4, "text-anchor": "end" });
  span.textContent = ts.length > 1 ? `last ${Math.round((t1 - t0) / 1000)} s` : "collecting…";
  svg.append(span);
  series.forEach((s, i) => {
    let d = "", pen = false;
    for (const p of s.points) {
      if (p.v === null) { pen = false; continue; }
      d += `${pen ? "L" : "M"}${x(p.t).toFixed(1)},${y(Math.min(p.v, max)).toFixed(1)} `;
      pen = true;
    }
    if (d) svg.append(svgEl("path", { class: "line", d: d.trim(), style: `stroke: ${COLORS[i % COLORS.length]}`, "stroke-dasharray": DASHES[i % DASHES.length], "data-series": s.name }));
  });
  const legend = $(".legend", fig);
  legend.replaceChildren(...series.map((s, i) => {
    const last = [...s.points].reverse().find((p) => p.v !== null);
    return el("li", {}, el("span", { class: "sw", style: `background:${COLORS[i % COLORS.length]}`, "aria-hidden": "true" }),
      `${s.name}: `, el("span", { class: "val", text: last ? fmt(last.v) : "no data yet" }));
  }));
  if (!series.length) legend.replaceChildren(el("li", { class: "muted", text: "no cache metrics reported" }));
}

// ------------------------------------------------------------------ views and routing
// #/topics · #/messages?topic=&partition=&offset= · #/tail?topic=&partition= · #/groups · #/metrics
const VIEWS = ["topics", "messages", "tail", "groups", "metrics"];
let currentView = null;
async function route() {
  const [path, qs] = (location.hash.replace(/^#/, "") || "/topics").split("?");
  const name = VIEWS.includes(path.replace(/^\//, "")) ? path.replace(/^\//, "") : null;
  if (!name) return;  // an in-page anchor (e.g. #group-x or #main)
  const params = new URLSearchParams(qs || "");
  for (const v of VIEWS) $(`#view-${v}`).hidden = v !== name;
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === name) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  const changed = currentView !== name;
  currentView = name;
  if (!topics.length && (name === "messages" || name === "tail")) await refreshTopics();
  if (name === "messages" || name === "tail") {
    const p = name === "messages" ? "b" : "t";
    if (params.get("topic") && topics.some((t) => t.name === params.get("topic"))) {
      $(`#${p}-topic`).value = params.get("topic");
      fillPartitions(p);
      if (params.get("partition") !== null) $(`#${p}-partition`).value = params.get("partition");
    }
    if (name === "messages" && params.get("offset") !== null) {
      $("#b-mode").value = "offset";
      $("#b-position").value = params.get("offset");
      $("#b-position").disabled = false;
      const f = readBrowseForm();
      if (!browse.page || browse.topic !== f.topic || browse.partition !== f.partition || browse.start !== Number(params.get("offset"))) seek();
    } else if (name === "messages" && params.get("topic") && changed) {
      $("#b-mode").value = "earliest";
      $("#b-position").disabled = true;
      seek();
    }
  }
  if (name === "topics" && changed) refreshTopics();
  if (name === "groups") refreshGroups();
  if (name === "metrics") drawMetrics();
}
window.addEventListener("hashchange", route);
$("#topics-refresh").addEventListener("click", refreshTopics);
$("#groups-refresh").addEventListener("click", refreshGroups);
setInterval(() => { if (currentView === "topics" && $("#topics-auto").checked && !document.hidden) refreshTopics(); }, 10000);
setInterval(refreshHealth, 10000);

refreshHealth();
route();
sampleMetrics();
startSampling();
