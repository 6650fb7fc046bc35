// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The status page of `cairn serve` (GET /) in headless Chromium (Debian's), driven by
// playwright-core: it must show what /status says — ready, the head, the shipper, lag,
// backlog against its quota, dead letters and the last events, newest first — and keep
// up when events are appended while it is open; with tokens on, it reads the token from the
// URL fragment and says so when it has none.
//   node status_page.cjs BASE_URL TOKEN HEAD_BEFORE APPEND_COMMAND...
const { chromium } = require("playwright-core");
const { execFileSync } = require("node:child_process");

const [base, token, headBefore, ...appendCommand] = process.argv.slice(2);

function check(ok, what) {
  if (!ok) throw new Error(what);
  console.log("ok:", what);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu"],
  });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));

    // Without the token: the page loads, and says /status refused it.
    await page.goto(base + "/");
    await page.waitForFunction(() => document.getElementById("error").textContent.includes("401"));
    check(true, "without a token the page names the 401");

    await page.goto(base + "/#token=" + token);
    await page.reload();
    await page.waitForFunction(() => document.getElementById("ready").textContent === "ready");
    const text = async (id) => page.textContent("#" + id);
    check((await text("head")) === headBefore, `head shows ${headBefore}`);
    check((await text("shipper")).startsWith("shipping"), "the shipper shows as shipping");
    check((await text("backlog")).endsWith("/ 1000"), "the backlog shows against its quota of 1000");
    check((await text("dead-letters")) === "0", "no dead letters");
    const rows = await page.$$eval("#last-events tr", (trs) => trs.map((tr) => tr.children[0].textContent));
    check(rows.length === Math.min(10, Number(headBefore)), `${rows.length} last events listed`);
    check(rows[0] === headBefore, "the newest event first");

    // Appended while the page is open: it shows up within a refresh or two.
    execFileSync(appendCommand[0], appendCommand.slice(1), { stdio: "inherit" });
    const after = String(Number(headBefore) + 1);
    await page.waitForFunction((h) => document.getElementById("head").textContent === h, after,
                               { timeout: 10000 });
    const newest = await page.$eval("#last-events tr td:nth-child(4)", (td) => td.textContent);
    check(newest === "AppendedWhileOpen", "the event appended while the page was open is listed");
    if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
    check(errors.length === 0, "no script errors" + (errors.length ? ": " + errors.join("; ") : ""));
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error("status page:", e.message);
  process.exit(1);
});
