#!/usr/bin/env node
// Browser test of sign-in hardening and the platform admin's portal:
//  1. a tenant user signs in, turns on two-factor authentication (the TOTP
//     code is computed here with node:crypto, RFC 6238), signs out, signs in
//     again with password + code, and signs out everywhere;
//  2. the platform admin signs in, lands on Tenants (never on tenant data),
//     creates a tenant and sees it in the list, then opens Agents health.
// Plain Node ESM (no test framework), Debian's Chromium via playwright-core.
//
// Environment:
//   PARLEY_URL                        portal base URL (required)
//   PARLEY_EMAIL, PARLEY_PASSWORD     a local tenant user without 2FA (required)
//   PARLEY_PLATFORM_EMAIL, PARLEY_PLATFORM_PASSWORD   a platform admin (required)
//   SCREENSHOT_DIR                    where to write the screenshots (optional)
//   CHROMIUM                          browser binary (default /usr/lib/chromium/chromium)
//
// Prints "e2e: N passed, M failed" last; exits 1 when any test failed.
import { Failure, check, fatal, noProblems, openPage as openPageWith, runTests, shotInto } from './lib.mjs';
import crypto from 'node:crypto';
import fs from 'node:fs';

const URL_ = process.env.PARLEY_URL;
const EMAIL = process.env.PARLEY_EMAIL;
const PASSWORD = process.env.PARLEY_PASSWORD;
const P_EMAIL = process.env.PARLEY_PLATFORM_EMAIL;
const P_PASSWORD = process.env.PARLEY_PLATFORM_PASSWORD;
const SHOTS = process.env.SCREENSHOT_DIR || '';
const EXECUTABLE = process.env.CHROMIUM || '/usr/lib/chromium/chromium';
const STEP_TIMEOUT_MS = 15_000;

if (!URL_ || !EMAIL || !PASSWORD || !P_EMAIL || !P_PASSWORD)
  fatal('set PARLEY_URL, PARLEY_EMAIL, PARLEY_PASSWORD, PARLEY_PLATFORM_EMAIL and PARLEY_PLATFORM_PASSWORD');
if (SHOTS) fs.mkdirSync(SHOTS, { recursive: true });

/** RFC 4648 base32 → bytes. */
function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of text.replace(/[\s=]/g, '').toUpperCase()) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Failure(`not base32: ${text}`);
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 6238 TOTP: HMAC-SHA-1, 30 s steps, 6 digits. */
function totp(secret, unixSeconds) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSeconds / 30)));
  const mac = crypto.createHmac('sha1', secret).update(counter).digest();
  const offset = mac[19] & 0x0f;
  const bin = ((mac[offset] & 0x7f) << 24) | (mac[offset + 1] << 16) | (mac[offset + 2] << 8) | mac[offset + 3];
  return String(bin % 1_000_000).padStart(6, '0');
}

