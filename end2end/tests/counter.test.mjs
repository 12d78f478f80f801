// The counter and the owner's desk, in real Chromium against a server of the test's own: a sale rung up
// with the keyboard only (a barcode scanner types into the search and presses Enter), the dashboard's
// figures against the sales this test made, English on every label, and axe-core on every page.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { DESKTOP, PHONE, assertNoErrors, eventually, hydrated, launch, screenshot } from './helpers.mjs';
import { api, openOn, signIn, waitForProduct } from './offline.helpers.mjs';
import { startServer } from './server.mjs';

const AXE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', 'axe-core', 'axe.min.js');

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** A product with stock, a barcode and optionally a low-stock threshold, through the API. */
async function product(context, { sku, name, price, stock, barcode = null, threshold = null }) {
  const id = crypto.randomUUID();
  const r = await api(context, 'POST', '/api/products', {
    id, sku, name, price_cents: price, cost_cents: 0, barcode, low_stock_threshold: threshold,
  });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  const m = await api(context, 'POST', '/api/inventory-movements', { id: crypto.randomUUID(), product_id: id, delta: stock, reason: 'purchase' });
  assert.equal(m.status, 201, JSON.stringify(m.json));
  return id;
}

/** Presses Tab (or Shift+Tab) until `testId` has the focus: proves it is reachable by keyboard. */
async function tabTo(page, testId, { back = false, max = 60 } = {}) {
  for (let i = 0; i < max; i++) {
    if (await page.evaluate((id) => document.activeElement?.getAttribute('data-testid') === id, testId)) return;
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
  }
  throw new Error(`${testId} never got the keyboard focus`);
}

const text = async (page, testId) => (await page.getByTestId(testId).innerText()).replace(/\s+/g, ' ').trim();

