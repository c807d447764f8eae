import { chromium, type BrowserContext } from 'playwright-core';

/**
 * Headless Chromium for the browser tests: Debian's /usr/bin/chromium, installed by
 * scripts/ops/ensure-debian-package.sh (Playwright never downloads a browser).
 */

export const CHROMIUM = '/usr/bin/chromium';
// As root, with no sandbox; the background-networking flags keep Chromium from calling out of
// this machine's closed network at start.
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const UI_TIMEOUT_MS = 30_000;

/** Launches Chromium on a fresh, empty profile of the caller's (a folder it removes afterwards). */
export async function launchChromium(profileDir: string): Promise<BrowserContext> {
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
    viewport: { width: 1280, height: 900 },
  });
  context.setDefaultTimeout(UI_TIMEOUT_MS);
  return context;
}
