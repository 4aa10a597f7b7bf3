#!/usr/bin/env node
// Browser test of self-registration and password reset through the portal's
// pages, with the demo's mail outbox: "Create account" → the link in the
// .eml file → choose a password (a common one is refused first) → sign in;
// then "Forgot password?" → the reset link → new password → sign in.
// Plain Node ESM driving Debian's Chromium with playwright-core, like login.e2e.mjs.
//
// Environment:
//   PARLEY_URL      portal base URL, e.g. https://127.0.0.1:8443/ (required)
//   OUTBOX_DIR      the server's mail.outbox_dir (required)
//   NEW_EMAIL       the address to register (required; its domain must be a tenant's)
//   SCREENSHOT_DIR  where to write register-*.png (optional)
//   CHROMIUM        browser binary (default /usr/lib/chromium/chromium)
//
// Prints "e2e: N passed, M failed" last; exits 1 when any test failed.
import { Failure, check, fatal, noProblems, openPage as openPageWith, runTests, shotInto } from './lib.mjs';
import fs from 'node:fs';
import path from 'node:path';

const URL_ = process.env.PARLEY_URL;
const OUTBOX = process.env.OUTBOX_DIR;
const NEW_EMAIL = process.env.NEW_EMAIL;
const SHOTS = process.env.SCREENSHOT_DIR || '';
const EXECUTABLE = process.env.CHROMIUM || '/usr/lib/chromium/chromium';
const STEP_TIMEOUT_MS = 15_000;
const FIRST_PASSWORD = 'lantern orchard pebble 31';
const SECOND_PASSWORD = 'saffron glacier kettle 58';

if (!URL_ || !OUTBOX || !NEW_EMAIL) fatal('set PARLEY_URL, OUTBOX_DIR and NEW_EMAIL');
if (SHOTS) fs.mkdirSync(SHOTS, { recursive: true });

const openPage = (browser) => openPageWith(browser, { viewport: { width: 1280, height: 860 }, timeoutMs: STEP_TIMEOUT_MS });

const shot = (page, name, fullPage = true) => shotInto(SHOTS, page, name, fullPage);

async function visible(page, testId, what) {
  await page.getByTestId(testId).waitFor({ state: 'visible' }).catch(() => {
    throw new Failure(`${what} (data-testid=${testId}) did not appear`);
  });
}

