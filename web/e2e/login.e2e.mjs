#!/usr/bin/env node
// Browser test of the Parley portal: sign-in, calls table, sign-out, the
// Agents, Inventory and Conferences pages, and the Utilization and Quality
// dashboards (ECharts on canvas).
// Plain Node ESM (no test framework), driving Debian's Chromium with playwright-core.
//
// Environment:
//   PARLEY_URL       portal base URL, e.g. https://127.0.0.1:8443/ (required)
//   PARLEY_EMAIL     a user's e-mail (required)
//   PARLEY_PASSWORD  that user's password (required)
//   MIN_ROWS         rows the calls table must reach within 30 s (default 1;
//                    0 also accepts the "no calls yet" empty state)
//   MIN_REFUSED      refused records the Agents page's "Refused records" table
//                    must list (default 0: the table or its empty state)
//   MIN_STREAMS      quality streams the Quality page must report for the
//                    last 7 days (default 0: the table may show calls only)
//   PARTY            a party to find on the Calls page (optional), e.g. a
//                    phone number spelled otherwise than the records do
//   PARTY_ROWS       the rows that search must list (required with PARTY)
//   SCREENSHOT_DIR   where to write login.png, calls.png, calls-party.png,
//                    agents.png, inventory.png, conferences.png,
//                    utilization.png, quality.png (optional)
//   CHROMIUM         browser binary (default /usr/lib/chromium/chromium)
//
// Prints "e2e: N passed, M failed" last; exits 1 when any test failed.
import { Failure, check, fatal, noProblems, openPage as openPageWith, runTests, shotInto } from './lib.mjs';
import fs from 'node:fs';

const URL_ = process.env.PARLEY_URL;
const EMAIL = process.env.PARLEY_EMAIL;
const PASSWORD = process.env.PARLEY_PASSWORD;
const SHOTS = process.env.SCREENSHOT_DIR || '';
const MIN_ROWS = process.env.MIN_ROWS === undefined || process.env.MIN_ROWS === '' ? 1 : Number(process.env.MIN_ROWS);
const MIN_REFUSED = Number(process.env.MIN_REFUSED || 0);
const MIN_STREAMS = Number(process.env.MIN_STREAMS || 0);
const PARTY = process.env.PARTY || '';
const PARTY_ROWS = Number(process.env.PARTY_ROWS || 0);
const EXECUTABLE = process.env.CHROMIUM || '/usr/lib/chromium/chromium';
const ROWS_TIMEOUT_MS = 30_000;
const STEP_TIMEOUT_MS = 15_000;

if (!URL_ || !EMAIL || !PASSWORD) fatal('set PARLEY_URL, PARLEY_EMAIL and PARLEY_PASSWORD');
if (!Number.isInteger(MIN_ROWS) || MIN_ROWS < 0) fatal(`MIN_ROWS must be a non-negative integer, got "${process.env.MIN_ROWS}"`);
if (SHOTS) fs.mkdirSync(SHOTS, { recursive: true });

const openPage = (browser) => openPageWith(browser, { viewport: { width: 1440, height: 900 }, timeoutMs: STEP_TIMEOUT_MS });

const shot = (page, name, fullPage = true) => shotInto(SHOTS, page, name, fullPage);

async function signIn(page, email, password) {
  await page.goto(URL_, { waitUntil: 'domcontentloaded' });
  const emailBox = page.getByTestId('login-email');
  await emailBox.waitFor({ state: 'visible' }).catch(() => {
    throw new Failure('the login form (data-testid=login-email) did not appear');
  });
  await emailBox.fill(email);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
}

