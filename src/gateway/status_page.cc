// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The status page `cairn serve` answers at /: one self-contained HTML file (no external
// scripts, fonts or styles, so it works on an air-gapped edge box) that polls /status.
namespace cairn::gateway {

extern const char* const kStatusPageHtml;
const char* const kStatusPageHtml = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cairn serve</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2430; }
  h1 { font-size: 1.3rem; margin: 0 0 1rem; }
  .tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: .75rem; }
  .tile { border: 1px solid #d6dbe3; border-radius: 6px; padding: .6rem .8rem; }
  .tile b { display: block; font-size: 1.35rem; font-variant-numeric: tabular-nums; }
  .tile span { color: #5b6573; font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; }
  .ok { color: #17733a; } .bad { color: #b3261e; }
  table { border-collapse: collapse; margin-top: 1.2rem; width: 100%; }
  th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #e6e9ee; }
  td { font-family: ui-monospace, monospace; font-size: .85rem; }
  #error { color: #b3261e; margin-top: 1rem; }
</style>
</head>
<body>
<h1>cairn serve <small id="store"></small></h1>
<div class="tiles">
  <div class="tile"><span>Ready</span><b id="ready">…</b></div>
  <div class="tile"><span>Shipper</span><b id="shipper">…</b></div>
  <div class="tile"><span>Head position</span><b id="head">…</b></div>
  <div class="tile"><span>Shipped through</span><b id="shipped">…</b></div>
  <div class="tile"><span>Lag (events)</span><b id="lag">…</b></div>
  <div class="tile"><span>Lag (seconds)</span><b id="lag-seconds">…</b></div>
  <div class="tile"><span>Backlog</span><b id="backlog">…</b></div>
  <div class="tile"><span>Dead letters</span><b id="dead-letters">…</b></div>
</div>
<table>
  <thead><tr><th>Position</th><th>Stream</th><th>Version</th><th>Type</th><th>Time</th></tr></thead>
  <tbody id="last-events"></tbody>
</table>
<div id="error"></div>
<script>
"use strict";
const token = new URLSearchParams(location.hash.slice(1)).get("token");
function set(id, text, good) {
  const el = document.getElementById(id);
  el.textContent = text;
  if (good !== undefined) el.className = good ? "ok" : "bad";
}
async function refresh() {
  try {
    const headers = token ? { Authorization: "Bearer " + token } : {};
    const r = await fetch("status", { headers, cache: "no-store" });
    if (!r.ok) throw new Error("/status answered " + r.status);
    const s = await r.json();
    set("store", s.store.path);
    set("ready", s.ready ? "ready" : "not ready", s.ready);
    const sh = s.shipper || {};
    set("shipper", sh.state + (sh.state !== "none" && !sh.broker_reachable ? " (broker down)" : ""),
        sh.state !== "failed" && (sh.state === "none" || sh.broker_reachable));
    set("head", s.store.head);
    set("shipped", sh.shipped_through ?? "–");
    set("lag", sh.lag_events ?? "–", (sh.lag_events ?? 0) < 1000);
    set("lag-seconds", sh.lag_seconds !== undefined ? sh.lag_seconds.toFixed(1) : "–",
        (sh.lag_seconds ?? 0) < 60);
    const b = s.backlog;
    set("backlog", b.max_events ? `${b.events} / ${b.max_events}` : String(b.events),
        !b.max_events || b.events < 0.8 * b.max_events);
    set("dead-letters", s.dead_letters + (s.dead_letters_more ? "+" : ""), s.dead_letters === 0);
    const body = document.getElementById("last-events");
    body.replaceChildren(...s.last_events.map(e => {
      const tr = document.createElement("tr");
      for (const v of [e.position, e.stream, e.version, e.type, e.timestamp]) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.appendChild(td);
      }
      return tr;
    }));
    set("error", "");
  } catch (err) {
    set("error", "cannot read /status: " + err.message);
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
)HTML";

}  // namespace cairn::gateway