test('a sale rung up with the keyboard only, a barcode typed into the search, then the dashboard matches', async () => {
  const server = await startServer();
  try {
    const { context, page, errors } = await openOn(browser, server);
    await signIn(page, server);
    await product(context, { sku: 'YER-1', name: 'Yerba 1 kg', price: 2500, stock: 10, barcode: '7790001000011' });
    await product(context, { sku: 'AZU-1', name: 'Azúcar', price: 1200, stock: 4, threshold: 3 });
    await waitForProduct(page, 'AZU-1');

    // Open the till from the keyboard: type the float, Enter submits.
    await page.locator('input[name="opening_float"]').focus();
    await page.keyboard.type('100');
    await page.keyboard.press('Enter');
    await page.getByTestId('till-bar').waitFor();

    // From the top of the page, Tab reaches the search.
    await page.locator('body').focus();
    await tabTo(page, 'sale-search');
    // The scanner: digits then Enter. The exact barcode adds the product at once.
    await page.keyboard.type('7790001000011');
    await page.keyboard.press('Enter');
    await page.getByTestId('cart-line').filter({ hasText: 'Yerba 1 kg' }).waitFor();
    assert.equal(await page.getByTestId('sale-search').inputValue(), '', 'the search is cleared for the next scan');
    // By name as you type; Enter takes the first match.
    await page.keyboard.type('azuc');
    await page.getByTestId('sale-result').filter({ hasText: 'Azúcar' }).waitFor();
    await page.keyboard.press('Enter');
    await page.getByTestId('cart-line').filter({ hasText: 'Azúcar' }).waitFor();
    // The stepper, by keyboard: one more Yerba.
    await tabTo(page, 'qty-more');
    await page.keyboard.press('Enter');
    await page.getByTestId('qty').first().filter({ hasText: '2' }).waitFor();
    assert.equal(await text(page, 'cart-total'), '$ 62,00');
    // Cash received, change computed as typed; Enter charges.
    await tabTo(page, 'sale-received');
    await page.keyboard.type('70');
    assert.equal(await text(page, 'sale-change'), '$ 8,00');
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, 'phone-sale');
    await page.keyboard.press('Enter');
    await page.getByTestId('last-sale').filter({ hasText: '$ 62,00' }).waitFor();
    await page.getByTestId('cart-line').first().waitFor({ state: 'detached' });

    // The receipt, by keyboard, says whether the sale reached the server.
    await tabTo(page, 'last-sale-receipt', { back: true });
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/receipt\//);
    await page.getByTestId('receipt').waitFor();
    assert.equal(await text(page, 'receipt-total'), '$ 62,00');
    assert.equal(await text(page, 'receipt-change'), '$ 8,00');
    assert.equal(await page.getByTestId('receipt-line').count(), 2);
    await eventually(async () => {
      await page.reload();
      await hydrated(page);
      assert.equal(await text(page, 'receipt-state'), 'Enviada al servidor');
    }, { timeout: 20_000, interval: 500 });
    await screenshot(page, 'phone-receipt');
    const sales = await api(context, 'GET', '/api/sales');
    assert.equal(sales.json.total, 1);
    assert.deepEqual(sales.json.items[0].payments, [{ method: 'cash', amount_cents: 7000 }]);

    // A second sale by card, through the API (another till's phone).
    const till = (await api(context, 'GET', '/api/cash-sessions?status=open')).json.items[0];
    const azucar = (await api(context, 'GET', '/api/products?q=AZU-1')).json.items[0];
    const card = await api(context, 'POST', '/api/sales', {
      id: crypto.randomUUID(), cash_session_id: till.id,
      lines: [{ product_id: azucar.id, quantity: 1 }], payments: [{ method: 'card', amount_cents: 1200 }],
    });
    assert.equal(card.status, 201, JSON.stringify(card.json));

    // The dashboard, on a desktop: 62,00 + 12,00 in 2 sales; 70,00 − 8,00 cash and 12,00 card.
    await page.setViewportSize(DESKTOP);
    await page.goto('/dashboard');
    await hydrated(page);
    await page.getByTestId('kpi-count').filter({ hasText: '2' }).waitFor();
    assert.match(await text(page, 'kpi-total'), /\$ 74,00$/);
    assert.match(await text(page, 'kpi-average'), /\$ 37,00$/);
    assert.deepEqual(
      await page.getByTestId('method-row').evaluateAll((rows) => rows.map((r) => [r.dataset.method, r.innerText.replace(/\s+/g, ' ').trim()])),
      [['card', 'Tarjeta $ 12,00'], ['cash', 'Efectivo $ 62,00']],
    );
    // Top products: Yerba 2 units 50,00, Azúcar 2 units 24,00.
    const top = await page.getByTestId('top-product').allInnerTexts();
    assert.match(top[0], /Yerba 1 kg[\s\S]*2 u\.[\s\S]*\$ 50,00/);
    assert.match(top[1], /Azúcar[\s\S]*2 u\.[\s\S]*\$ 24,00/);
    // Today's bar is the only one drawn, with the day's total.
    const today = await page.locator('.chart-bar[data-total]:not([data-total="0"])').evaluateAll((b) => b.map((x) => x.dataset.total));
    assert.deepEqual(today, ['7400']);
    // The till: 100,00 float + 62,00 cash.
    assert.match(await text(page, 'open-sessions'), /Efectivo esperado: \$ 162,00/);
    // Azúcar: 4 − 2 = 2 left, alert at 3.
    assert.match(await text(page, 'low-stock'), /Azúcar · AZU-1 quedan 2 \(aviso: 3\)/);
    assert.match(await text(page, 'dashboard-age'), /datos al día/);
    // Each figure links to its list: today's total opens today's sales.
    await page.getByTestId('kpi-total').click();
    await page.waitForURL(/\/sales\?from=/);
    await page.getByTestId('sales-row').nth(1).waitFor();
    assert.equal(await page.getByTestId('sales-row').count(), 2);
    await page.goBack();
    await hydrated(page);
    await page.getByTestId('kpi-total').waitFor();
    await screenshot(page, 'desktop-dashboard');

    // Offline, the dashboard opens from the copy in IndexedDB and says how old it is.
    await context.setOffline(true);
    await page.getByTestId('nav-sale').click();
    await page.getByTestId('nav-dashboard').click();
    await page.getByTestId('kpi-count').filter({ hasText: '2' }).waitFor();
    await context.setOffline(false);
    assertNoErrors(errors);
    await context.close();
  } finally {
    await server.cleanup();
  }
});

