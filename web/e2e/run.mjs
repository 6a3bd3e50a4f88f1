// End-to-end checks of the built UI against a running stack, in Debian's Chromium (never a downloaded browser).
// Usage: BASE_URL=http://127.0.0.1:PORT EXPECT=expect.json SHOTS=../docs/screenshots node e2e/run.mjs
// EXPECT holds figures the caller computed from the listens it seeded; each check compares the page
// with them exactly. Prints one line per check and exits 1 when any failed.
import { readFileSync, mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

const base = process.env.BASE_URL;
const expect = JSON.parse(readFileSync(process.env.EXPECT, 'utf8'));
const shots = process.env.SHOTS;
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
if (shots) mkdirSync(shots, { recursive: true });

const openapi = await (await fetch(`${base}/schema/openapi.json`)).json();
const has = (path) => path in (openapi.paths ?? {});

const results = [];
let failed = 0;
async function check(name, fn) {
  const started = Date.now();
  try {
    const note = await fn();
    results.push({ name, ok: true, ms: Date.now() - started, note });
    console.log(`PASS ${name}${note ? ` — ${note}` : ''} (${Date.now() - started} ms)`);
  } catch (e) {
    failed++;
    results.push({ name, ok: false, error: String(e?.message ?? e) });
    const main = await page.textContent('main').catch(() => '');
    console.log(`FAIL ${name}: ${e?.stack ?? e}\n  at ${page.url()}\n  main: ${(main ?? '').replace(/\s+/g, ' ').slice(0, 400)}`);
  }
}
function assertEq(actual, wanted, what) {
  if (String(actual) !== String(wanted)) throw new Error(`${what}: page shows ${actual}, expected ${wanted}`);
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--no-first-run',
    '--disable-component-update',
    '--disable-sync',
    '--disable-quic',
  ],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: 'light' });
const page = await context.newPage();
const consoleErrors = [];
page.on('pageerror', (e) => consoleErrors.push(String(e)));

async function open(path) {
  await page.goto(`${base}${path}`, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('main h1', { timeout: 10_000 });
}
/** Nothing may stay blank or loading: every panel settles into data, empty or an error. */
async function settled() {
  await page.waitForFunction(() => document.querySelectorAll('[aria-busy="true"]').length === 0, null, { timeout: 15_000 });
  const text = (await page.textContent('main'))?.trim() ?? '';
  if (text.length < 10) throw new Error('main is blank');
}
async function shot(name, fullPage = true) {
  if (!shots) return;
  await page.waitForTimeout(250); // let the lazily loaded charts paint
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage });
}
async function kpiListens() {
  const el = await page.waitForSelector('[data-testid="kpi-listens"]', { timeout: 10_000 });
  return el.getAttribute('data-value');
}
/** A page whose endpoint is not on the server yet must say so, not go blank. */
async function saysMissing() {
  const alert = await page.waitForSelector('[role="alert"]', { timeout: 10_000 });
  const text = await alert.textContent();
  if (!/not available|404|Could not load/i.test(text ?? '')) throw new Error(`unexpected error text: ${text}`);
  return `endpoint missing, page shows: ${text.trim().slice(0, 80)}`;
}

await check('dashboard shows all-time KPIs that match the API', async () => {
  const t0 = Date.now();
  await open('/?range=all_time');
  if (!has('/api/v1/stats/kpis')) return saysMissing();
  assertEq(await kpiListens(), expect.total, 'all-time listens');
  const firstRender = Date.now() - t0;
  await settled();
  await shot('dashboard');
  return `first KPI render ${firstRender} ms`;
});

await check('recent listens show the newest seeded listen', async () => {
  await open('/?range=all_time');
  await page.waitForSelector('[data-testid="recent-listens"] li', { timeout: 10_000 });
  const first = await page.textContent('[data-testid="recent-listens"] li .title');
  assertEq(first?.trim(), expect.newest_title, 'newest title');
});

