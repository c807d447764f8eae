import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { simpleParser, type AddressObject } from 'mailparser';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';

/**
 * A mail catcher for local runs and tests: an SMTP server that accepts every message (no TLS, any
 * or no AUTH) and keeps the latest ones in memory, and a small web page and JSON API to read them.
 * Nothing is ever relayed.
 */

/** One message as the catcher received it. */
export interface CaughtMessage {
  /** Increasing number, in the order of arrival. */
  readonly id: number;
  /** The From header (e.g. `"Accounts" <no-reply@accounts.local>`), or the envelope sender when it has none. */
  readonly from: string;
  /** The envelope recipients (RCPT TO), Bcc included: whom the message was actually sent to. */
  readonly to: readonly string[];
  readonly subject: string;
  /** The Message-ID header, or null when there is none. */
  readonly messageId: string | null;
  /** The Date header as ISO 8601, or the time of arrival when the message has none. */
  readonly date: string;
  /** The text/plain part ('' when there is none). */
  readonly text: string;
  /** The text/html part, or null when there is none. */
  readonly html: string | null;
}

export interface MailCatcherOptions {
  /** Interface both servers listen on. */
  readonly host?: string;
  /** SMTP port; 0 (the default) picks a free one. */
  readonly smtpPort?: number;
  /** Web port; 0 (the default) picks a free one. */
  readonly httpPort?: number;
  readonly log?: (line: string) => void;
}

export interface MailCatcher {
  /** `smtp://host:port`, ready for `nodemailer.createTransport` or SMTP_URL. */
  readonly smtpUrl: string;
  /** `http://host:port`: the page at `/`, the JSON at `/messages`. */
  readonly webUrl: string;
  /** The kept messages, oldest first. */
  messages(): CaughtMessage[];
  clear(): void;
  /** Closes both servers and every connection they still hold. */
  stop(): Promise<void>;
}

export const MAIL_CATCHER_MAX_MESSAGE_BYTES = 1024 * 1024;
export const MAIL_CATCHER_KEEP = 500;
const PAGE_REFRESH_SECONDS = 3;

/** Starts the SMTP and web servers; resolves once both listen. */
export async function startMailCatcher(options: MailCatcherOptions = {}): Promise<MailCatcher> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? (() => undefined);
  let kept: CaughtMessage[] = [];
  let nextId = 1;

  const store = (message: Omit<CaughtMessage, 'id'>): CaughtMessage => {
    const caught = { id: nextId++, ...message };
    kept.push(caught);
    if (kept.length > MAIL_CATCHER_KEEP) kept = kept.slice(-MAIL_CATCHER_KEEP);
    return caught;
  };

  const smtp = new SMTPServer({
    // Plain text only: without STARTTLS no client upgrades to the built-in test certificate.
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    allowInsecureAuth: true,
    size: MAIL_CATCHER_MAX_MESSAGE_BYTES,
    rejectOversized: true,
    disableReverseLookup: true,
    logger: false,
    closeTimeout: 1_000,
    banner: 'mail catcher (nothing is relayed)',
    onAuth: (auth, _session, callback) => callback(null, { user: auth.username ?? 'anyone' }),
    onData: (stream, session, callback) => {
      receive(stream, session).then(
        (message) => {
          if (message === 'too-large') return callback(null); // rejectOversized answers 552 itself
          const caught = store(message);
          log(`mail catcher: message ${caught.id} to ${caught.to.join(', ')}`);
          callback(null, `Message ${caught.id} caught`);
        },
        (error: unknown) => {
          log(`mail catcher: could not read a message: ${error instanceof Error ? error.message : String(error)}`);
          callback(Object.assign(new Error('Message could not be read'), { responseCode: 451 }));
        },
      );
    },
  });
  smtp.on('error', (error: Error) => log(`mail catcher: SMTP error: ${error.message}`));

  const web = createServer((req, res) => {
    try {
      serveWeb(req, res, () => kept, () => (kept = []));
    } catch (error) {
      log(`mail catcher: web error: ${error instanceof Error ? error.message : String(error)}`);
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    }
  });
  web.on('clientError', (_error, socket) => socket.destroy());

  const closeSmtp = () => new Promise<void>((resolve) => smtp.close(() => resolve()));
  const closeWeb = () =>
    new Promise<void>((resolve) => {
      web.close(() => resolve());
      web.closeAllConnections();
    });

  let smtpPort: number;
  try {
    smtpPort = await listen(smtp.server, options.smtpPort ?? 0, host);
  } catch (error) {
    await closeSmtp().catch(() => undefined);
    throw error;
  }
  let httpPort: number;
  try {
    httpPort = await listen(web, options.httpPort ?? 0, host);
  } catch (error) {
    await closeSmtp();
    throw error;
  }

  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  let stopping: Promise<void> | undefined;
  return {
    smtpUrl: `smtp://${hostInUrl}:${smtpPort}`,
    webUrl: `http://${hostInUrl}:${httpPort}`,
    messages: () => [...kept],
    clear: () => {
      kept = [];
    },
    stop: () => (stopping ??= Promise.all([closeSmtp(), closeWeb()]).then(() => undefined)),
  };
}

