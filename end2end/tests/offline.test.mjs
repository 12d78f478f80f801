// Offline first, in real Chromium against a real server of the test's own: sales made with no network
// survive a reload and reach the server exactly once; a crash of the server mid-drain loses and doubles
// nothing; two tabs never send twice; conflicts are resolved by a person; a rejected item blocks only
// what depends on it.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';

import { assertNoErrors, launch, screenshot, hydrated, unique } from './helpers.mjs';
import {
  api, badgeCount, controlled, openOn, openTill, seedProduct, sell, signIn, total, waitForBadge,
  waitForProduct,
} from './offline.helpers.mjs';
import { startServer } from './server.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('sales, a till and a new customer made offline survive a reload and reach the server exactly once', async () => {
  const server = await startServer();
  try {
    const { context, page, errors } = await openOn(browser, server);
    await signIn(page, server);
    await seedProduct(context, { sku: 'OFF-A', name: 'Yerba 1 kg', price: 2500, stock: 50 });
    await seedProduct(context, { sku: 'OFF-B', name: 'Azúcar', price: 1200, stock: 20 });

    // First visit online: the app shell is cached and the catalog pulled.
    await waitForProduct(page, 'OFF-B');
    await controlled(page, server);
    await page.reload();
    await hydrated(page);

    await context.setOffline(true);
    await page.getByTestId('connection').filter({ hasText: 'Sin conexión' }).waitFor();
    await openTill(page, '100');
    await sell(page, ['OFF-A']);
    await sell(page, ['OFF-A', 'OFF-A']);
    await sell(page, ['OFF-B']);
    await sell(page, ['OFF-B'], { newCustomer: 'Cliente sin conexión' });
    // Till + 4 sales + the customer, shown at once as today's sales, marked pending.
    await waitForBadge(page, 6);
    await page.locator('[data-testid="sale-row"][data-state="pending"]').nth(3).waitFor();
    assert.equal(await page.locator('[data-testid="sale-row"][data-state="pending"]').count(), 4);
    await screenshot(page, 'phone-sale-offline');
    // The till cannot be closed while this device still owes the server its sales.
    await page.getByTestId('close-till').click();
    await page.locator('input[name="counted"]').fill('199');
    await page.getByTestId('confirm-close-till').click();
    await page.getByTestId('close-error').filter({ hasText: '4 operaciones' }).waitFor();
    await waitForBadge(page, 6);

    // A reload with no network: the service worker serves the app, IndexedDB the data.
    await page.reload();
    await hydrated(page);
    await waitForBadge(page, 6);
    await page.locator('[data-testid="sale-row"]').nth(3).waitFor();
    assert.equal(await page.locator('[data-testid="sale-row"]').count(), 4);
    for (const path of ['/products', '/customers', '/categories', '/pending']) {
      await page.goto(path);
      await hydrated(page);
    }
    await page.getByTestId('pending-item').nth(5).waitFor();
    assert.equal(await page.getByTestId('pending-item').count(), 6);
    await screenshot(page, 'phone-pending');
    await page.goto('/products');
    await hydrated(page);
    // Stock shown already includes the pending sales (50 − 3 and 20 − 2).
    await page.getByTestId('row').filter({ hasText: 'Stock: 47' }).waitFor();
    await page.getByTestId('row').filter({ hasText: 'Stock: 18' }).waitFor();

    await context.setOffline(false);
    await waitForBadge(page, 0);
    assert.equal(await total(context, '/api/sales?limit=1'), 4);
    const customers = await api(context, 'GET', '/api/customers?q=sin%20conexi%C3%B3n');
    assert.equal(customers.json.total, 1);
    const sessions = await api(context, 'GET', '/api/cash-sessions');
    assert.equal(sessions.json.total, 1);
    assert.equal(sessions.json.items[0].expected_cents, 10000 + 3 * 2500 + 2 * 1200); // float "100" is $ 100,00
    const products = await api(context, 'GET', '/api/products?q=OFF-A');
    assert.equal(products.json.items[0].stock, 47);
    await page.getByTestId('connection').filter({ hasText: 'Conectado' }).waitFor();
    assertNoErrors(errors);
    await context.close();
  } finally {
    await server.cleanup();
  }
});

