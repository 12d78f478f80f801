// Set-up shared by the offline tests: a server of the test's own (so counts are exact and it can be
// killed), a phone-sized context on it, seeding through the API, and the sale screen driven like a
// cashier with a barcode scanner (type the code, Enter).

import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import { PHONE, hydrated } from './helpers.mjs';

/** A context on `server` with the errors a page reports (offline fetch failures are expected). */
export async function openOn(browser, server, { viewport = PHONE, locale = 'es-ES' } = {}) {
  const context = await browser.newContext({ viewport, locale, baseURL: server.url });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const errors = watch(page);
  return { context, page, errors };
}

/** Records panics and console errors, except failed loads (offline, a killed server, 4xx/5xx on purpose). */
export function watch(page) {
  const errors = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    if (/Failed to load resource|ERR_INTERNET_DISCONNECTED|ERR_CONNECTION_REFUSED|net::ERR_/.test(text)) return;
    errors.push(`console.error: ${text}`);
  });
  return errors;
}

export async function signIn(page, server) {
  await page.goto('/login');
  await hydrated(page);
  await page.locator('input[name="username"]').fill('admin');
  await page.locator('input[name="password"]').fill(server.adminPassword);
  await page.getByTestId('login-submit').click();
  await page.waitForURL(/\/products$/);
  await page.getByTestId('user-name').filter({ hasText: 'admin' }).waitFor();
}

/** An API call with the page's session (the context's cookies) and a fresh Idempotency-Key. */
export async function api(context, method, path, body) {
  const r = await context.request.fetch(path, {
    method,
    data: body,
    headers: method === 'GET' ? {} : { 'Idempotency-Key': crypto.randomUUID() },
  });
  const text = await r.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* empty body */
  }
  return { status: r.status(), json };
}

/** A product with `stock` units in stock. */
export async function seedProduct(context, { sku, name, price = 1000, stock = 0 }) {
  const id = crypto.randomUUID();
  const r = await api(context, 'POST', '/api/products', { id, sku, name, price_cents: price, cost_cents: 0 });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  if (stock) {
    const m = await api(context, 'POST', '/api/inventory-movements', {
      id: crypto.randomUUID(), product_id: id, delta: stock, reason: 'purchase',
    });
    assert.equal(m.status, 201, JSON.stringify(m.json));
  }
  return r.json;
}

/** Waits until this device's local copy knows `sku` (the first pull has arrived), then opens /sale. */
export async function waitForProduct(page, sku) {
  await page.goto(`/products?q=${encodeURIComponent(sku)}`);
  await hydrated(page);
  await page.getByTestId('row').filter({ hasText: sku }).waitFor();
  await page.getByTestId('nav-sale').click();
  await page.waitForURL(/\/sale$/);
}

export async function openTill(page, float = '100') {
  await page.getByTestId('open-till').waitFor();
  await page.locator('input[name="opening_float"]').fill(float);
  await page.getByTestId('open-till-button').click();
  await page.getByTestId('till-bar').waitFor();
}

/** Rings up a sale: each sku scanned once per unit (type + Enter), then Cobrar. */
export async function sell(page, skus, { newCustomer } = {}) {
  const search = page.getByTestId('sale-search');
  for (const sku of skus) {
    await search.fill(sku);
    await search.press('Enter');
  }
  await page.getByTestId('cart-line').first().waitFor();
  if (newCustomer) await page.getByTestId('sale-new-customer').fill(newCustomer);
  await page.getByTestId('charge').click();
  await page.getByTestId('cart-line').first().waitFor({ state: 'detached' });
}

/** The number on the pending badge (0 when there is none). */
export async function badgeCount(page) {
  // One read, no waiting: the badge may vanish between two calls.
  const texts = await page.getByTestId('pending-badge').allTextContents();
  return texts.length === 0 ? 0 : Number(texts[0].trim());
}

export async function waitForBadge(page, n, timeout = 30_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const now = await badgeCount(page);
    if (now === n) return;
    if (Date.now() > deadline) throw new Error(`pending badge shows ${now}, expected ${n}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Waits until a service worker controls the page (so a reload works offline). On a timeout the error
 * says where the worker got stuck, with the end of `server`'s log when given (a failed precache shows
 * there as the status of a shell file).
 */
export async function controlled(page, server = null, timeout = 20_000) {
  try {
    await page.waitForFunction(() => navigator.serviceWorker && navigator.serviceWorker.controller !== null, null, {
      timeout,
    });
  } catch (e) {
    const states = await page
      .evaluate(async () => {
        const r = await navigator.serviceWorker?.getRegistration();
        return JSON.stringify({ installing: r?.installing?.state ?? null, waiting: r?.waiting?.state ?? null,
          active: r?.active?.state ?? null, registered: Boolean(r) });
      })
      .catch((x) => `unknown (${x.message})`);
    throw new Error(`no service worker controls the page after ${timeout} ms; registration ${states}`
      + (server ? `\nend of the server's log:\n${server.logs()}` : ''), { cause: e });
  }
}

export async function total(context, path) {
  const r = await api(context, 'GET', path);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json.total;
}