/** Visible label texts: headings, labels, buttons, links of the navigation, table heads. */
async function labels(page) {
  return page.evaluate(() => {
    const seen = new Set();
    const sel = 'h1, h2, .label, legend, th, summary, button, .nav-link span, .kpi-label, a.btn, .conn-text, .empty, p.help';
    for (const el of document.querySelectorAll(sel)) {
      if (!el.offsetParent && el.tagName !== 'BODY') continue;
      const t = el.innerText.replace(/\s+/g, ' ').trim();
      // Symbols, numbers and the language switch itself ("EN"/"ES") are not words to translate.
      if (t && /\p{L}{2,}/u.test(t) && !/^(EN|ES)$/.test(t)) seen.add(t);
    }
    return [...seen];
  });
}

// Words that are the same in both languages.
const SAME = new Set(['Mostrador', 'SKU', 'Stock', 'Total', 'CSV', 'XLSX', 'admin']);

test('switching to English changes every visible label', async () => {
  const server = await startServer();
  try {
    const { context, page, errors } = await openOn(browser, server, { viewport: DESKTOP });
    await signIn(page, server);
    await product(context, { sku: 'EN-1', name: 'Fideos', price: 900, stock: 1, threshold: 5 });
    await waitForProduct(page, 'EN-1');
    await page.locator('input[name="opening_float"]').fill('10');
    await page.getByTestId('open-till-button').click();
    await page.getByTestId('till-bar').waitFor();
    const pages = ['/sale', '/dashboard', '/products', '/categories', '/customers', '/pending', '/settings', '/users', '/backups', '/sales', '/cash', '/system', '/phone'];
    const spanish = {};
    for (const url of pages) {
      await page.goto(url);
      await hydrated(page);
      await page.waitForTimeout(400);
      spanish[url] = await labels(page);
    }
    await page.getByTestId('lang-toggle').first().click();
    await page.locator('html[lang="en"]').waitFor({ state: 'attached' });
    for (const url of pages) {
      await page.goto(url);
      await hydrated(page);
      await page.waitForTimeout(400);
      const english = await labels(page);
      const untranslated = english.filter((t) => spanish[url].includes(t) && !SAME.has(t));
      assert.deepEqual(untranslated, [], `${url}: still Spanish after switching: ${untranslated.join(' | ')}`);
      assert.ok(english.length >= 3, `${url}: only ${english.length} labels found`);
    }
    // The choice survives a reload (cookie) and the server renders English from then on.
    const html = await (await context.request.get('/products')).text();
    assert.match(html, /<html lang="en"/);
    assertNoErrors(errors);
    await context.close();
  } finally {
    await server.cleanup();
  }
});

