// Drives Debian's Chromium with playwright-core for ohifbridge's browser
// test. Started by the Go test as
//
//	TMPDIR=<empty directory> node driver.mjs <chromium>
//
// It launches one headless Chromium, whose fresh profile (--user-data-dir)
// playwright creates under TMPDIR and deletes at exit, then reads one
// JSON scenario per line on stdin and answers one JSON result per line on
// stdout. A scenario is run in a fresh browser context (no cookies or
// storage from earlier scenarios):
//
//	{"start": URL, "until": "done" | "response", "stopAt": URL prefix,
//	 "timeoutMs": N, "settleMs": N}
//
// "done" waits until the page calls window.__harnessDone (ohif.js does at
// the end of a flow, or when OHIF's logic stops); "response" waits for a
// main-frame response whose URL starts with stopAt. Either way the driver
// then waits settleMs more and reports what the main frame did:
//
//	{"t0": epoch ms before the first navigation, "done": {...} | null,
//	 "timedOut": bool, "finalURL": URL, "navigations": [{url, status, at}],
//	 "requests": [{method, url, at}], "console": [...], "errors": [...]}
//
// "console" also lists the responses of status 400 or more (without query).
//
// "at" values are milliseconds since t0.
import { chromium } from 'playwright-core';
import readline from 'node:readline';

const [executablePath] = process.argv.slice(2);
if (!executablePath) {
  console.error('usage: node driver.mjs <chromium>');
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function run(sc) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const out = { done: null, timedOut: false, navigations: [], requests: [], console: [], errors: [] };
  let finish;
  const finished = new Promise((resolve) => { finish = resolve; });
  await page.exposeFunction('__harnessDone', (v) => { out.done = v; finish(); });
  page.on('console', (m) => out.console.push(m.type() + ': ' + m.text()));
  page.on('pageerror', (e) => out.errors.push(String(e)));
  page.on('request', (r) => out.requests.push({ method: r.method(), url: r.url(), at: Date.now() - out.t0 }));
  page.on('response', (r) => {
    if (r.status() >= 400) {
      out.console.push('http: ' + r.status() + ' ' + r.request().method() + ' ' + r.url().split('?')[0]);
    }
    if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) {
      out.navigations.push({ url: r.url(), status: r.status(), at: Date.now() - out.t0 });
      if (sc.until === 'response' && sc.stopAt && r.url().startsWith(sc.stopAt)) {
        finish();
      }
    }
  });
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => { out.timedOut = true; resolve(); }, sc.timeoutMs || 20000);
  });
  out.t0 = Date.now();
  try {
    await page.goto(sc.start, { waitUntil: 'commit' });
  } catch (e) {
    out.errors.push('goto: ' + String(e));
    finish();
  }
  await Promise.race([finished, timeout]);
  clearTimeout(timer);
  await sleep(sc.settleMs || 0);
  out.finalURL = page.url();
  await ctx.close();
  return out;
}

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) {
    continue;
  }
  let result;
  try {
    result = await run(JSON.parse(line));
  } catch (e) {
    result = { errors: ['driver: ' + String(e && e.stack || e)] };
  }
  process.stdout.write(JSON.stringify(result) + '\n');
}
await browser.close();
process.exit(0);
