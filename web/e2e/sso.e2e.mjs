#!/usr/bin/env node
// Browser test of SAML single sign-on: from Parley's login page ("Sign in with
// SSO", organisation) to the test IdP (tests/support/saml_idp.py, on another
// site: http://localhost), whose form posts the signed response cross-site to
// /saml/acs; Parley's continue page moves on same-origin and the portal shows
// the signed-in user; then sign-out. Also an SSO error page.
// Plain Node ESM driving Debian's Chromium with playwright-core.
//
// Environment:
//   PARLEY_URL      portal base URL, e.g. https://127.0.0.1:8443/ (required)
//   SSO_ORG         what the person types as organisation (required)
//   SSO_EMAIL       the e-mail the IdP asserts (required)
//   SSO_ROLE        the role the portal must show for it (required)
//   ADMIN_EMAIL, ADMIN_PASSWORD  a local tenant admin (required): the settings page
//   IDP_ENTITY_ID   the IdP entity ID the settings page must show (required)
//   SCREENSHOT_DIR  where to write sso-*.png (optional)
//   CHROMIUM        browser binary (default /usr/lib/chromium/chromium)
//
// Prints "e2e: N passed, M failed" last; exits 1 when any test failed.
import { Failure, check, fatal, noProblems, openPage as openPageWith, runTests, shotInto } from './lib.mjs';
import fs from 'node:fs';

const URL_ = process.env.PARLEY_URL;
const ORG = process.env.SSO_ORG;
const EMAIL = process.env.SSO_EMAIL;
const ROLE = process.env.SSO_ROLE;
const ADMIN_EMAIL = process.env.ADMIN_EMAIL;
const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD;
const IDP_ENTITY_ID = process.env.IDP_ENTITY_ID;
const SHOTS = process.env.SCREENSHOT_DIR || '';
const EXECUTABLE = process.env.CHROMIUM || '/usr/lib/chromium/chromium';
const STEP_TIMEOUT_MS = 15_000;

if (!URL_ || !ORG || !EMAIL || !ROLE || !ADMIN_EMAIL || !ADMIN_PASSWORD || !IDP_ENTITY_ID)
  fatal('set PARLEY_URL, SSO_ORG, SSO_EMAIL, SSO_ROLE, ADMIN_EMAIL, ADMIN_PASSWORD and IDP_ENTITY_ID');
if (SHOTS) fs.mkdirSync(SHOTS, { recursive: true });
const ORIGIN = new URL(URL_).origin;

const openPage = (browser) => openPageWith(browser, { viewport: { width: 1280, height: 800 }, timeoutMs: STEP_TIMEOUT_MS, tagUrl: true });

const shot = (page, name, fullPage = true) => shotInto(SHOTS, page, name, fullPage);

