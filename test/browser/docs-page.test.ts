import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { INVENTORY } from '../../functions/inventory.js';
import { call } from '../support/http.js';
import { isolatedRunnerEnv, ROOT, startRunner, type RunnerProcess } from '../support/runner-process.js';
import { launchChromium } from './chromium.js';

/**
 * The API docs page as a person uses it: Swagger UI at the gateway's /docs in headless Chromium
 * (Debian's /usr/bin/chromium, installed by scripts/ops/ensure-debian-package.sh; Playwright never downloads
 * a browser), against the whole local system started as `npm start` starts it.
 */

const ARTIFACTS = join(ROOT, 'test-artifacts');

interface Listing {
  gateway: string;
  docs: string;
  openapi: string;
  mailCatcher: { page: string; messages: string; smtp: string };
}

interface Operation {
  id: string;
  method: string;
  path: string;
}

const user = { email: 'tryit@example.com', password: 'swagger ui secret', name: 'Try', surname: 'It' };
const NEW_PASSWORD = 'a brand new swagger secret';
const ALERT_SUBJECT = 'New sign-in to your account';
const VERIFICATION_SUBJECT = 'Confirm your email address';
const RESET_SUBJECT = 'Reset your password';

/** What POST /auth/login and POST /auth/refresh answer. */
interface Tokens {
  access_token: string;
  refresh_token: string;
}