test('200 queued sales drain exactly once through a SIGKILL of the server', async () => {
  const server = await startServer();
  try {
    const { context, page, errors } = await openOn(browser, server);
    await signIn(page, server);
    await seedProduct(context, { sku: 'K-1', name: 'Caramelo', price: 100, stock: 1000 });
    await waitForProduct(page, 'K-1');
    await openTill(page, '0');
    await waitForBadge(page, 0);

    await context.setOffline(true);
    for (let i = 0; i < 200; i++) await sell(page, ['K-1']);
    await waitForBadge(page, 200);

    // Back online: the first push is on its way when the server dies.
    const firstPush = page.waitForRequest((r) => r.url().endsWith('/api/sync/push'));
    await context.setOffline(false);
    await firstPush;
    const exit = await server.kill('SIGKILL');
    assert.equal(exit.signal, 'SIGKILL');
    await server.start();
    // The engine retries on its own (backoff); "send now" does not wait for the timer.
    await page.getByTestId('send-now').click().catch(() => {});
    await waitForBadge(page, 0, 60_000);

    assert.equal(await total(context, '/api/sales?limit=1'), 200);
    const products = await api(context, 'GET', '/api/products?q=K-1');
    assert.equal(products.json.items[0].stock, 800);
    assertNoErrors(errors);
    await context.close();
  } finally {
    await server.cleanup();
  }
});

test('two tabs draining the same outbox at once send each sale once', async () => {
  const server = await startServer();
  try {
    const { context, page, errors } = await openOn(browser, server);
    await signIn(page, server);
    await seedProduct(context, { sku: 'T-1', name: 'Galletitas', price: 300, stock: 100 });
    await waitForProduct(page, 'T-1');
    await openTill(page, '0');
    await waitForBadge(page, 0);

    const second = await context.newPage();
    const errors2 = [];
    second.on('pageerror', (e) => errors2.push(e.message));
    await second.goto('/pending');
    await hydrated(second);

    await context.setOffline(true);
    // The cashier's tab in front (Chromium throttles a hidden tab's timers, and Playwright's waits).
    await page.bringToFront();
    for (let i = 0; i < 30; i++) await sell(page, ['T-1']);
    await waitForBadge(page, 30);
    await waitForBadge(second, 30);

    // Both tabs see `online` and both are told to send now.
    await context.setOffline(false);
    await Promise.all([
      page.getByTestId('send-now').click().catch(() => {}),
      second.getByTestId('send-all').click(),
    ]);
    await waitForBadge(page, 0);
    await waitForBadge(second, 0);
    assert.equal(await total(context, '/api/sales?limit=1'), 30);
    const products = await api(context, 'GET', '/api/products?q=T-1');
    assert.equal(products.json.items[0].stock, 70);
    assertNoErrors(errors);
    assert.deepEqual(errors2, []);
    await context.close();
  } finally {
    await server.cleanup();
  }
});

