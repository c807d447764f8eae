import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { INVENTORY } from '../../functions/inventory.js';
import { call } from '../support/http.js';
import { isolatedRunnerEnv, ROOT, startRunner, type RunnerProcess } from '../support/runner-process.js';

/**
 * The API docs page as a person uses it: Swagger UI at the gateway's /docs in headless Chromium
 * (Debian's /usr/bin/chromium, installed by scripts/ensure-debian-package.sh; Playwright never downloads
 * a browser), against the whole local system started as `npm start` starts it.
 */

const CHROMIUM = '/usr/bin/chromium';
// As root, with no sandbox; the background-networking flags keep Chromium from calling out of
// this machine's closed network at start.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const ARTIFACTS = join(ROOT, 'test-artifacts');
const UI_TIMEOUT_MS = 30_000;

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
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: 60_000,
      viewport: { width: 1280, height: 900 },
    });
    context.setDefaultTimeout(UI_TIMEOUT_MS);
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

  const mailTo = async (email: string): Promise<{ to: string[]; text: string }[]> => {
    const messages = await call(listing.mailCatcher.messages.replace('localhost', '127.0.0.1'));
    return messages.body.filter((message: { to: string[] }) => message.to.includes(email));
  };

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
    await expect.poll(() => mailTo(user.email), { timeout: 10_000 }).toHaveLength(1);
  }, 60_000);

  it('signs in through try-it-out on POST /auth/login, and the alert email names the browser', async () => {
    screenshotOnFailure('sign-in');
    const sent = page.waitForRequest((request) => request.method() === 'POST' && request.url() === `${listing.gateway}/auth/login`);
    expect(await tryItOut('POST', '/auth/login', { email: user.email, password: user.password })).toBe('200');
    const shown = await operation('POST', '/auth/login').locator('.live-responses-table tr.response .response-col_description').first().textContent();
    expect(shown).toContain('access_token');

    const browserAgent = (await (await sent).allHeaders())['user-agent'];
    expect(browserAgent).toMatch(/Chrome\//);
    await expect.poll(() => mailTo(user.email), { timeout: 10_000 }).toHaveLength(2);
    const [, alert] = await mailTo(user.email);
    expect(alert?.text).toContain(browserAgent as string);
    await page.screenshot({ path: join(ARTIFACTS, 'docs-page-signed-in.png'), fullPage: true });
  }, 60_000);
});