test('axe-core finds no serious or critical violation on any page', async () => {
  const server = await startServer();
  try {
    const { context, page, errors } = await openOn(browser, server, { viewport: PHONE });
    const check = async (url, ready) => {
      await page.goto(url);
      await hydrated(page);
      if (ready) await ready();
      await page.waitForTimeout(300);
      await page.addScriptTag({ path: AXE });
      const violations = await page.evaluate(async () => {
        const r = await window.axe.run(document, { resultTypes: ['violations'] });
        return r.violations
          .filter((v) => v.impact === 'serious' || v.impact === 'critical')
          .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
      });
      problems.push(...violations.map((v) => `${url}: ${v}`));
    };
    // Every page is checked before failing, so one run lists every problem.
    const problems = [];
    await check('/login');
    await signIn(page, server);
    await product(context, { sku: 'AX-1', name: 'Galletas', price: 500, stock: 2, threshold: 5 });
    await waitForProduct(page, 'AX-1');
    await check('/sale', () => page.getByTestId('open-till').waitFor());
    await page.locator('input[name="opening_float"]').fill('10');
    await page.getByTestId('open-till-button').click();
    await page.getByTestId('till-bar').waitFor();
    await page.getByTestId('sale-search').fill('AX-1');
    await page.getByTestId('sale-search').press('Enter');
    await check('/sale', () => page.getByTestId('cart-line').waitFor());
    await page.getByTestId('charge').click();
    await page.getByTestId('last-sale').waitFor();
    const receipt = await page.getByTestId('last-sale-receipt').getAttribute('href');
    for (const url of ['/products', '/products/new', '/categories', '/customers', '/pending', '/settings', '/users', '/backups', '/dashboard', '/sales', receipt, '/cash', '/system', '/phone']) {
      await check(url);
    }
    await page.setViewportSize(DESKTOP);
    await check('/dashboard', () => page.getByTestId('kpi-total').waitFor());
    await check('/products');
    assert.deepEqual(problems, []);
    assertNoErrors(errors);
    await context.close();
  } finally {
    await server.cleanup();
  }
});

/** Records in the page every text a progress element showed (they come and go too fast to poll). */
const RECORD_PROGRESS = () => {
  window.__progress = [];
  new MutationObserver(() => {
    for (const el of document.querySelectorAll('[data-testid="send-progress"], [data-testid="download-progress"]')) {
      const t = `${el.dataset.testid}: ${el.innerText.replace(/\s+/g, ' ').trim()}`;
      if (el.querySelector('progress') && !window.__progress.includes(t)) window.__progress.push(t);
    }
  }).observe(document, { childList: true, subtree: true, characterData: true });
};

test('progress bars: the first catalog download, then "Enviando n de m" while the outbox drains', async () => {
  const server = await startServer();
  try {
    const { context, page, errors } = await openOn(browser, server);
    await context.addInitScript(RECORD_PROGRESS);
    // A catalog big enough to come in several pages.
    const seeding = await context.request.post('/api/auth/login', { data: { username: 'admin', password: server.adminPassword } });
    assert.equal(seeding.status(), 200);
    for (let i = 0; i < 300; i++) {
      const r = await api(context, 'POST', '/api/products', { sku: `PB-${i}`, name: `Producto ${i}`, price_cents: 100, cost_cents: 0 });
      assert.equal(r.status, 201);
    }
    await product(context, { sku: 'PB-STOCK', name: 'Con stock', price: 100, stock: 50 });
    await signIn(page, server);
    await waitForProduct(page, 'PB-STOCK');
    const download = await page.evaluate(() => window.__progress.filter((t) => t.startsWith('download')));
    assert.ok(download.some((t) => /Descargando el catálogo: \d+ registros/.test(t)), `no download progress seen: ${download}`);

    await page.locator('input[name="opening_float"]').fill('10');
    await page.getByTestId('open-till-button').click();
    await page.getByTestId('till-bar').waitFor();
    await context.setOffline(true);
    for (let i = 0; i < 5; i++) {
      await page.getByTestId('sale-search').fill('PB-STOCK');
      await page.getByTestId('sale-search').press('Enter');
      await page.getByTestId('charge').click();
      await page.getByTestId('cart-line').first().waitFor({ state: 'detached' });
    }
    await context.setOffline(false);
    await eventually(async () => {
      const sent = await api(context, 'GET', '/api/sales');
      assert.equal(sent.json.total, 5);
    }, { timeout: 30_000, interval: 500 });
    const sending = await page.evaluate(() => window.__progress.filter((t) => t.startsWith('send')));
    assert.ok(sending.some((t) => /Enviando \d+ de [56]/.test(t)), `no send progress seen: ${sending}`);
    assertNoErrors(errors);
    await context.close();
  } finally {
    await server.cleanup();
  }
});