await check('the range picker changes the figures and the URL', async () => {
  await open('/?range=all_time');
  if (!has('/api/v1/stats/kpis')) return saysMissing();
  await kpiListens();
  for (const [range, wanted] of [['week', expect.week], ['month', expect.month], ['year', expect.year]]) {
    await page.click(`[data-range="${range}"]`);
    await page.waitForFunction((r) => location.search.includes(`range=${r}`), range);
    await page.waitForFunction(
      (w) => document.querySelector('[data-testid="kpi-listens"]')?.getAttribute('data-value') === String(w),
      wanted,
      { timeout: 10_000 },
    );
  }
  return `week ${expect.week}, month ${expect.month}, year ${expect.year}`;
});

await check('the user picker narrows to one user', async () => {
  await open('/?range=all_time');
  if (!has('/api/v1/stats/kpis')) return saysMissing();
  await page.waitForSelector(`select option[value="${expect.user}"]`, { state: 'attached', timeout: 10_000 });
  await page.selectOption('.toolbar select', expect.user);
  await page.waitForFunction((u) => location.search.includes(`user=${u}`), expect.user);
  await page.waitForFunction(
    (w) => document.querySelector('[data-testid="kpi-listens"]')?.getAttribute('data-value') === String(w),
    expect.user_total,
    { timeout: 10_000 },
  );
});

await check('a listen posted to the ingest API appears on the dashboard live within 2 s', async () => {
  if (!has('/api/v1/events')) return 'SKIPPED: /api/v1/events (server-sent events) is not on the server yet';
  await open('/?range=all_time');
  await page.waitForSelector('[data-testid="live-status"][data-status="live"]', { timeout: 10_000 });
  const title = `Live ${Date.now()}`;
  const posted = Date.now();
  const r = await fetch(`${base}/api/v1/scrobble`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user: expect.user, listened_at: new Date().toISOString().slice(0, 19) + 'Z', track: { title, album: 'Live Album' }, artists: [{ name: 'Live Artist', role: 'primary' }] }),
  });
  if (r.status !== 202) throw new Error(`scrobble answered ${r.status}`);
  await page.waitForFunction((t) => document.querySelector('[data-testid="recent-listens"]')?.textContent?.includes(t), title, { timeout: 2000 });
  return `visible after ${Date.now() - posted} ms`;
});

for (const kind of ['artists', 'albums', 'tracks', 'genres']) {
  await check(`${kind} list ranks like the API`, async () => {
    await open(`/${kind}?range=all_time`);
    if (!has(`/api/v1/stats/${kind}`)) return saysMissing();
    await page.waitForSelector('[data-testid="entity-table"] tbody tr', { timeout: 10_000 });
    const top = expect.top[kind];
    const name = await page.textContent('[data-testid="entity-table"] tbody tr:first-child td:nth-child(2)');
    const listens = await page.getAttribute('[data-testid="entity-table"] tbody tr:first-child [data-listens]', 'data-listens');
    assertEq(name?.trim(), top.name, `top ${kind}`);
    assertEq(listens, top.listens, `top ${kind} listens`);
    await settled();
    await shot(kind);
  });
}

await check('search filters the artists list', async () => {
  await open(`/artists?range=all_time`);
  if (!has('/api/v1/stats/artists')) return saysMissing();
  await page.fill('[data-testid="search"]', expect.search.artist_query);
  await page.waitForFunction(() => location.search.includes('q='));
  await page.waitForFunction(
    (n) => document.querySelectorAll('[data-testid="entity-table"] tbody tr').length === n,
    expect.search.artist_matches,
    { timeout: 10_000 },
  );
});

await check('artist detail shows its listens and first/last listen', async () => {
  await open(`/artists?range=all_time`);
  if (!has('/api/v1/stats/artists/{entity}') || !has('/api/v1/stats/artists')) return saysMissing();
  await page.click('[data-testid="entity-table"] tbody tr:first-child a');
  await page.waitForSelector('[data-testid="entity-name"]', { timeout: 10_000 });
  assertEq((await page.textContent('[data-testid="entity-name"]'))?.trim(), expect.top.artists.name, 'artist name');
  assertEq(await page.getAttribute('[data-testid="detail-listens"]', 'data-value'), expect.top.artists.listens, 'artist listens');
  await settled();
  await shot('artist-detail');
});