// The Calls page's party search: PARTY lists exactly PARTY_ROWS calls; a
// value that is no party shows an error and keeps the list; "Show all calls"
// brings every call back.
async function findParty(page, allRows) {
  const rows = page.getByTestId('calls-table').getByTestId('calls-row');
  await page.getByTestId('party-input').fill(PARTY);
  await page.getByTestId('party-find').click();
  await page.getByTestId('party-clear').waitFor({ state: 'visible' }).catch(() => {
    throw new Failure(`searching "${PARTY}" showed no result (data-testid=party-clear)`);
  });
  const subtitle = (await page.getByTestId('calls-subtitle').innerText()).trim();
  check(subtitle.startsWith(`Calls of ${PARTY}`), `the subtitle after a search is "${subtitle}"`);
  const found = await rows.count();
  check(found === PARTY_ROWS, `searching "${PARTY}" listed ${found} calls, expected ${PARTY_ROWS}`);
  console.log(`   party "${PARTY}": ${found} calls (${subtitle})`);
  await shot(page, 'calls-party.png');

  await page.getByTestId('party-input').fill('no such party');
  await page.getByTestId('party-find').click();
  const error = page.getByTestId('party-error');
  await error.waitFor({ state: 'visible' }).catch(() => {
    throw new Failure('a value that is no party showed no error (data-testid=party-error)');
  });
  console.log(`   refused: "${(await error.innerText()).trim()}"`);
  check((await rows.count()) === found, 'a refused search changed the list');

  await page.getByTestId('party-clear').click();
  await page.getByTestId('party-clear').waitFor({ state: 'detached' });
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while ((await rows.count()) < allRows) {
    if (Date.now() > deadline) throw new Failure(`"Show all calls" listed ${await rows.count()} rows, expected ${allRows}`);
    await page.waitForTimeout(200);
  }
}