/** Waits for a new .eml in the outbox addressed to `to` and returns the link to `pagePath` in it. */
async function linkFromOutbox(seen, to, pagePath) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const files = fs.existsSync(OUTBOX) ? fs.readdirSync(OUTBOX).filter((f) => f.endsWith('.eml')).sort() : [];
    for (const f of files) {
      if (seen.has(f)) continue;
      const file = path.join(OUTBOX, f);
      const text = fs.readFileSync(file, 'utf8');
      if (!new RegExp(`^To: ${to.replace(/[.]/g, '\\.')}\\r?$`, 'm').test(text)) continue;
      seen.add(f);
      const mode = fs.statSync(file).mode & 0o777;
      check(mode === 0o600, `${f} has mode ${mode.toString(8)}, expected 600`);
      for (const h of ['Date', 'Message-ID', 'From', 'Subject']) check(new RegExp(`^${h}: `, 'm').test(text), `${f} has no ${h} header`);
      const m = text.match(new RegExp(`(https://\\S+${pagePath}#token=[A-Za-z0-9_-]{43})`));
      check(m, `${f} has no ${pagePath} link:\n${text}`);
      console.log(`   mail: ${f}`);
      return m[1];
    }
    if (Date.now() > deadline) throw new Failure(`no mail to ${to} with a ${pagePath} link in ${OUTBOX} within 30 s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function signIn(page, email, password) {
  await page.goto(URL_, { waitUntil: 'domcontentloaded' });
  await visible(page, 'login-email', 'the login form');
  await page.getByTestId('login-email').fill(email);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await visible(page, 'tenant-name', 'the app shell after signing in');
}

async function choosePassword(page, password) {
  await page.getByTestId('new-password').fill(password);
  await page.getByTestId('confirm-password').fill(password);
  await page.getByTestId('password-submit').click();
}

const seen = new Set();

const tests = [
  {
    name: 'register via the e-mail link, choose a password, sign in',
    async run(browser) {
      const { context, page, problems } = await openPage(browser);
      try {
        await page.goto(URL_, { waitUntil: 'domcontentloaded' });
        await visible(page, 'create-account', 'the "Create account" link');
        await page.getByTestId('create-account').click();
        check(new URL(page.url()).pathname === '/register', `"Create account" went to ${page.url()}`);
        await visible(page, 'outbox-note', 'the demo outbox note');
        const note = await page.getByTestId('outbox-note').innerText();
        check(note.includes(OUTBOX), `the outbox note does not name ${OUTBOX}: "${note}"`);
        await page.getByTestId('account-email').fill(NEW_EMAIL);
        await page.getByTestId('account-submit').click();
        await visible(page, 'link-sent', 'the "message is on its way" answer');
        await shot(page, 'register-requested.png');

        const link = await linkFromOutbox(seen, NEW_EMAIL, '/verify');
        await page.goto(link, { waitUntil: 'domcontentloaded' });
        await visible(page, 'new-password', 'the choose-password form');
        check(!page.url().includes('token='), 'the token stays in the address bar after the page read it');
        await choosePassword(page, 'Password2024!');
        await visible(page, 'account-error', 'the refusal of a common password');
        const refusal = await page.getByTestId('account-error').innerText();
        check(/common/i.test(refusal), `unexpected refusal: "${refusal}"`);
        console.log(`   refused: "${refusal.trim()}"`);
        await shot(page, 'register-refused.png');
        await choosePassword(page, FIRST_PASSWORD);
        await visible(page, 'password-set', 'the "account active" message');
        await shot(page, 'register-done.png');

        // The link works once. (From another page: a change of fragment alone would not load the page.)
        await page.goto('about:blank');
        await page.goto(link, { waitUntil: 'domcontentloaded' });
        await choosePassword(page, FIRST_PASSWORD);
        await visible(page, 'account-error', 'the error for a used link');
        const used = await page.getByTestId('account-error').innerText();
        check(/already been used/.test(used), `second use: "${used}"`);
        await visible(page, 'ask-again', 'the "ask for a new link" link');

        await signIn(page, NEW_EMAIL, FIRST_PASSWORD);
        await shot(page, 'register-signed-in.png');
        noProblems(problems);
      } finally {
        await context.close();
      }
    },
  },
  {
    name: 'forgot password: reset link, new password, sign in',
    async run(browser) {
      const { context, page, problems } = await openPage(browser);
      try {
        await page.goto(URL_, { waitUntil: 'domcontentloaded' });
        await visible(page, 'forgot-password', 'the "Forgot password?" link');
        await page.getByTestId('forgot-password').click();
        await page.getByTestId('account-email').fill(NEW_EMAIL);
        await page.getByTestId('account-submit').click();
        await visible(page, 'link-sent', 'the "message is on its way" answer');
        const link = await linkFromOutbox(seen, NEW_EMAIL, '/reset-password');
        await page.goto(link, { waitUntil: 'domcontentloaded' });
        await choosePassword(page, SECOND_PASSWORD);
        await visible(page, 'password-set', 'the "password changed" message');
        await shot(page, 'reset-done.png');
        await page.getByTestId('go-sign-in').click();
        await visible(page, 'login-email', 'the login form');
        await page.getByTestId('login-email').fill(NEW_EMAIL);
        await page.getByTestId('login-password').fill(FIRST_PASSWORD);
        await page.getByTestId('login-submit').click();
        await visible(page, 'login-error', 'the refusal of the old password');
        await signIn(page, NEW_EMAIL, SECOND_PASSWORD);
        noProblems(problems);
      } finally {
        await context.close();
      }
    },
  },
];

await runTests(tests, EXECUTABLE);
