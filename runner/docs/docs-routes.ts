import { createReadStream, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { problemFor } from '../../functions/shared/http/problem.js';
import { sendProblem } from '../../functions/shared/http/respond.js';
import { ACCOUNT_LINKS_SCRIPT_PATH, DOCS_ASSETS_PREFIX, DOCS_PATH, docsPageHtml, OPENAPI_PATH } from './page.js';

export interface DocsRoutesOptions {
  /** The OpenAPI document to serve at `/openapi.json`, built on first use and kept. */
  readonly openApiDocument: () => Promise<Record<string, unknown>>;
  /** The folder of the installed `swagger-ui-dist` package (found through Node's resolution by default). */
  readonly swaggerUiDir?: string;
}

/** Answers the request when it is one of the docs paths; returns false for every other path. */
export type DocsRoutes = (req: IncomingMessage, res: ServerResponse, pathname: string) => boolean;

/**
 * The only files served from the Swagger UI package, by name: what our page loads, and the source
 * maps that the bundles name (browser dev tools ask for them). Anything else is 404, so no request
 * path reaches the file system: names are looked up here, never joined from the URL.
 */
const ASSETS: Readonly<Record<string, string>> = {
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-bundle.js.map': 'application/json; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js.map': 'application/json; charset=utf-8',
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui.css.map': 'application/json; charset=utf-8',
  'favicon-32x32.png': 'image/png',
  'favicon-16x16.png': 'image/png',
};

const HTML = 'text/html; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';
const JAVASCRIPT = 'text/javascript; charset=utf-8';

/** The folder of the installed `swagger-ui-dist` package. */
export function swaggerUiDistDir(): string {
  return dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
}

export function createDocsRoutes(options: DocsRoutesOptions): DocsRoutes {
  const dir = options.swaggerUiDir ?? swaggerUiDistDir();
  const version = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  const page = Buffer.from(docsPageHtml());
  const accountLinksScript = readFileSync(new URL('./account-links.js', import.meta.url));
  let openApiText: Promise<Buffer> | undefined;

  return (req, res, pathname) => {
    const isPage = pathname === DOCS_PATH;
    const isDocument = pathname === OPENAPI_PATH;
    const isDocsPath = pathname === `${DOCS_PATH}/` || pathname.startsWith(`${DOCS_PATH}/`);
    if (!isPage && !isDocument && !isDocsPath) return false;

    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      sendProblem(res, problemFor(405, 'method-not-allowed', `${req.method} is not allowed on ${pathname}.`));
      return true;
    }
    if (isPage) {
      // The page may carry an email token in its query: no Referer with it to anything it loads.
      send(res, 200, { 'Content-Type': HTML, 'Cache-Control': 'no-cache', 'Referrer-Policy': 'no-referrer' }, page);
    } else if (pathname === ACCOUNT_LINKS_SCRIPT_PATH) {
      send(res, 200, { 'Content-Type': JAVASCRIPT, 'Cache-Control': 'no-cache' }, accountLinksScript);
    } else if (isDocument) {
      // Built once, at the first request; a failed build is tried again at the next one.
      const building = (openApiText ??= options.openApiDocument().then((document) => Buffer.from(JSON.stringify(document, null, 2))));
      building.then(
        (text) => send(res, 200, { 'Content-Type': JSON_TYPE, 'Cache-Control': 'no-cache' }, text),
        (error: unknown) => {
          openApiText = undefined;
          // A development tool: the reason helps whoever is editing the document.
          const reason = error instanceof Error ? error.message : String(error);
          sendProblem(res, problemFor(500, 'openapi-unavailable', `The OpenAPI document could not be built: ${reason}`));
        },
      );
    } else if (pathname === `${DOCS_PATH}/`) {
      res.writeHead(301, { Location: DOCS_PATH, 'Content-Length': 0 });
      res.end();
    } else {
      serveAsset(req, res, dir, version, pathname);
    }
    return true;
  };
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: Buffer): void {
  res.writeHead(status, { ...headers, 'Content-Length': body.length, 'X-Content-Type-Options': 'nosniff' });
  res.end(body);
}

function serveAsset(req: IncomingMessage, res: ServerResponse, dir: string, version: string, pathname: string): void {
  const name = pathname.startsWith(DOCS_ASSETS_PREFIX) ? pathname.slice(DOCS_ASSETS_PREFIX.length) : '';
  const contentType = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
  if (contentType === undefined) {
    sendProblem(res, problemFor(404, 'not-found', `No documentation file at ${pathname}.`));
    return;
  }
  const file = join(dir, name);
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    sendProblem(res, problemFor(404, 'not-found', `No documentation file at ${pathname}.`));
    return;
  }
  // The package version names the content: a new version is a new tag.
  const etag = `"swagger-ui-dist-${version}-${name}-${size}"`;
  const headers = { 'Content-Type': contentType, 'Cache-Control': 'no-cache', ETag: etag, 'X-Content-Type-Options': 'nosniff' };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, 'Content-Length': size });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = createReadStream(file);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}
