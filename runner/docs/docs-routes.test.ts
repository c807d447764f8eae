import { readFile } from 'node:fs/promises';
import { request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway } from '../gateway.js';
import { swaggerUiDistDir } from './docs-routes.js';

/** Sends the path exactly as written (fetch would resolve `..` before sending it). */
function rawGet(port: number, path: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the gateway serves the API docs', () => {
  const document = { openapi: '3.1.0', info: { title: 'stub', version: '1' }, servers: [{ url: 'http://localhost:1' }], paths: {} };
  let server: Server;
  let port: number;
  let builds = 0;

  beforeAll(async () => {
    server = createGateway({
      routes: [],
      listing: () => ({}),
      openApiDocument: async () => {
        builds += 1;
        return document;
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('serves its own page at /docs, loading Swagger UI from the gateway and the document from /openapi.json', async () => {
    const page = await rawGet(port, '/docs');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    const html = page.body.toString();
    expect(html).toContain('<script src="/docs/assets/swagger-ui-bundle.js"');
    expect(html).toContain('<script src="/docs/assets/swagger-ui-standalone-preset.js"');
    expect(html).toContain('href="/docs/assets/swagger-ui.css"');
    expect(html).toContain('"url":"/openapi.json"');
    expect(html).toContain('"tryItOutEnabled":true');
    expect(html).toContain('"persistAuthorization":true');
    // Nothing from another origin.
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect((await rawGet(port, '/docs/')).headers.location).toBe('/docs');
  });

  it('holds the account panel above Swagger UI, with its script served from the gateway, not inline', async () => {
    const page = await rawGet(port, '/docs?action=verify-email&token=abc');
    expect(page.status).toBe(200);
    // The query may hold an email token: nothing the page loads is told where it came from.
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    const html = page.body.toString();
    const panel = html.indexOf('<section id="account-action"');
    expect(panel).toBeGreaterThan(-1);
    expect(panel).toBeLessThan(html.indexOf('<div id="swagger-ui">'));
    expect(html).toMatch(/<section id="account-action"[^>]* hidden>/);
    expect(html).toContain('<script src="/docs/account-links.js"');
    // The page never writes the query into itself: the script reads it in the browser.
    expect(html).not.toContain('abc');

    const script = await rawGet(port, '/docs/account-links.js');
    expect(script.status).toBe(200);
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(script.headers['x-content-type-options']).toBe('nosniff');
    const source = script.body.toString();
    expect(source).toContain("'/auth/email-verifications/confirm'");
    expect(source).toContain("'/auth/password-resets/confirm'");
    // Texts go in with textContent only.
    expect(source).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    expect((await rawGet(port, '/docs/account-links.js', 'POST')).status).toBe(405);
  });

  it('serves the OpenAPI document as JSON, built once', async () => {
    const first = await rawGet(port, '/openapi.json');
    expect(first.status).toBe(200);
    expect(first.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(first.body.toString())).toEqual(document);
    await rawGet(port, '/openapi.json');
    expect(builds).toBe(1);
  });

  it('serves Swagger UI files from the installed package with their content types', async () => {
    const dir = swaggerUiDistDir();
    const cases: [string, string][] = [
      ['swagger-ui-bundle.js', 'text/javascript; charset=utf-8'],
      ['swagger-ui-standalone-preset.js', 'text/javascript; charset=utf-8'],
      ['swagger-ui.css', 'text/css; charset=utf-8'],
      ['favicon-32x32.png', 'image/png'],
      ['swagger-ui-bundle.js.map', 'application/json; charset=utf-8'],
    ];
    for (const [name, type] of cases) {
      const response = await rawGet(port, `/docs/assets/${name}`);
      expect(response.status, name).toBe(200);
      expect(response.headers['content-type'], name).toBe(type);
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.body.equals(await readFile(join(dir, name))), name).toBe(true);
      expect(Number(response.headers['content-length'])).toBe(response.body.length);
      const again = await rawGet(port, `/docs/assets/${name}`, 'GET', { 'if-none-match': String(response.headers.etag) });
      expect(again.status, name).toBe(304);
    }
    const head = await rawGet(port, '/docs/assets/swagger-ui.css', 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
  });

  it('answers 404 for unknown assets and for every path that tries to leave the package folder', async () => {
    const paths = [
      '/docs/assets/nothing.js',
      '/docs/assets/',
      '/docs/assets/index.html',
      '/docs/assets/package.json',
      '/docs/nothing',
      '/docs/assets/../../package.json',
      '/docs/assets/../../../../../../etc/passwd',
      '/docs/assets/..%2f..%2fpackage.json',
      '/docs/assets/%2e%2e/%2e%2e/package.json',
      '/docs/assets/%2e%2e%2f%2e%2e%2f%2e%2e%2fpackage.json',
      '/docs/assets/..\\..\\package.json',
      '/docs/assets//etc/passwd',
      '/docs/assets/swagger-ui.css%00.png',
      '/docs/assets/swagger-ui.css/',
      '/docs/assets/toString',
      '/docs/assets/__proto__',
    ];
    for (const path of paths) {
      const response = await rawGet(port, path);
      expect(response.status, path).toBe(404);
      expect(response.headers['content-type'], path).toBe('application/problem+json');
      expect(response.body.toString(), path).not.toContain('"name"');
    }
  });

  it('answers 405 for methods other than GET and HEAD', async () => {
    for (const path of ['/docs', '/openapi.json', '/docs/assets/swagger-ui.css', '/docs/account-links.js']) {
      const response = await rawGet(port, path, 'POST');
      expect(response.status, path).toBe(405);
      expect(response.headers.allow).toBe('GET, HEAD');
    }
  });

  it('answers 500 with the reason when the document cannot be built, and keeps serving', async () => {
    const broken = createGateway({
      routes: [],
      listing: () => ({}),
      openApiDocument: async () => {
        throw new Error('no schema for users-create');
      },
    });
    await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
    try {
      const brokenPort = (broken.address() as AddressInfo).port;
      const response = await rawGet(brokenPort, '/openapi.json');
      expect(response.status).toBe(500);
      expect(response.body.toString()).toContain('no schema for users-create');
      expect((await rawGet(brokenPort, '/docs')).status).toBe(200);
    } finally {
      await new Promise<void>((resolve) => broken.close(() => resolve()));
    }
  });
});