const tests = [
  {
    name: 'SSO sign-in from the login page, then sign-out',
    async run(browser) {
      const { context, page, problems } = await openPage(browser);
      try {
        await page.goto(URL_, { waitUntil: 'domcontentloaded' });
        await page.getByTestId('sso-start').click();
        await page.getByTestId('sso-organisation').fill(ORG);
        await shot(page, 'sso-login.png');
        await page.getByTestId('sso-continue').click();
        // The IdP's page (another site): its button posts the response to /saml/acs.
        const cont = page.getByTestId('idp-continue');
        await cont.waitFor({ state: 'visible' }).catch(() => {
          throw new Failure(`the IdP page did not appear (at ${page.url()})`);
        });
        check(!page.url().startsWith(ORIGIN), `expected to be at the IdP, at ${page.url()}`);
        await shot(page, 'sso-idp.png');
        await cont.click();
        const tenant = page.getByTestId('tenant-name');
        await tenant.waitFor({ state: 'visible' }).catch(async () => {
          const text = (await page.locator('body').innerText().catch(() => '')).slice(0, 300);
          throw new Failure(`the portal did not appear after the IdP posted (at ${page.url()}): ${text}`);
        });
        check(page.url().startsWith(ORIGIN), `not back on Parley: ${page.url()}`);
        const body = await page.locator('body').innerText();
        check(body.includes(EMAIL), `the signed-in user ${EMAIL} is not shown`);
        // The session is the portal's own: the API answers with it.
        const session = await page.evaluate(async () => {
          const r = await fetch('/api/v1/session', { credentials: 'same-origin' });
          return { status: r.status, body: r.status === 200 ? await r.json() : null };
        });
        check(session.status === 200, `GET /api/v1/session answered ${session.status}`);
        check(session.body.user.email === EMAIL, `session user is ${session.body.user.email}`);
        check(session.body.user.role === ROLE, `session role is ${session.body.user.role}, expected ${ROLE}`);
        console.log(`   signed in as ${session.body.user.email} (${session.body.user.role}) of ${session.body.tenant.name}`);
        await shot(page, 'sso-signed-in.png');
        await page.getByTestId('signout').click();
        await page.getByTestId('sso-start').waitFor({ state: 'visible' });
        await page.reload({ waitUntil: 'domcontentloaded' });
        await page.getByTestId('sso-start').waitFor({ state: 'visible' }).catch(() => {
          throw new Failure('after sign-out and reload the login page is not shown');
        });
        check((await page.getByTestId('tenant-name').count()) === 0, 'still signed in after sign-out');
        noProblems(problems);
      } finally {
        await context.close();
      }
    },
  },
  {
    name: 'an organisation without SSO gets a clear page',
    async run(browser) {
      const { context, page, problems } = await openPage(browser);
      try {
        await page.goto(URL_, { waitUntil: 'domcontentloaded' });
        await page.getByTestId('sso-start').click();
        await page.getByTestId('sso-organisation').fill('no-such-org.example');
        await page.getByTestId('sso-continue').click();
        const title = page.getByTestId('sso-title');
        await title.waitFor({ state: 'visible' });
        check((await title.innerText()).includes('not available'), 'no "not available" title');
        await shot(page, 'sso-error.png');
        await page.getByTestId('sso-link').click();
        await page.getByTestId('sso-start').waitFor({ state: 'visible' });
        noProblems(problems);
      } finally {
        await context.close();
      }
    },
  },
  {
    name: 'the tenant admin sees and changes the SSO settings',
    async run(browser) {
      const { context, page, problems } = await openPage(browser);
      try {
        await page.goto(URL_, { waitUntil: 'domcontentloaded' });
        await page.getByTestId('login-email').fill(ADMIN_EMAIL);
        await page.getByTestId('login-password').fill(ADMIN_PASSWORD);
        await page.getByTestId('login-submit').click();
        await page.getByTestId('nav-sso').click();
        const idp = page.getByTestId('sso-idp');
        await idp.waitFor({ state: 'visible' });
        check((await idp.innerText()).includes(IDP_ENTITY_ID), `the IdP ${IDP_ENTITY_ID} is not shown`);
        check((await page.getByTestId('sso-state').innerText()).includes('Enabled'), 'SSO is not shown as enabled');
        const map = page.getByTestId('sso-role-map');
        const before = await map.inputValue();
        await map.fill(`${before}\nParley Viewers=viewer`);
        await page.getByTestId('sso-save').click();
        const msg = page.getByTestId('sso-message');
        await msg.waitFor({ state: 'visible' });
        check((await msg.innerText()).includes('Saved'), `saving failed: ${await msg.innerText()}`);
        const saved = await page.evaluate(async () => (await (await fetch('/api/v1/tenant/sso')).json()).sso.role_map);
        check(saved['Parley Viewers'] === 'viewer', `role map not saved: ${JSON.stringify(saved)}`);
        await shot(page, 'sso-settings.png', false);
        // A bad role is refused with the server's reason.
        await map.fill('Parley Viewers=root');
        await page.getByTestId('sso-save').click();
        await page.waitForFunction(() => document.querySelector('[data-testid=sso-message]')?.textContent?.includes('role'));
        noProblems(problems);
      } finally {
        await context.close();
      }
    },
  },
];

await runTests(tests, EXECUTABLE);
