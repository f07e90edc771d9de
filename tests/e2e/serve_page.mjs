// Drives the `emofuse serve` page in headless Chromium and prints what it saw as JSON; the
// assertions are in tests/integration/serve.rs, which starts the server and runs this script.
//
//   node tests/e2e/serve_page.mjs <server url> <wav file> [screenshot.png]
//
// Needs Debian's chromium (/usr/bin/chromium, or $CHROMIUM) and `npm ci --prefix tests/e2e`.
// Chromium's fake microphone (a beep) stands in for a real one in the recording step.

import { chromium } from "playwright-core";

const [url, wav, screenshot] = process.argv.slice(2);
if (!url || !wav) {
  console.error("usage: node serve_page.mjs <server url> <wav file> [screenshot.png]");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    // This machine's network is closed: without these Chromium keeps retrying Google's hosts.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
  ],
});

const seen = { console_errors: [] };
try {
  const context = await browser.newContext({ viewport: { width: 820, height: 900 } });
  const page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") seen.console_errors.push(m.text()); });
  page.on("pageerror", (e) => seen.console_errors.push(String(e)));
  page.setDefaultTimeout(30_000);

  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("model-info").textContent.startsWith("Run "));
  seen.model_info = await page.textContent("#model-info");

  // What the chart shows, and the API answer it was drawn from.
  const bars = () => page.$$eval("#chart .bar", (rows) => rows.map((row) => ({
    label: row.querySelector(".bar-name").textContent,
    shown: row.querySelector(".bar-pct").textContent,
    width: row.querySelector(".bar-fill").style.width,
  })));
  const submit = async () => {
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith("/api/predict")),
      page.click("#submit"),
    ]);
    const answer = await response.json();
    await page.waitForFunction(() => !document.getElementById("submit").disabled);
    return { status: response.status(), answer };
  };

  // 1. Nothing typed: the server's message is shown, no chart.
  const empty = await submit();
  seen.empty = {
    status: empty.status,
    error: (await page.isVisible("#error")) ? await page.textContent("#error") : null,
    result_visible: await page.isVisible("#result"),
    // Chromium logs the 400 it was meant to get; every later error is a failure.
    console_errors: seen.console_errors.splice(0),
  };

  // 2. A transcript and an uploaded WAV.
  await page.fill("#text", "Oh my God, you got the job! That is wonderful!");
  await page.setInputFiles("#audio-file", wav);
  const upload = await submit();
  await page.waitForSelector("#result", { state: "visible" });
  seen.upload = {
    status: upload.status,
    answer: upload.answer,
    label: await page.textContent("#label"),
    notes: await page.textContent("#notes"),
    bars: await bars(),
    error_visible: await page.isVisible("#error"),
  };
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });

  // 3. A recording from the (fake) microphone replaces the file.
  await page.click("#record");
  await page.waitForFunction(() => document.getElementById("record-status").textContent.startsWith("Recording"));
  await page.waitForTimeout(1500);
  await page.click("#record");
  await page.waitForSelector("#recording-row", { state: "visible" });
  seen.record_status = await page.textContent("#record-status");
  seen.recording = await submit();
  seen.recording.notes = await page.textContent("#notes");
  seen.recording.bars = await bars();
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