const tests = [
  {
    name: 'wrong password shows an error',
    async run(browser) {
      const { context, page, problems } = await openPage(browser);
      try {
        await signIn(page, EMAIL, `${PASSWORD}-wrong`);
        const err = page.getByTestId('login-error');
        await err.waitFor({ state: 'visible' }).catch(() => {
          throw new Failure('no error (data-testid=login-error) after a wrong password');
        });
        const text = (await err.innerText()).trim();
        check(text.length > 0, 'the login error is empty');
        console.log(`   error shown: "${text}"`);
        check(await page.getByTestId('login-email').isVisible(), 'the login form went away after a wrong password');
        check((await page.getByTestId('calls-table').count()) === 0, 'the calls table is shown after a wrong password');
        await shot(page, 'login.png');
        noProblems(problems);
      } finally {
        await context.close();
      }
    },
  },
  {
    name: 'sign in, see calls, sign out',
    async run(browser) {
      const { context, page, problems } = await openPage(browser);
      try {
        await signIn(page, EMAIL, PASSWORD);
        const loginError = page.getByTestId('login-error');
        const tenant = page.getByTestId('tenant-name');
        await Promise.race([
          tenant.waitFor({ state: 'visible' }),
          loginError.waitFor({ state: 'visible' }).then(async () => {
            throw new Failure(`sign-in failed: "${(await loginError.innerText()).trim()}"`);
          }),
        ]).catch((e) => {
          if (e instanceof Failure) throw e;
          throw new Failure('the app shell (data-testid=tenant-name) did not appear after signing in');
        });
        const tenantName = (await tenant.innerText()).trim();
        check(tenantName.length > 0, 'the tenant name is empty');
        console.log(`   tenant: "${tenantName}"`);

        const rows = page.getByTestId('calls-table').getByTestId('calls-row');
        const deadline = Date.now() + ROWS_TIMEOUT_MS;
        let n = 0;
        for (;;) {
          n = await rows.count();
          if (n >= MIN_ROWS && n > 0) break;
          if (MIN_ROWS === 0 && (await page.getByTestId('calls-empty').count()) > 0) break;
          const failed = page.getByTestId('calls-error');
          if ((await failed.count()) > 0) throw new Failure(`the calls page shows an error: "${(await failed.innerText()).trim()}"`);
          if (Date.now() > deadline) {
            throw new Failure(`calls table has ${n} rows after ${ROWS_TIMEOUT_MS / 1000} s, expected at least ${MIN_ROWS}`);
          }
          await page.waitForTimeout(500);
        }
        console.log(`   calls rows: ${n}`);
        await shot(page, 'calls.png');
        noProblems(problems);
        if (PARTY) await findParty(page, n);

        await page.getByTestId('signout').click();
        await page.getByTestId('login-email').waitFor({ state: 'visible' }).catch(() => {
          throw new Failure('the login form did not come back after signing out');
        });
        // The session must really be gone: a reload shows the login form, not the app.
        await page.reload({ waitUntil: 'domcontentloaded' });
        await page.getByTestId('login-email').waitFor({ state: 'visible' }).catch(() => {
          throw new Failure('after sign-out and reload the login form is not shown (session still alive?)');
        });
        check((await page.getByTestId('tenant-name').count()) === 0, 'the app shell is shown after sign-out and reload');
        noProblems(problems);
      } finally {
        await context.close();
      }
    },
  },
  {
    name: 'agents, inventory and conferences pages',
    async run(browser) {
      const { context, page, problems } = await openPage(browser);
      try {
        await signIn(page, EMAIL, PASSWORD);
        await page.getByTestId('tenant-name').waitFor({ state: 'visible' }).catch(() => {
          throw new Failure('the app shell (data-testid=tenant-name) did not appear after signing in');
        });

        // Agents & sources: at least one agent online with a source "ok".
        await page.getByTestId('nav-agents').click();
        check(new URL(page.url()).pathname === '/agents', `the Agents link went to ${page.url()}, expected /agents`);
        await waitForTable(page, 'agents-table', 'agents');
        const onlineWithOk = page
          .getByTestId('agent-row')
          .filter({ has: page.locator('[data-testid="agent-state"]', { hasText: 'Online' }) })
          .filter({ has: page.locator('[data-testid="agent-source"][data-status="ok"]') });
        const deadline = Date.now() + ROWS_TIMEOUT_MS;
        while ((await onlineWithOk.count()) === 0) {
          if (Date.now() > deadline) {
            const text = (await page.getByTestId('agents-table').innerText()).replace(/\s+/g, ' ').slice(0, 400);
            throw new Failure(`no agent is online with a source "ok" after ${ROWS_TIMEOUT_MS / 1000} s: ${text}`);
          }
          await page.waitForTimeout(1000);
        }
        const firstAgent = (await onlineWithOk.first().innerText()).replace(/\s+/g, ' ').trim();
        console.log(`   agent: ${firstAgent.slice(0, 160)}`);
        check((await page.getByTestId('health-caption').count()) === 1, 'the source-health caption is missing');
        // Refused records (tenant admins): the table, or its empty state.
        const refused = page.getByTestId('quarantine-row');
        await page
          .locator('[data-testid="quarantine-table"], [data-testid="quarantine-empty"]')
          .first()
          .waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS })
          .catch(() => {
            throw new Failure('the "Refused records" card (quarantine-table or quarantine-empty) did not appear');
          });
        const refusedRows = await refused.count();
        check(refusedRows >= MIN_REFUSED, `"Refused records" lists ${refusedRows} group(s), expected at least ${MIN_REFUSED}`);
        if (refusedRows > 0) console.log(`   refused: ${(await refused.first().innerText()).replace(/\s+/g, ' ').trim()}`);
        await shot(page, 'agents.png');

        // Audit log (tenant admins): this sign-in is among the newest entries.
        await page.getByTestId('nav-audit').click();
        check(new URL(page.url()).pathname === '/settings/audit', `the Audit log link went to ${page.url()}`);
        await waitForTable(page, 'audit-table', 'audit');
        const auditText = (await page.getByTestId('audit-table').innerText()).replace(/\s+/g, ' ');
        check(auditText.includes('auth.login'), 'the audit log does not show the sign-in (auth.login)');
        check(!auditText.includes(EMAIL), 'the audit log shows an e-mail address');
        check((await page.getByTestId('audit-download').getAttribute('href')) === '/api/v1/audit/export', 'no download link');
        await shot(page, 'audit.png');

        // Inventory: the devices table (or its empty state) and the filter box.
        await page.getByTestId('nav-inventory').click();
        check(new URL(page.url()).pathname === '/inventory', `the Inventory link went to ${page.url()}, expected /inventory`);
        const devices = await waitForTable(page, 'devices-table', 'devices');
        if (devices > 0) {
          const filter = page.getByTestId('devices-filter');
          await filter.fill('zz-no-such-device-zz');
          await page.getByTestId('devices-no-match').waitFor({ state: 'visible' }).catch(() => {
            throw new Failure('filtering the devices by a nonsense word did not show the "no match" state');
          });
          await filter.fill('');
          await page.getByTestId('devices-table').waitFor({ state: 'visible' });
        }
        console.log(`   devices rows: ${devices}`);
        await shot(page, 'inventory.png');

        // Conferences: the table (or its empty state); expand the first row.
        await page.getByTestId('nav-conferences').click();
        check(new URL(page.url()).pathname === '/conferences', `the Conferences link went to ${page.url()}, expected /conferences`);
        const confs = await waitForTable(page, 'conferences-table', 'conferences');
        if (confs > 0) {
          await page.getByTestId('conference-toggle').first().click();
          await page.getByTestId('conference-detail').first().waitFor({ state: 'visible' }).catch(() => {
            throw new Failure('expanding a conference did not show its participants');
          });
        }
        console.log(`   conferences rows: ${confs}`);
        await shot(page, 'conferences.png');

        // A deep link survives a reload (the server answers index.html).
        await page.reload({ waitUntil: 'domcontentloaded' });
        await page.getByTestId('nav-conferences').waitFor({ state: 'visible' });
        check(
          (await page.getByTestId('nav-conferences').getAttribute('aria-current')) === 'page',
          'after a reload of /conferences the Conferences page is not the current one',
        );
        // Back goes to the previous page through the history API.
        await page.goBack();
        await page.getByTestId('devices-table').or(page.getByTestId('devices-empty')).first().waitFor({ state: 'visible' });
        noProblems(problems);
      } finally {
        await context.close();
      }
    },
  },
  {
    name: 'utilization and quality dashboards',
    async run(browser) {
      const { context, page, problems } = await openPage(browser);
      try {
        await signIn(page, EMAIL, PASSWORD);
        await page.getByTestId('tenant-name').waitFor({ state: 'visible' }).catch(() => {
          throw new Failure('the app shell (data-testid=tenant-name) did not appear after signing in');
        });
        check((await page.locator('.badge-soon').count()) === 0, 'a "soon" badge is still shown in the navigation');

        // Utilization: KPIs and three charts drawn on canvas, last 7 days.
        await page.getByTestId('nav-utilization').click();
        check(new URL(page.url()).pathname === '/utilization', `the Utilization link went to ${page.url()}`);
        await waitForChart(page, 'chart-calls', 'usage').catch(async (e) => {
          await shot(page, 'utilization-failed.png');
          throw e;
        });
        await waitForChart(page, 'chart-peak', 'usage');
        await waitForChart(page, 'chart-minutes', 'usage');
        const calls = await kpiNumber(page, 'kpi-calls');
        const peak = await kpiNumber(page, 'kpi-peak');
        check(calls > 0, `Utilization shows ${calls} calls for the last 7 days`);
        check(peak > 0, `Utilization shows a peak concurrency of ${peak}`);
        const busiest = (await page.getByTestId('kpi-busiest').innerText()).replace(/\s+/g, ' ').trim();
        console.log(`   utilization (7 days): ${calls} calls, peak ${peak} at once; ${busiest}`);
        await shot(page, 'utilization.png');
        // 30 days: at least as many calls; then hourly; then one source.
        await page.getByTestId('range-30').click();
        await page.waitForFunction(() => document.querySelector('[data-testid="range-30"]')?.getAttribute('aria-pressed') === 'true');
        await waitForSettled(page);
        const calls30 = await kpiNumber(page, 'kpi-calls');
        check(calls30 >= calls, `30 days show ${calls30} calls, fewer than the ${calls} of 7 days`);
        await page.getByTestId('range-7').click();
        await page.getByTestId('grain-hour').click();
        await waitForSettled(page);
        await waitForChart(page, 'chart-calls', 'usage');
        check((await kpiNumber(page, 'kpi-calls')) === calls, 'hourly and daily views of 7 days disagree on the calls');
        const sources = await page.getByTestId('source-filter').locator('option').evaluateAll((o) => o.map((x) => x.value).filter(Boolean));
        check(sources.length > 0, 'the source filter lists no source');
        await page.getByTestId('source-filter').selectOption(sources[0]);
        await waitForSettled(page);
        const perSource = await kpiNumber(page, 'kpi-calls');
        check(perSource > 0 && perSource <= calls, `source ${sources[0]} shows ${perSource} calls (all: ${calls})`);
        console.log(`   30 days: ${calls30} calls; source ${sources[0]}: ${perSource} calls`);

        // Quality: KPIs, the poor-streams chart and the per-site table.
        await page.getByTestId('nav-quality').click();
        check(new URL(page.url()).pathname === '/quality', `the Quality link went to ${page.url()}`);
        const rows = await waitForTable(page, 'quality-table', 'quality');
        check(rows > 0, 'the Quality table has no row for the last 7 days');
        const streams = await kpiNumber(page, 'kpi-streams');
        check(streams >= MIN_STREAMS, `Quality reports ${streams} streams, expected at least ${MIN_STREAMS}`);
        if (MIN_STREAMS > 0) {
          await waitForChart(page, 'chart-poor', 'quality');
          const pills = await page.getByTestId('poor-pill').allInnerTexts();
          check(pills.some((p) => /%/.test(p)), `no poor-stream share in the table: ${pills.join(', ')}`);
        }
        const first = (await page.getByTestId('quality-row').first().innerText()).replace(/\s+/g, ' ').trim();
        console.log(`   quality: ${rows} sites, ${streams} streams; ${first}`);
        await shot(page, 'quality.png');
        await page.getByTestId('dimension-model').click();
        await waitForSettled(page);
        check((await waitForTable(page, 'quality-table', 'quality')) > 0, 'the Quality table by device model is empty');
        noProblems(problems);
      } finally {
        await context.close();
      }
    },
  },
];