test('version conflicts: keep mine, a per-field choice, and edits of different fields merging by themselves', async () => {
  const server = await startServer();
  try {
    const { context, page, errors } = await openOn(browser, server);
    await signIn(page, server);
    const p = await seedProduct(context, { sku: `C-${unique()}`, name: 'Mate', price: 1000 });
    const q = await seedProduct(context, { sku: `C-${unique()}`, name: 'Bombilla', price: 500 });
    const c = await api(context, 'POST', '/api/customers', { id: crypto.randomUUID(), name: 'Ana', phone: '111' });
    assert.equal(c.status, 201);
    await page.goto('/customers');
    await hydrated(page);
    await page.getByTestId('row').filter({ hasText: 'Ana' }).waitFor();
    // The edit pages open offline only once the service worker controls the page.
    await controlled(page);

    await context.setOffline(true);
    // Offline edits, each based on version 1.
    const edit = async (path, fields) => {
      await page.goto(path);
      await hydrated(page);
      for (const [name, value] of Object.entries(fields)) await page.locator(`[name="${name}"]`).fill(value);
      await page.getByTestId('save').click();
      await page.waitForURL((u) => !u.pathname.startsWith(path));
    };
    await edit(`/products/${p.id}`, { price: '12,00' });
    await edit(`/customers/${c.json.id}`, { name: 'Ana María', phone: '222' });
    await edit(`/products/${q.id}`, { name: 'Bombilla de acero' });
    await waitForBadge(page, 3);

    // Meanwhile, someone else (another device, online).
    const other = await browser.newContext({ baseURL: server.url });
    const login = await other.request.post('/api/auth/login', { data: { username: 'admin', password: server.adminPassword } });
    assert.equal(login.status(), 200);
    assert.equal((await api(other, 'PATCH', `/api/products/${p.id}`, { version: 1, price_cents: 1500 })).status, 200);
    assert.equal((await api(other, 'PATCH', `/api/customers/${c.json.id}`, { version: 1, name: 'Ana M.', email: 'ana@example.com' })).status, 200);
    assert.equal((await api(other, 'PATCH', `/api/products/${q.id}`, { version: 1, price_cents: 650 })).status, 200);

    await context.setOffline(false);
    await page.goto('/pending');
    await hydrated(page);
    // Two conflicts wait for a person; the edit of another field went through by itself.
    await page.locator('[data-testid="pending-item"][data-state="conflict"]').nth(1).waitFor();
    await waitForBadge(page, 2);
    const qNow = await api(context, 'GET', `/api/products/${q.id}`);
    assert.equal(qNow.json.name, 'Bombilla de acero');
    assert.equal(qNow.json.price_cents, 650);
    await screenshot(page, 'phone-pending-conflict');

    // The price: keep mine.
    const priceItem = page.locator('[data-testid="pending-item"]').filter({ hasText: 'Mate' });
    await priceItem.locator('[data-testid="conflict-field"][data-field="price_cents"] [data-testid="theirs-value"]').filter({ hasText: '15,00' }).waitFor();
    await priceItem.getByTestId('keep-mine').click();
    await waitForBadge(page, 1);
    const pNow = await api(context, 'GET', `/api/products/${p.id}`);
    assert.equal(pNow.json.price_cents, 1200);

    // The customer: their name, my phone (merged), their email untouched.
    const customerItem = page.locator('[data-testid="pending-item"]').filter({ hasText: 'Ana' });
    assert.deepEqual(
      await customerItem.locator('[data-testid="conflict-field"]').evaluateAll((els) => els.map((e) => e.dataset.field)),
      ['name'],
    );
    await customerItem.locator('[data-field="name"] [data-testid="choose-theirs"]').check();
    await customerItem.getByTestId('apply-choice').click();
    await waitForBadge(page, 0);
    const cNow = await api(context, 'GET', `/api/customers/${c.json.id}`);
    assert.equal(cNow.json.name, 'Ana M.');
    assert.equal(cNow.json.phone, '222');
    assert.equal(cNow.json.email, 'ana@example.com');
    assertNoErrors(errors);
    await other.close();
    await context.close();
  } finally {
    await server.cleanup();
  }
});