describe('the API docs page in a browser', () => {
  let dataDir: string;
  let profileDir: string;
  let runner: RunnerProcess | undefined;
  let context: BrowserContext | undefined;
  let page: Page;
  let listing: Listing;
  const requestedUrls: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'accounts-browser-'));
    profileDir = await mkdtemp(join(tmpdir(), 'accounts-chromium-profile-'));
    await mkdir(ARTIFACTS, { recursive: true });
    runner = await startRunner(await isolatedRunnerEnv(dataDir));
    listing = (await call<Listing>(`${runner.gatewayUrl}/`)).body;

    // A fresh, empty profile of our own for every run.
    context = await launchChromium(profileDir);
    page = context.pages()[0] ?? (await context.newPage());
    page.on('request', (request) => requestedUrls.push(request.url()));
    page.on('pageerror', (error) => pageErrors.push(error.message));
  }, 150_000);

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    await runner?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    if (profileDir) await rm(profileDir, { recursive: true, force: true });
  }, 60_000);

  /** The operation block of Swagger UI for one method and path (the first, should it carry several tags). */
  const operation = (method: string, path: string): Locator =>
    page
      .locator(`.opblock.opblock-${method.toLowerCase()}`)
      .filter({ has: page.locator(`.opblock-summary-path[data-path="${path}"]`) })
      .first();

  /** A failing test leaves a picture of the page as it was. */
  const screenshotOnFailure = (name: string): void => {
    onTestFailed(async () => {
      await page?.screenshot({ path: join(ARTIFACTS, `docs-page-failed-${name}.png`), fullPage: true }).catch(() => undefined);
    });
  };

  /** Expands an operation, turns on "Try it out", sends `body` and answers the status shown. */
  const tryItOut = async (method: string, path: string, body: unknown): Promise<string> => {
    const block = operation(method, path);
    await block.scrollIntoViewIfNeeded();
    if (!(await block.evaluate((element) => element.classList.contains('is-open')))) {
      await block.locator('.opblock-summary-control').click();
    }
    // tryItOutEnabled turns it on as the page opens; the button then reads "Cancel".
    const tryOut = block.locator('button.try-out__btn');
    if ((await tryOut.textContent())?.trim() === 'Try it out') await tryOut.click();
    const editor = block.locator('textarea.body-param__text');
    await editor.fill(JSON.stringify(body, null, 2));
    await block.locator('button.execute').click();
    const status = block.locator('.live-responses-table tr.response .response-col_status');
    await status.first().waitFor({ state: 'visible' });
    return ((await status.first().textContent()) ?? '').trim();
  };

  /** The messages the mail catcher holds for `email`, oldest first; only those with `subject` when given. */
  const mailTo = async (email: string, subject?: string): Promise<{ to: string[]; subject: string; text: string }[]> => {
    const messages = await call(listing.mailCatcher.messages.replace('localhost', '127.0.0.1'));
    return messages.body.filter((message: { to: string[]; subject: string }) => message.to.includes(email) && (subject === undefined || message.subject === subject));
  };
  /** The sign-in alerts sent to `email` (registration also sends a verification email). */
  const alertsTo = (email: string) => mailTo(email, ALERT_SUBJECT);

  it('lists the docs and the OpenAPI document on GET / and the console', async () => {
    expect(listing.docs).toBe(`${listing.gateway}/docs`);
    expect(listing.openapi).toBe(`${listing.gateway}/openapi.json`);
    expect(runner?.output()).toContain(listing.docs);
    const document = await call(listing.openapi);
    expect(document.status).toBe(200);
    expect(document.body.servers).toContainEqual(expect.objectContaining({ url: listing.gateway }));
  });

  it('shows every HTTP function of the inventory as an operation, with nothing fetched from elsewhere', async () => {
    screenshotOnFailure('operations');
    await page.goto(listing.docs, { waitUntil: 'load' });
    await page.locator('.opblock').first().waitFor({ state: 'visible' });
    const operations: Operation[] = await page.locator('.opblock').evaluateAll((blocks) =>
      blocks.map((block) => ({
        id: block.id,
        method: block.querySelector('.opblock-summary-method')?.textContent?.trim() ?? '',
        path: block.querySelector('.opblock-summary-path')?.getAttribute('data-path') ?? '',
      })),
    );
    for (const spec of INVENTORY.filter((fn) => fn.trigger === 'http')) {
      const found = operations.some(
        (op) => op.id.endsWith(`-${spec.name}`) || (op.method.toUpperCase() === spec.method && op.path === spec.path),
      );
      expect(found, `${spec.name} (${spec.method} ${spec.path}) is an operation on the page: ${JSON.stringify(operations)}`).toBe(true);
    }
    await page.screenshot({ path: join(ARTIFACTS, 'docs-page.png'), fullPage: true });

    const origin = new URL(listing.gateway).origin;
    expect(requestedUrls.filter((url) => !url.startsWith(`${origin}/`) && !url.startsWith('data:'))).toEqual([]);
    expect(requestedUrls).toContain(`${origin}/openapi.json`);
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('registers a user through try-it-out on POST /users', async () => {
    screenshotOnFailure('register');
    expect(await tryItOut('POST', '/users', user)).toBe('201');
    const shown = await operation('POST', '/users').locator('.live-responses-table tr.response .response-col_description').first().textContent();
    expect(shown).toContain(user.email);
    expect(shown).not.toContain(user.password);
    await page.screenshot({ path: join(ARTIFACTS, 'docs-page-registered.png'), fullPage: true });

    // The user really exists: the gateway signs them in.
    const signIn = await call(`${listing.gateway}/auth/login`, {
      method: 'POST',
      body: { email: user.email, password: user.password },
      headers: { 'user-agent': 'docs-page-test/1.0' },
    });
    expect(signIn.status).toBe(200);
    await expect.poll(() => alertsTo(user.email), { timeout: 10_000 }).toHaveLength(1);
  }, 60_000);

  it('signs in through try-it-out on POST /auth/login, and the alert email names the browser', async () => {
    screenshotOnFailure('sign-in');
    const sent = page.waitForRequest((request) => request.method() === 'POST' && request.url() === `${listing.gateway}/auth/login`);
    expect(await tryItOut('POST', '/auth/login', { email: user.email, password: user.password })).toBe('200');
    const shown = await operation('POST', '/auth/login').locator('.live-responses-table tr.response .response-col_description').first().textContent();
    expect(shown).toContain('access_token');

    const browserAgent = (await (await sent).allHeaders())['user-agent'];
    expect(browserAgent).toMatch(/Chrome\//);
    await expect.poll(() => alertsTo(user.email), { timeout: 10_000 }).toHaveLength(2);
    const [, alert] = await alertsTo(user.email);
    // Named from our own words, never the header quoted (whoever signs in writes it).
    expect(alert?.text).toContain('Device or browser: Chrome on Linux');
    expect(alert?.text).not.toContain(browserAgent as string);
    await page.screenshot({ path: join(ARTIFACTS, 'docs-page-signed-in.png'), fullPage: true });
  }, 60_000);

  /**
   * Sends `body` to an operation through Swagger UI as tryItOut does, and answers what the browser
   * received: the status Swagger UI shows and the JSON body of the real response.
   */
  const tryItOutJson = async <T,>(method: string, path: string, body: unknown): Promise<{ status: string; body: T }> => {
    const answered = page.waitForResponse((response) => response.request().method() === method && response.url() === `${listing.gateway}${path}`);
    const status = await tryItOut(method, path, body);
    return { status, body: (await (await answered).json()) as T };
  };

  /**
   * Opens the mail catcher's page, reads the newest email to the user with `subject`, and follows
   * its link for `action` (the page shows the text part: the link is a line of its own). Answers
   * the token the link carries.
   */
  const followEmailLink = async (subject: string, action: string): Promise<string> => {
    await expect.poll(async () => (await mailTo(user.email, subject)).length, { timeout: 15_000 }).toBeGreaterThan(0);
    await page.goto(listing.mailCatcher.page.replace('localhost', '127.0.0.1'), { waitUntil: 'load' });
    // One read of the whole page: it refreshes itself every few seconds.
    const emails: { subject: string; to: string; text: string }[] = await page.locator('article').evaluateAll((articles) =>
      articles.map((article) => ({ subject: article.querySelector('h2')?.textContent ?? '', to: article.querySelectorAll('dd')[1]?.textContent ?? '', text: article.querySelector('pre')?.textContent ?? '' })),
    );
    const newest = emails.find((email) => email.subject === subject && email.to.includes(user.email));
    const link = newest?.text.split('\n').find((line) => line.startsWith(`${listing.docs}?action=${action}&token=`));
    expect(link, `a ${action} link in ${JSON.stringify(newest)}`).toBeDefined();
    const token = new URL(link as string).searchParams.get('token') as string;
    // The token also stands alone on its line, for clients without a web page.
    expect(newest?.text.split('\n')).toContain(token);
    await page.goto(link as string, { waitUntil: 'load' });
    return token;
  };

  const panel = () => page.locator('#account-action');
  const panelResult = () => page.locator('#account-action-result');

  it('walks the account lifecycle: verify the address from the mail catcher, sign in, refresh, reset the password, sign in with the new one', async () => {
    screenshotOnFailure('lifecycle');
    // Registration (the test above) sent the verification email: its link opens this page with a panel.
    await followEmailLink(VERIFICATION_SUBJECT, 'verify-email');
    await expect.poll(() => panel().isVisible()).toBe(true);
    expect(await panel().locator('h2').textContent()).toBe('Confirm your email');
    await panel().getByRole('button', { name: 'Confirm my email' }).click();
    await expect.poll(() => panelResult().textContent(), { timeout: 10_000 }).toBe('Your email is confirmed.');
    await page.screenshot({ path: join(ARTIFACTS, 'docs-page-email-confirmed.png'), fullPage: true });

    // Sign in, through Swagger UI on the same page: the account says the address is verified now.
    const signedIn = await tryItOutJson<Tokens & { user?: { id: string } }>('POST', '/auth/login', { email: user.email, password: user.password });
    expect(signedIn.status).toBe('200');
    expect(signedIn.body.refresh_token).toEqual(expect.any(String));
    const { sub } = JSON.parse(Buffer.from(signedIn.body.access_token.split('.')[1] as string, 'base64url').toString()) as { sub: string };
    const me = await call(`${listing.gateway}/users/${sub}`, { headers: { authorization: `Bearer ${signedIn.body.access_token}` } });
    expect(me.status).toBe(200);
    expect(me.body.emailVerified).toBe(true);

    // Refresh: a new pair, and the refresh token used is spent.
    const refreshed = await tryItOutJson<Tokens>('POST', '/auth/refresh', { refresh_token: signedIn.body.refresh_token });
    expect(refreshed.status).toBe('200');
    expect(refreshed.body.access_token).toEqual(expect.any(String));
    expect(refreshed.body.refresh_token).not.toBe(signedIn.body.refresh_token);

    // Forgot the password: the reset email's link opens the page with the new-password panel.
    expect(await tryItOut('POST', '/auth/password-resets', { email: user.email })).toBe('202');
    await followEmailLink(RESET_SUBJECT, 'reset-password');
    expect(await panel().locator('h2').textContent()).toBe('Choose a new password');
    await panel().getByLabel('New password').fill(NEW_PASSWORD);
    await panel().getByRole('button', { name: 'Set the new password' }).click();
    await expect.poll(() => panelResult().textContent(), { timeout: 10_000 }).toContain('Your password is changed.');
    await page.screenshot({ path: join(ARTIFACTS, 'docs-page-password-reset.png'), fullPage: true });

    // The new password signs in, the old one no longer does, and the reset ended the refreshed session.
    expect((await tryItOutJson<Tokens>('POST', '/auth/login', { email: user.email, password: NEW_PASSWORD })).status).toBe('200');
    expect((await call(`${listing.gateway}/auth/login`, { method: 'POST', body: { email: user.email, password: user.password } })).status).toBe(401);
    expect((await call(`${listing.gateway}/auth/refresh`, { method: 'POST', body: { refresh_token: refreshed.body.refresh_token } })).status).toBe(401);
    expect(pageErrors).toEqual([]);
  }, 150_000);
});
