// Time to a fully rendered dashboard, in Debian's Chromium (the benchmark's `query` row reports it).
// Usage: BASE_URL=http://127.0.0.1:PORT [PAGE_PATH=/?range=all_time] [RUNS=5] node e2e/first-render.mjs
// Each run opens a fresh browser context (no HTTP cache: a first visit) and measures, from the
// navigation start, until the KPI cards hold numbers, nothing is loading (no aria-busy) and the
// charts have painted their canvases. Prints one JSON object: {"runs_ms": [...]}.
import { chromium } from 'playwright-core';

const base = process.env.BASE_URL;
const path = process.env.PAGE_PATH ?? '/?range=all_time';
const runs = Number(process.env.RUNS ?? 5);
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
});
const times = [];
try {
  for (let i = 0; i < runs; i++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const page = await context.newPage();
    await page.goto(`${base}${path}`, { waitUntil: 'commit' });
    await page.waitForFunction(
      () => {
        const kpi = document.querySelector('[data-testid="kpi-listens"]');
        return (
          kpi !== null &&
          /\d/.test(kpi.textContent ?? '') &&
          document.querySelectorAll('[aria-busy="true"]').length === 0 &&
          document.querySelectorAll('canvas').length >= 2
        );
      },
      null,
      { polling: 'raf', timeout: 60_000 },
    );
    times.push(await page.evaluate(() => performance.now()));
    await context.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify({ runs_ms: times.map((t) => Math.round(t)) }));