function listen(server: NetServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Reads the DATA stream (never buffering past the size limit) and parses the message. */
async function receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<Omit<CaughtMessage, 'id'> | 'too-large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAIL_CATCHER_MAX_MESSAGE_BYTES) chunks.push(chunk);
  }
  if (stream.sizeExceeded || size > MAIL_CATCHER_MAX_MESSAGE_BYTES) return 'too-large';
  const parsed = await simpleParser(Buffer.concat(chunks));
  const envelopeFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
  const date = parsed.date && !Number.isNaN(parsed.date.getTime()) ? parsed.date : new Date();
  return {
    from: addressText(parsed.from) || envelopeFrom,
    to: session.envelope.rcptTo.map((recipient) => recipient.address),
    subject: parsed.subject ?? '',
    messageId: parsed.messageId ?? null,
    date: date.toISOString(),
    text: parsed.text ?? '',
    html: typeof parsed.html === 'string' ? parsed.html : null,
  };
}

function addressText(address: AddressObject | AddressObject[] | undefined): string {
  if (!address) return '';
  return (Array.isArray(address) ? address : [address]).map((entry) => entry.text).join(', ');
}

function serveWeb(req: IncomingMessage, res: ServerResponse, messages: () => CaughtMessage[], clear: () => void): void {
  const path = (req.url ?? '/').split('?', 1)[0];
  const method = req.method ?? 'GET';
  if (path === '/') {
    if (method !== 'GET' && method !== 'HEAD') return notAllowed(res, 'GET, HEAD');
    return send(res, 200, 'text/html; charset=utf-8', renderPage([...messages()].reverse()), method === 'HEAD');
  }
  if (path === '/messages') {
    if (method === 'GET' || method === 'HEAD') {
      return send(res, 200, 'application/json; charset=utf-8', JSON.stringify(messages()), method === 'HEAD');
    }
    if (method === 'DELETE') {
      clear();
      res.writeHead(204, { 'Cache-Control': 'no-store' });
      res.end();
      return;
    }
    return notAllowed(res, 'GET, HEAD, DELETE');
  }
  send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
}

function notAllowed(res: ServerResponse, allow: string): void {
  res.setHeader('Allow', allow);
  send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
}

function send(res: ServerResponse, status: number, contentType: string, body: string, headOnly = false): void {
  const bytes = Buffer.from(body, 'utf8');
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': bytes.length,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    // No scripts and nothing from elsewhere, also inside the srcdoc frames (they inherit this
    // policy): a caught message cannot run code or call home (remote images stay blank).
    'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src 'self'; base-uri 'none'; form-action 'none'",
  });
  res.end(headOnly ? undefined : bytes);
}

/** Escapes text for HTML element content and for quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char] as string);
}

function renderPage(newestFirst: readonly CaughtMessage[]): string {
  const items = newestFirst.map((message) => {
    const html =
      message.html === null
        ? ''
        : `<details open><summary>HTML part</summary><iframe sandbox="" referrerpolicy="no-referrer" title="HTML part of message ${message.id}" srcdoc="${escapeHtml(message.html)}"></iframe></details>`;
    return [
      `<article id="message-${message.id}">`,
      `<h2>${escapeHtml(message.subject || '(no subject)')}</h2>`,
      '<dl>',
      `<dt>From</dt><dd>${escapeHtml(message.from)}</dd>`,
      `<dt>To</dt><dd>${escapeHtml(message.to.join(', '))}</dd>`,
      `<dt>Date</dt><dd><time datetime="${escapeHtml(message.date)}">${escapeHtml(message.date)}</time></dd>`,
      '</dl>',
      `<pre>${escapeHtml(message.text)}</pre>`,
      html,
      '</article>',
    ].join('\n');
  });
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="${PAGE_REFRESH_SECONDS}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Mail catcher (${newestFirst.length})</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1rem auto; max-width: 60rem; padding: 0 1rem; color: #222; }
article { border: 1px solid #ccc; border-radius: 6px; padding: 0.5rem 1rem; margin: 1rem 0; }
h2 { font-size: 1.1rem; margin: 0.5rem 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.1rem 1rem; margin: 0; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f6f6f6; padding: 0.5rem; }
iframe { width: 100%; height: 24rem; border: 1px solid #ddd; background: #fff; }
</style>
</head>
<body>
<h1>Mail catcher</h1>
<p>${newestFirst.length === 0 ? 'No messages yet.' : `${newestFirst.length} message${newestFirst.length === 1 ? '' : 's'}, newest first.`} This page refreshes every ${PAGE_REFRESH_SECONDS} seconds; nothing is relayed.</p>
${items.join('\n')}
</body>
</html>
`;
}
