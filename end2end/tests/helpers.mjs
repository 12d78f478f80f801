// Shared set-up for the browser tests: Debian's Chromium (never a downloaded browser), the server under
// test at BASE_URL, and the checks every test wants (no page errors, hydration done).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const BASE_URL = (process.env.BASE_URL ?? 'http://127.0.0.1:3456').replace(/\/$/, '');
export const ADMIN_USERNAME = process.env.ADMIN_USERNAME ?? 'admin';
export const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD ?? '';
export const PHONE = { width: 360, height: 740 };
export const DESKTOP = { width: 1280, height: 800 };

const here = path.dirname(fileURLToPath(import.meta.url));
// The committed screenshots (used by the README) are rewritten only when asked, UPDATE_SCREENSHOTS=1;
// other runs write theirs under test-results/ (ignored), so a test run leaves the work tree clean.
export const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1'
  ? path.join(here, '..', 'screenshots')
  : path.join(here, '..', 'test-results', 'screenshots');

if (!ADMIN_PASSWORD) {
  throw new Error('set ADMIN_PASSWORD (and BASE_URL) to the running server under test');
}

/** Debian's Chromium and the flags every test launches it with (also for persistent profiles). */
export const CHROMIUM_PATH = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

/**
 * A fresh context (its own cookies) and page. Every console error and uncaught exception is recorded in
 * `errors`; `allowHttp` lists the HTTP statuses this test provokes on purpose (Chromium logs each failed
 * fetch, a 409 conflict for example, as a console error).
 */
export async function openPage(browser, { viewport = PHONE, allowHttp = [], locale = 'es-ES' } = {}) {
  const context = await browser.newContext({ viewport, locale, baseURL: BASE_URL });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    const status = /status of (\d{3})/.exec(text);
    if (status && allowHttp.includes(Number(status[1]))) return;
    errors.push(`console.error: ${text}`);
  });
  return { context, page, errors };
}

export function assertNoErrors(errors) {
  assert.deepEqual(errors, [], `the page reported errors:\n${errors.join('\n')}`);
}

/** Waits until the wasm has hydrated the page (the app marks `<html data-hydrated>`). */
export async function hydrated(page) {
  await page.locator('html[data-hydrated]').waitFor({ state: 'attached', timeout: 20_000 });
}

export async function goto(page, url) {
  const response = await page.goto(url);
  await hydrated(page);
  return response;
}

export async function login(page, username = ADMIN_USERNAME, password = ADMIN_PASSWORD) {
  await goto(page, '/login');
  await page.locator('input[name="username"]').fill(username);
  await page.locator('input[name="password"]').fill(password);
  await page.getByTestId('login-submit').click();
  await page.waitForURL(/\/products$/);
  await page.getByTestId('user-name').filter({ hasText: username }).waitFor();
}

/**
 * Signs a context in through the API (its cookie jar is the browser's), for the contexts that are not
 * what a test is about. The server allows 5 login attempts per username per minute, so tests that
 * sign in often would otherwise trip it; a 429 is waited out as its Retry-After says.
 */
export async function apiLogin(context, username = ADMIN_USERNAME, password = ADMIN_PASSWORD) {
  for (let attempt = 0; ; attempt++) {
    const response = await context.request.post('/api/auth/login', { data: { username, password } });
    if (response.status() === 200) return;
    if (response.status() !== 429 || attempt >= 3) {
      throw new Error(`login as ${username}: HTTP ${response.status()} ${await response.text()}`);
    }
    const wait = Number(response.headers()['retry-after'] ?? '5');
    await new Promise((r) => setTimeout(r, (wait + 1) * 1000));
  }
}

/** Retries `fn` until it stops throwing (for assertions on text that changes after a fetch). */
export async function eventually(fn, { timeout = 10_000, interval = 100 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, interval));
    }
  }
}

export async function screenshot(page, name) {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: false });
}

/** A suffix that keeps names unique across runs against the same server. */
export function unique() {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
}
