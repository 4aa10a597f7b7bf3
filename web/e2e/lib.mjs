// What every browser test script shares: failures, page set-up that records
// CSP violations and page errors, screenshots, and the runner that launches
// Debian's Chromium, runs the tests in order and prints
// "e2e: N passed, M failed" last (the Python wrappers assert that line).
import { chromium } from 'playwright-core';
import path from 'node:path';

export class Failure extends Error {}

export function check(cond, msg) {
  if (!cond) throw new Failure(msg);
}

/** Ends the script before any test ran (bad environment, no browser). */
export function fatal(msg) {
  console.error(`e2e: ${msg}`);
  console.log('e2e: 0 passed, 1 failed');
  process.exit(1);
}

/**
 * A fresh context + page that records CSP violations and page errors.
 * `tagUrl` prefixes each CSP report with the page's URL (for flows that cross sites).
 */
export async function openPage(browser, { viewport, timeoutMs, tagUrl = false }) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(timeoutMs);
  const problems = { csp: [], errors: [] };
  page.on('console', (m) => {
    const text = m.text();
    if (/Content Security Policy/i.test(text)) problems.csp.push(tagUrl ? `${page.url()}: ${text}` : text);
  });
  page.on('pageerror', (e) => problems.errors.push(String(e && e.message ? e.message : e)));
  return { context, page, problems };
}

/** Writes a screenshot into `dir` (nothing when `dir` is empty). */
export async function shotInto(dir, page, name, fullPage = true) {
  if (!dir) return;
  const file = path.join(dir, name);
  await page.screenshot({ path: file, fullPage });
  console.log(`   screenshot: ${file}`);
}

export function noProblems(problems) {
  check(problems.csp.length === 0, `Content Security Policy violations reported:\n  ${problems.csp.join('\n  ')}`);
  check(problems.errors.length === 0, `uncaught page errors:\n  ${problems.errors.join('\n  ')}`);
}

/** Launches Chromium at `executable`, runs each {name, run(browser)} in order, reports, exits. */
export async function runTests(tests, executable) {
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: executable,
      args: [
        '--no-sandbox',
        '--headless',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  } catch (e) {
    fatal(`cannot launch Chromium at ${executable}: ${e && e.message ? e.message : e}`);
  }
  let passed = 0;
  let failed = 0;
  for (const t of tests) {
    const started = Date.now();
    try {
      await t.run(browser);
      passed++;
      console.log(`ok   - ${t.name} (${Date.now() - started} ms)`);
    } catch (e) {
      failed++;
      const msg = e instanceof Failure ? e.message : e && e.stack ? e.stack : String(e);
      console.log(`FAIL - ${t.name} (${Date.now() - started} ms)\n   ${msg}`);
    }
  }
  await browser.close().catch(() => {});
  console.log(`e2e: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}
