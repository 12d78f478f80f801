// The till and stock page on a phone, against a server of the test's own: open with a float, cash in and
// out, an expense from the drawer, a stock movement with its reason, close with the counted cash and see
// the difference; every figure checked against the server.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { assertNoErrors, eventually, launch } from './helpers.mjs';
import { api, openOn, seedProduct, signIn, waitForProduct } from './offline.helpers.mjs';
import { startServer } from './server.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('the till: float, cash in and out, an expense, a stock movement, close with the difference', async () => {
  const server = await startServer();
  try {
    const { context, page, errors } = await openOn(browser, server);
    await signIn(page, server);
    const product = await seedProduct(context, { sku: 'CJ-1', name: 'Harina', price: 800, stock: 10 });
    await waitForProduct(page, 'CJ-1');
    await page.getByTestId('to-cash').click();
    await page.waitForURL(/\/cash$/);

    await page.locator('input[name="opening_float"]').fill('100');
    await page.getByTestId('open-till-button').click();
    await page.getByTestId('till-bar').waitFor();
    // Cash in 20, cash out 5, an expense of 3: the drawer should hold 112.
    await page.getByTestId('cash-amount').fill('20');
    await page.getByTestId('cash-reason').fill('cambio');
    await page.getByTestId('cash-movement-save').click();
    await page.getByTestId('cash-kind-out').check();
    await page.getByTestId('cash-amount').fill('5');
    await page.getByTestId('cash-reason').fill('al banco');
    await page.getByTestId('cash-movement-save').click();
    await page.getByTestId('expense-category').fill('limpieza');
    await page.getByTestId('expense-amount').fill('3');
    await page.getByTestId('expense-description').fill('lavandina');
    await page.getByTestId('expense-save').click();
    await page.getByTestId('expected-cash').filter({ hasText: '$ 112,00' }).waitFor();
    // Two units of flour broke.
    await page.getByTestId('stock-product').selectOption(product.id);
    await page.getByTestId('stock-delta').fill('-2');
    await page.getByTestId('stock-reason').selectOption('waste');
    await page.getByTestId('stock-save').click();

    // Everything reaches the server.
    await eventually(async () => {
      const moves = await api(context, 'GET', '/api/cash-movements');
      assert.deepEqual(moves.json.items.map((m) => [m.kind, m.amount_cents, m.reason]).sort(), [['in', 2000, 'cambio'], ['out', 500, 'al banco']]);
      const expenses = await api(context, 'GET', '/api/expenses');
      assert.equal(expenses.json.items[0].description, 'lavandina');
      const p = await api(context, 'GET', `/api/products/${product.id}`);
      assert.equal(p.json.stock, 8);
      const stock = await api(context, 'GET', '/api/inventory-movements');
      assert.ok(stock.json.items.some((m) => m.delta === -2 && m.reason === 'waste'));
    }, { timeout: 30_000, interval: 500 });
    await page.getByTestId('pending-badge').waitFor({ state: 'detached' });

    // Counted 110 against 112 expected: 2 short.
    await page.getByTestId('close-till').click();
    await page.locator('input[name="counted"]').fill('110');
    await page.getByTestId('confirm-close-till').click();
    await page.getByTestId('open-till').waitFor();
    await page.getByTestId('close-difference').filter({ hasText: '-$ 2,00' }).waitFor();
    await eventually(async () => {
      const s = await api(context, 'GET', '/api/cash-sessions?status=closed');
      assert.equal(s.json.items[0].expected_cents, 11200);
      assert.equal(s.json.items[0].difference_cents, -200);
    }, { timeout: 30_000, interval: 500 });
    assertNoErrors(errors);
    await context.close();
  } finally {
    await server.cleanup();
  }
});