/**
 * Waits for `${testId}` rows (or the page's empty state); fails on its error
 * state. Returns the number of rows (0 = empty state).
 */
async function waitForTable(page, testId, what) {
  const table = page.getByTestId(testId);
  const empty = page.getByTestId(`${what}-empty`);
  const error = page.getByTestId(`${what}-error`);
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  for (;;) {
    if ((await table.count()) > 0) return table.locator('tbody > tr[data-testid]').count();
    if ((await empty.count()) > 0) return 0;
    if ((await error.count()) > 0) throw new Failure(`the ${what} page shows an error: "${(await error.innerText()).trim()}"`);
    if (Date.now() > deadline) throw new Failure(`neither ${testId} nor ${what}-empty appeared within ${STEP_TIMEOUT_MS / 1000} s`);
    await page.waitForTimeout(250);
  }
}

/** Waits for an ECharts canvas under data-testid=`testId` that has drawn something. */
async function waitForChart(page, testId, what) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  for (;;) {
    const error = page.getByTestId(`${what}-error`);
    if ((await error.count()) > 0) throw new Failure(`the ${what} page shows an error: "${(await error.innerText()).trim()}"`);
    const drawn = await page
      .locator(`[data-testid="${testId}"] canvas`)
      .first()
      .evaluate((c) => {
        const ctx = c.getContext('2d');
        if (!ctx || c.width === 0 || c.height === 0) return 0;
        const px = ctx.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < px.length; i += 16) if (px[i] !== 0) n++;
        return n;
      })
      .catch(() => 0);
    if (drawn > 50) return;
    if (Date.now() > deadline) throw new Failure(`the chart ${testId} was not drawn within ${STEP_TIMEOUT_MS / 1000} s`);
    await page.waitForTimeout(250);
  }
}

/** The number a KPI tile shows ("1,234" → 1234); NaN for "—". */
async function kpiNumber(page, testId) {
  const text = await page.getByTestId(testId).locator('.kpi-value').innerText();
  return Number(text.replace(/[^0-9.]/g, '') || NaN);
}

/** Waits until no dashboard request is in flight (the title's spinner is gone). */
async function waitForSettled(page) {
  await page.waitForTimeout(100);
  await page.locator('.page-title .spinner-inline').waitFor({ state: 'detached', timeout: STEP_TIMEOUT_MS });
}

await runTests(tests, EXECUTABLE);