await check('history pages by cursor and filters by text', async () => {
  await open('/history?range=all_time');
  await page.waitForSelector('[data-testid="history-list"] li', { timeout: 10_000 });
  const firstPage = await page.locator('[data-testid="history-list"] > li').count();
  assertEq(firstPage, Math.min(50, expect.total), 'first page size');
  await shot('history');
  await page.fill('[data-testid="history-search"]', expect.search.history_query);
  await page.waitForFunction(
    (n) => document.querySelectorAll('[data-testid="history-list"] > li').length === n,
    Math.min(50, expect.search.history_matches),
    { timeout: 10_000 },
  );
});

await check('deleting a listen from history asks first, then removes it', async () => {
  await open('/history?range=all_time');
  await page.waitForSelector('[data-testid="history-list"] li', { timeout: 10_000 });
  const id = await page.getAttribute('[data-testid="history-list"] > li:first-child', 'data-listen-id');
  await page.click('[data-testid="history-list"] > li:first-child button.danger');
  await page.waitForSelector('dialog[open]');
  await page.click('[data-testid="confirm-delete"]');
  await page.waitForSelector('dialog:not([open])', { state: 'attached' });
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const r = await fetch(`${base}/api/v1/listens/${id}`);
    if (r.status === 404) return `listen ${id} gone`;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`listen ${id} still there after 5 s`);
});

await check('settings round-trip a config key', async () => {
  await open('/settings');
  await page.waitForSelector('[data-testid="config-form"] input[data-key="lms_source_name"]', { timeout: 10_000 });
  await shot('settings');
  const value = `lms-e2e-${Date.now() % 100000}`;
  await page.fill('input[data-key="lms_source_name"]', value);
  await page.click('[data-testid="config-form"] button[type="submit"]');
  await page.waitForSelector('[data-testid="config-saved"]', { timeout: 5000 });
  const deadline = Date.now() + 8000;
  while (Date.now() < deadline) {
    await open('/settings');
    const input = await page.waitForSelector('input[data-key="lms_source_name"]', { timeout: 10_000 });
    if ((await input.inputValue()) === value) return `lms_source_name=${value}`;
    await page.waitForTimeout(200);
  }
  throw new Error('the saved value did not come back');
});

for (const [name, path] of [['year-in-review', `/year/${expect.year_of_most}`], ['reports', '/reports?period=month'], ['status', '/status']]) {
  await check(`${name} renders (data or a clear error, never blank)`, async () => {
    await open(path);
    await settled();
    await shot(name);
    const alerts = await page.locator('[role="alert"]').allTextContents();
    return alerts.length ? `shows: ${alerts[0].trim().slice(0, 90)}` : 'data';
  });
}

await check('status: the stream panel, and no library panel on a server without the analyzer', async () => {
  await open('/status');
  await settled();
  await page.waitForSelector('[data-testid="status"]', { timeout: 10_000 });
  const analyzer = await fetch(`${base}/api/v1/analyzer/summary`);
  const panels = await page.locator('[data-testid="coverage"]').count();
  if (analyzer.status === 404 && panels) throw new Error('a library panel for an analyzer this server lacks');
  const position = (await page.locator('[data-testid="status-position"]').textContent())?.trim() ?? '';
  if (!/^\d[\d,]*$/.test(position)) throw new Error(`stream position shown as "${position}"`);
  return `analyzer ${analyzer.status}, library panels ${panels}, stream position ${position}`;
});

await check('dark theme and a phone-sized screen', async () => {
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark', deviceScaleFactor: 2 });
  const p = await phone.newPage();
  await p.goto(`${base}/?range=all_time`, { waitUntil: 'domcontentloaded' });
  await p.waitForSelector('main h1');
  await p.waitForFunction(() => document.querySelectorAll('[aria-busy="true"]').length === 0, null, { timeout: 15_000 });
  const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 2) throw new Error(`page is ${overflow}px wider than the phone`);
  if (shots) {
    await p.waitForTimeout(250);
    await p.screenshot({ path: `${shots}/dashboard-phone-dark.png`, fullPage: false });
  }
  await phone.close();
});

await check('no uncaught errors in the page', async () => {
  if (consoleErrors.length) throw new Error(consoleErrors.join('\n'));
});

await browser.close();
console.log(`${results.filter((r) => r.ok).length} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
