import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { specOf } from '../../functions/inventory.js';
import { createGateway } from '../../runner/gateway.js';
import { launchChromium } from './chromium.js';

/**
 * The account panel of the docs page in headless Chromium, on its own: the gateway serves the page,
 * and a stand-in for the two confirm functions records what the panel sends and answers as told.
 */

interface Answer {
  readonly status: number;
  readonly body?: unknown;
}

describe('the account panel of the docs page', () => {
  let profileDir: string;
  let context: BrowserContext | undefined;
  let page: Page;
  let functions: Server;
  let gateway: Server;
  let docsUrl: string;
  const received: { path: string; contentType: string | undefined; body: unknown }[] = [];
  let answers: Answer[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    functions = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        received.push({ path: req.url ?? '', contentType: req.headers['content-type'], body: JSON.parse(Buffer.concat(chunks).toString() || 'null') });
        const answer = answers.shift() ?? { status: 204 };
        if (answer.body === undefined) {
          res.writeHead(answer.status).end();
          return;
        }
        res.writeHead(answer.status, { 'Content-Type': 'application/problem+json' }).end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => functions.listen(0, '127.0.0.1', resolve));
    const port = (functions.address() as AddressInfo).port;
    gateway = createGateway({
      routes: [
        { spec: specOf('users-email-verification-confirm'), port },
        { spec: specOf('users-password-reset-confirm'), port },
      ],
      listing: () => ({}),
      openApiDocument: async () => ({ openapi: '3.1.0', info: { title: 'stub', version: '1' }, paths: {} }),
    });
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
    docsUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}/docs`;

    profileDir = await mkdtemp(join(tmpdir(), 'accounts-chromium-panel-'));
    context = await launchChromium(profileDir);
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (error) => pageErrors.push(error.message));
  }, 90_000);

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    await new Promise<void>((resolve) => gateway?.close(() => resolve()) ?? resolve());
    await new Promise<void>((resolve) => functions?.close(() => resolve()) ?? resolve());
    if (profileDir) await rm(profileDir, { recursive: true, force: true });
  });

  beforeEach(() => {
    received.splice(0);
    answers = [];
    pageErrors.splice(0);
  });

  const open = async (query: Record<string, string>): Promise<void> => {
    await page.goto(`${docsUrl}?${new URLSearchParams(query).toString()}`, { waitUntil: 'load' });
  };
  const panel = () => page.locator('#account-action');
  const result = () => page.locator('#account-action-result');

  it('confirms an address with the token of the link, and says so', async () => {
    const token = 'verify-token-0123456789-abcdefghijklmnop';
    await open({ action: 'verify-email', token });
    await expect.poll(() => panel().isVisible()).toBe(true);
    expect(await panel().locator('h2').textContent()).toBe('Confirm your email');
    // The token left the address bar (and the history) as the page opened.
    expect(page.url()).toBe(docsUrl);

    await panel().getByRole('button', { name: 'Confirm my email' }).click();
    await expect.poll(() => result().textContent()).toBe('Your email is confirmed.');
    expect(received).toEqual([{ path: '/auth/email-verifications/confirm', contentType: 'application/json', body: { token } }]);
    expect(await panel().getByRole('button').isDisabled()).toBe(true);
    expect(pageErrors).toEqual([]);
  });

  it("shows a problem's title and detail, and lets the person try again", async () => {
    answers = [{ status: 400, body: { type: 'https://problems.knative-accounts.dev/invalid-token', title: 'Bad Request', status: 400, detail: 'The link is not valid any more.' } }];
    await open({ action: 'verify-email', token: 'used-token-0123456789-abcdefghijklmnop' });
    await panel().getByRole('button', { name: 'Confirm my email' }).click();
    await expect.poll(() => result().textContent()).toBe('Bad Request: The link is not valid any more.');
    expect(await panel().getByRole('button').isEnabled()).toBe(true);
  });

  it('sets a new password with the token, naming the field at fault until the password is accepted', async () => {
    const token = 'reset-token-0123456789-abcdefghijklmnop';
    answers = [
      {
        status: 400,
        body: {
          type: 'https://problems.knative-accounts.dev/validation-failed',
          title: 'Bad Request',
          status: 400,
          detail: 'The request has invalid fields.',
          errors: [{ pointer: '#/password', detail: 'Must be at least 12 characters.' }],
        },
      },
      { status: 204 },
    ];
    await open({ action: 'reset-password', token });
    expect(await panel().locator('h2').textContent()).toBe('Choose a new password');
    const field = panel().getByLabel('New password');
    expect(await field.getAttribute('type')).toBe('password');

    await field.fill('short');
    await panel().getByRole('button', { name: 'Set the new password' }).click();
    await expect.poll(() => result().locator('p').allTextContents()).toEqual(['Bad Request: The request has invalid fields.', 'password: Must be at least 12 characters.']);

    await field.fill('a much longer new secret');
    await panel().getByRole('button', { name: 'Set the new password' }).click();
    await expect.poll(() => result().textContent()).toContain('Your password is changed.');
    expect(received.map((request) => [request.path, request.body])).toEqual([
      ['/auth/password-resets/confirm', { token, password: 'short' }],
      ['/auth/password-resets/confirm', { token, password: 'a much longer new secret' }],
    ]);
  });

  it('stays hidden without an action and a token, or with an action it does not know', async () => {
    const queries: Record<string, string>[] = [{}, { action: 'verify-email' }, { token: 'only-a-token-0123456789' }, { action: 'delete-account', token: 'x'.repeat(40) }];
    for (const query of queries) {
      await open(query);
      await page.locator('#swagger-ui').waitFor({ state: 'attached' });
      expect(await panel().isHidden(), JSON.stringify(query)).toBe(true);
    }
  });

  it('treats markup in the token as text: it is sent as given and never becomes part of the page', async () => {
    const token = '"><img src=x onerror="window.pwned=1"><script>window.pwned=2</script>';
    await open({ action: 'verify-email', token });
    await panel().getByRole('button', { name: 'Confirm my email' }).click();
    await expect.poll(() => result().textContent()).toBe('Your email is confirmed.');
    expect(received.map((request) => request.body)).toEqual([{ token }]);
    expect(await page.locator('#account-action img, #account-action script').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { pwned?: unknown }).pwned)).toBeUndefined();
    expect(pageErrors).toEqual([]);
  });
});
