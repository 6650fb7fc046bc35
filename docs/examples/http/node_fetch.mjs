// cairn serve from Node (18+), with the built-in fetch: append, then follow the live feed
// (server-sent events) until the appended events arrive. CAIRN_URL, CAIRN_TOKEN as in
// curl.sh. Run by tests/http_examples_test.sh.
import { randomUUID } from "node:crypto";

const url = process.env.CAIRN_URL ?? "http://127.0.0.1:8080";
const headers = process.env.CAIRN_TOKEN ? { Authorization: `Bearer ${process.env.CAIRN_TOKEN}` } : {};
const stream = `cart-node-${randomUUID().slice(0, 8)}`;

async function append(events, expected = "any") {
  const r = await fetch(`${url}/v1/streams/${stream}/events`, {
    method: "POST",
    headers: { ...headers, "Content-Type": "application/json", "Cairn-Expected-Version": expected },
    body: JSON.stringify(events),
  });
  const body = await r.json();
  if (r.status !== 201) throw new Error(`${r.status}: ${body.message}`);
  return body;
}

const first = await append([{ id: randomUUID(), type: "ItemAdded", data: { sku: "sku-1", qty: 2 } }], "no-stream");
console.log(`appended v${first.last_version} at position ${first.last_position}`);

// Follow the feed from that position: catch-up delivers it, then a live append arrives.
const feed = await fetch(`${url}/v1/feed?stream=${stream}&from=${first.first_position}`, { headers });
if (feed.status !== 200) throw new Error(`feed: ${feed.status}`);
const seen = [];
const reader = feed.body.pipeThrough(new TextDecoderStream()).getReader();
let buffer = "";
setTimeout(() => append([{ id: randomUUID(), type: "ItemRemoved", data: { sku: "sku-1" } }], "1"), 200);
while (seen.length < 2) {
  const { value, done } = await reader.read();
  if (done) throw new Error("the feed ended");
  buffer += value;
  let end;
  while ((end = buffer.indexOf("\n\n")) >= 0) {
    const frame = buffer.slice(0, end);
    buffer = buffer.slice(end + 2);
    const data = frame.split("\n").find((l) => l.startsWith("data: "));
    if (data) seen.push(JSON.parse(data.slice(6)));
  }
}
await reader.cancel();
const types = seen.map((e) => `${e.type}@v${e.version}`).join(", ");
if (types !== "ItemAdded@v1, ItemRemoved@v2") throw new Error(`feed delivered ${types}`);
console.log(`feed delivered ${types}`);