test('a rejected item shows the server\'s message and blocks only what depends on it', async () => {
  const server = await startServer();
  try {
    const { context, page, errors } = await openOn(browser, server);
    await signIn(page, server);
    await seedProduct(context, { sku: 'R-1', name: 'Último frasco', price: 800, stock: 1 });
    await seedProduct(context, { sku: 'R-2', name: 'Pan', price: 200, stock: 10 });
    await waitForProduct(page, 'R-2');
    await openTill(page, '0');
    await waitForBadge(page, 0);

    await context.setOffline(true);
    await sell(page, ['R-1', 'R-1', 'R-1']); // 3 of the last 1 in stock
    await sell(page, ['R-2'], { newCustomer: 'x'.repeat(300) }); // a name the server refuses
    await sell(page, ['R-2']);
    await waitForBadge(page, 4);
    await context.setOffline(false);

    await page.goto('/pending');
    await hydrated(page);
    // The independent sale went; the rejected sale and customer wait, and the customer's sale waits for it.
    await waitForBadge(page, 3);
    const failed = page.locator('[data-testid="pending-item"][data-state="failed"]');
    await failed.nth(1).waitFor();
    await failed.filter({ hasText: 'Último frasco' }).getByTestId('pending-error').filter({ hasText: /not enough stock/ }).waitFor();
    await failed.filter({ hasText: 'Cliente' }).getByTestId('pending-error').filter({ hasText: /at most/ }).waitFor();
    await page.locator('[data-testid="pending-item"][data-state="blocked"]').waitFor();
    assert.equal(await total(context, '/api/sales?limit=1'), 1);
    await screenshot(page, 'phone-pending-rejected');
    // The whole outbox, as a file the owner can keep or send to support.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-outbox').click()]);
    assert.match(download.suggestedFilename(), /^mostrador-pendientes-\d{4}-\d{2}-\d{2}\.json$/);
    const exported = JSON.parse(fs.readFileSync(await download.path(), 'utf8'));
    assert.deepEqual(exported.filter((i) => i.state !== 'done').map((i) => i.state).sort(), ['failed', 'failed', 'pending']);

    // Fix them: a real name, one frasco instead of three. Everything goes.
    const customer = failed.filter({ hasText: 'Cliente' });
    await customer.getByTestId('edit-item').click();
    await customer.locator('input[name="name"]').fill('Rosa');
    // The sale is fixed and sent while the customer's editor is open: that row, its editor and what
    // was typed in it stay (the list once rebuilt every row whenever any item changed).
    const sale = failed.filter({ hasText: 'Último frasco' });
    await sale.getByTestId('edit-item').click();
    await sale.getByTestId('edit-quantity').fill('1');
    await sale.getByTestId('resend-item').click();
    await waitForBadge(page, 2);
    assert.equal(await customer.locator('input[name="name"]').inputValue({ timeout: 2_000 }), 'Rosa');
    await customer.getByTestId('resend-item').click();
    await waitForBadge(page, 0);
    assert.equal(await total(context, '/api/sales?limit=1'), 3);
    const rosa = await api(context, 'GET', '/api/customers?q=Rosa');
    assert.equal(rosa.json.total, 1);
    assert.equal(await badgeCount(page), 0);
    assertNoErrors(errors);
    await context.close();
  } finally {
    await server.cleanup();
  }
});

test('an answer that set out before the network went away does not make the bar say "Conectado"', async () => {
  const server = await startServer();
  try {
    const { context, page, errors } = await openOn(browser, server);
    await signIn(page, server);
    await page.getByTestId('connection').filter({ hasText: 'Conectado' }).waitFor();
    // The next pull is answered by the server, but the answer is held until the browser is offline.
    let held;
    const heldNow = new Promise((resolve) => { held = resolve; });
    let release;
    const released = new Promise((resolve) => { release = resolve; });
    await page.route('**/api/sync/pull**', async (route) => {
      const response = await route.fetch();
      held();
      await released;
      await route.fulfill({ response });
    });
    await page.reload();
    await hydrated(page);
    await heldNow;
    await context.setOffline(true);
    await page.getByTestId('connection').filter({ hasText: 'Sin conexión' }).waitFor();
    const answered = page.waitForResponse((r) => r.url().includes('/api/sync/pull'));
    release();
    await answered;
    // The answer was a success, yet the network is gone: the bar keeps saying so.
    await page.waitForTimeout(500);
    assert.equal(await page.getByTestId('connection').getAttribute('data-state'), 'offline');
    await page.unrouteAll({ behavior: 'ignoreErrors' });
    await context.setOffline(false);
    await page.getByTestId('connection').filter({ hasText: 'Conectado' }).waitFor();
    assertNoErrors(errors);
    await context.close();
  } finally {
    await server.cleanup();
  }
});