/** A code of a 30-s step not used before (each code works once): waits for the next step if needed. */
async function freshCode(secret, usedSteps) {
  for (;;) {
    const now = Date.now() / 1000;
    const step = Math.floor(now / 30);
    if (!usedSteps.has(step) && now % 30 < 27) {
      usedSteps.add(step);
      return totp(secret, now);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

const openPage = (browser) => openPageWith(browser, { viewport: { width: 1440, height: 900 }, timeoutMs: STEP_TIMEOUT_MS });

const shot = (page, name, fullPage = true) => shotInto(SHOTS, page, name, fullPage);

async function visible(locator, what) {
  await locator.waitFor({ state: 'visible' }).catch(() => {
    throw new Failure(`${what} did not appear`);
  });
}

async function signInWithPassword(page, email, password) {
  await page.goto(URL_, { waitUntil: 'domcontentloaded' });
  await visible(page.getByTestId('login-email'), 'the login form');
  await page.getByTestId('login-email').fill(email);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
}

async function expectSignedIn(page) {
  const err = page.getByTestId('login-error');
  await Promise.race([
    page.getByTestId('tenant-name').waitFor({ state: 'visible' }),
    err.waitFor({ state: 'visible' }).then(async () => {
      throw new Failure(`sign-in failed: "${(await err.innerText()).trim()}"`);
    }),
  ]).catch((e) => {
    if (e instanceof Failure) throw e;
    throw new Failure('the app shell did not appear after signing in');
  });
}

async function signOut(page) {
  await page.getByTestId('signout').click();
  await visible(page.getByTestId('login-email'), 'the login form after signing out');
}

const tests = [
  {
    name: 'two-factor enrolment, sign-in with a code, sign out everywhere',
    async run(browser) {
      const { context, page, problems } = await openPage(browser);
      const used = new Set();
      try {
        await signInWithPassword(page, EMAIL, PASSWORD);
        await expectSignedIn(page);

        // Account & security → set up two-factor authentication.
        await page.getByTestId('user-menu').click();
        check(new URL(page.url()).pathname === '/account', `the user menu went to ${page.url()}`);
        await visible(page.getByTestId('totp-setup'), 'the "Set up two-factor authentication" button');
        check((await page.getByTestId('totp-status').innerText()).trim() === 'Off', 'two-factor authentication is not shown as off');
        await page.getByTestId('totp-setup').click();
        await page.getByTestId('totp-password').fill(PASSWORD);
        await page.getByTestId('totp-continue').click();
        await visible(page.getByTestId('totp-qr'), 'the QR code');
        const secretText = (await page.getByTestId('totp-secret').innerText()).trim();
        const uri = (await page.getByTestId('totp-uri').textContent()).trim();
        check(uri.startsWith('otpauth://totp/Parley:'), `the setup link is not an otpauth URI: ${uri}`);
        check(uri.includes(`secret=${secretText.replace(/\s+/g, '')}`), 'the shown key and the URI disagree');
        const secret = base32Decode(secretText);
        check(secret.length === 20, `the secret has ${secret.length} bytes, expected 20`);
        console.log(`   secret shown: ${secretText.slice(0, 4)}… (${secret.length} bytes); QR rendered`);
        await shot(page, 'account-2fa-setup.png');

        // A wrong code is refused; the right one turns the factor on.
        await page.getByTestId('totp-code').fill('000000');
        await page.getByTestId('totp-confirm').click();
        await visible(page.getByTestId('totp-error'), 'the error for a wrong code');
        await page.getByTestId('totp-code').fill(await freshCode(secret, used));
        await page.getByTestId('totp-confirm').click();
        await page.getByTestId('totp-status').filter({ hasText: 'On' }).waitFor({ state: 'visible' }).catch(() => {
          throw new Failure('two-factor authentication did not turn on');
        });
        await shot(page, 'account-2fa-on.png');
        noProblems(problems);

        // Sign out; signing in now takes a second step.
        await signOut(page);
        await signInWithPassword(page, EMAIL, PASSWORD);
        await visible(page.getByTestId('login-totp'), 'the code step of the sign-in');
        await shot(page, 'login-2fa.png');
        await page.getByTestId('login-totp').fill(await freshCode(secret, used));
        await page.getByTestId('login-totp-submit').click();
        await expectSignedIn(page);
        console.log('   signed in with password + TOTP');

        // Sign out everywhere: a second browser session of the same user ends too.
        const other = await browser.newContext({ ignoreHTTPSErrors: true });
        const otherPage = await other.newPage();
        otherPage.setDefaultTimeout(STEP_TIMEOUT_MS);
        await signInWithPassword(otherPage, EMAIL, PASSWORD);
        await visible(otherPage.getByTestId('login-totp'), 'the code step in the second browser');
        await otherPage.getByTestId('login-totp').fill(await freshCode(secret, used));
        await otherPage.getByTestId('login-totp-submit').click();
        await expectSignedIn(otherPage);

        await page.goto(new URL('/account', URL_).href, { waitUntil: 'domcontentloaded' });
        await visible(page.getByTestId('logout-all'), 'the "Sign out everywhere" button');
        await page.getByTestId('logout-all').click();
        await page.getByTestId('logout-all-confirm').click();
        await visible(page.getByTestId('login-email'), 'the login form after signing out everywhere');
        await otherPage.reload({ waitUntil: 'domcontentloaded' });
        await visible(otherPage.getByTestId('login-email'), 'the login form in the second browser (its session should be gone)');
        await other.close();
        console.log('   signed out everywhere: both browsers are signed out');

        // Leave the account as it was: turn the factor off again.
        await signInWithPassword(page, EMAIL, PASSWORD);
        await page.getByTestId('login-totp').fill(await freshCode(secret, used));
        await page.getByTestId('login-totp-submit').click();
        await expectSignedIn(page);
        await page.getByTestId('user-menu').click();
        await page.getByTestId('totp-disable').click();
        await page.locator('[data-testid="totp-card"] input[type="password"]').fill(PASSWORD);
        await page.locator('[data-testid="totp-card"] input[autocomplete="one-time-code"]').fill(await freshCode(secret, used));
        await page.locator('[data-testid="totp-card"] button[type="submit"]').click();
        await page.getByTestId('totp-status').filter({ hasText: 'Off' }).waitFor({ state: 'visible' }).catch(() => {
          throw new Failure('two-factor authentication did not turn off');
        });
        noProblems(problems);
      } finally {
        await context.close();
      }
    },
  },
  {
    name: 'platform admin creates a tenant and sees agents health',
    async run(browser) {
      const { context, page, problems } = await openPage(browser);
      try {
        await signInWithPassword(page, P_EMAIL, P_PASSWORD);
        await expectSignedIn(page);
        await visible(page.getByTestId('tenants-table').or(page.getByTestId('tenants-empty')).first(), 'the tenants page');
        check(new URL(page.url()).pathname === '/admin/tenants', `the platform admin landed on ${page.url()}, expected /admin/tenants`);
        check((await page.getByTestId('nav-calls').count()) === 0, 'the platform admin sees the Calls page link');

        const name = `Acme ${Date.now() % 100000}`;
        await page.getByTestId('tenant-new').click();
        await page.getByTestId('tenant-name-input').fill(name);
        await page.getByTestId('tenant-domains-input').fill('acme.example, acme-group.example');
        await page.getByTestId('tenant-tz-input').fill('America/New_York');
        await page.getByTestId('tenant-end-input').fill('2031-06-30');
        await shot(page, 'admin-tenant-new.png');
        await page.getByTestId('tenant-save').click();
        const row = page.locator(`[data-testid="tenant-row"][data-name="${name}"]`);
        await visible(row, `the new tenant "${name}" in the list`);
        const text = (await row.innerText()).replace(/\s+/g, ' ');
        check(text.includes('acme-group.example') && text.includes('America/New_York') && text.includes('2031-06-30'), `the row shows ${text}`);
        console.log(`   created: ${text.slice(0, 140)}`);

        // Edit it: the subscription moves.
        await row.getByTestId('tenant-edit').click();
        await page.getByTestId('tenant-end-input').fill('2032-01-31');
        await page.getByTestId('tenant-save').click();
        await page
          .locator(`[data-testid="tenant-row"][data-name="${name}"]`)
          .filter({ hasText: '2032-01-31' })
          .waitFor({ state: 'visible' })
          .catch(() => {
            throw new Failure('the edited subscription end is not shown');
          });
        await shot(page, 'admin-tenants.png');

        await page.getByTestId('nav-platform-agents').click();
        await visible(page.getByTestId('platform-agents-table').or(page.getByTestId('platform-agents-empty')).first(), 'the agents health page');
        const agents = await page.getByTestId('platform-agent-row').count();
        console.log(`   agents listed: ${agents}`);
        await shot(page, 'admin-agents.png');
        noProblems(problems);
        await signOut(page);
      } finally {
        await context.close();
      }
    },
  },
];

await runTests(tests, EXECUTABLE);
