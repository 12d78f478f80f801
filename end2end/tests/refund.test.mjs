// A return and a mistake at the counter, offline on a phone: one unit of a sale is refunded in cash
// (its own receipt says so and names the sale), another sale is voided while its till is open. Back
// online, each reaches the server exactly once, with the stock and the till's cash right.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { assertNoErrors, eventually, launch, screenshot } from './helpers.mjs';
import { api, openOn, openTill, seedProduct, sell, signIn, waitForBadge, waitForProduct } from './offline.helpers.mjs';
import { startServer } from './server.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('a refund of one unit and a void, made offline, arrive once with the right stock and cash', async () => {
  const server = await startServer();
  try {
    const phone = await openOn(browser, server);
    await signIn(phone.page, server);
    const yerba = await seedProduct(phone.context, { sku: 'RF-1', name: 'Yerba', price: 1200, stock: 10 });
    await waitForProduct(phone.page, 'RF-1');
    await openTill(phone.page, '100');
    await waitForBadge(phone.page, 0);
    const till = (await api(phone.context, 'GET', '/api/cash-sessions?status=open')).json.items[0];

    await phone.context.setOffline(true);
    await phone.page.getByTestId('connection').filter({ hasText: 'Sin conexión' }).waitFor();
    // Two yerbas (24,00 cash), then one more by mistake (12,00).
    await sell(phone.page, ['RF-1', 'RF-1']);
    await phone.page.getByTestId('last-sale').waitFor();
    const first = await phone.page.getByTestId('last-sale-receipt').getAttribute('href');
    await sell(phone.page, ['RF-1']);
    const mistake = await phone.page.getByTestId('last-sale-receipt').getAttribute('href');
    assert.notEqual(first, mistake);
    await waitForBadge(phone.page, 2);

    // The customer brings one yerba back: refunded in cash, from the open till. The sale's receipt,
    // printed offline, carries the number this phone's register gave it.
    await phone.page.goto(first);
    assert.equal(await phone.page.getByTestId('receipt-number').innerText(), 'Ticket C1-000001');
    await phone.page.getByTestId('refund-open').click();
    await phone.page.getByTestId('refund-qty').fill('1');
    await phone.page.getByTestId('refund-reason').fill('Vencida');
    await phone.page.getByTestId('refund-total').filter({ hasText: '12,00' }).waitFor();
    await phone.page.getByTestId('refund-submit').click();
    await phone.page.waitForURL(/\/refund\//);
    await phone.page.getByTestId('refund-receipt').waitFor();
    assert.equal(await phone.page.getByTestId('refund-title').innerText(), 'DEVOLUCIÓN');
    const saleShort = first.split('/').pop().slice(0, 8).toUpperCase();
    assert.match(await phone.page.getByTestId('refund-original').innerText(), new RegExp(`De la venta ${saleShort}`));
    assert.match(await phone.page.getByTestId('refund-receipt-total').innerText(), /12,00/);
    assert.equal(await phone.page.getByTestId('refund-number').innerText(), 'Ticket C1-000003');
    await screenshot(phone.page, 'phone-refund-receipt');
    await waitForBadge(phone.page, 3);
    // Only one unit is left to give back on that sale.
    await phone.page.goto(first);
    await phone.page.getByTestId('refund-open').click();
    assert.match(await phone.page.getByTestId('refund-line').innerText(), /Se pueden devolver: 1/);

    // The sale rung up by mistake is voided while its till is open.
    await phone.page.goto(mistake);
    await phone.page.getByTestId('void-open').click();
    await phone.page.getByTestId('void-reason').fill('Cobrada dos veces');
    await phone.page.getByTestId('void-confirm').click();
    await waitForBadge(phone.page, 4);
    // Offline, the till already counts 100 + 24 − 12 = 112,00 (the stock is checked on the server below).
    await phone.page.goto('/sale');
    await phone.page.getByTestId('expected-cash').filter({ hasText: '112,00' }).waitFor();

    // Back online: each once.
    await phone.context.setOffline(false);
    await waitForBadge(phone.page, 0);
    await eventually(async () => {
      const sales = await api(phone.context, 'GET', '/api/sales');
      assert.equal(sales.json.total, 2);
      const voided = sales.json.items.filter((s) => s.voided_at);
      assert.equal(voided.length, 1);
      assert.equal(voided[0].void_reason, 'Cobrada dos veces');
      const refunds = await api(phone.context, 'GET', '/api/refunds');
      assert.equal(refunds.json.total, 1);
      assert.deepEqual([refunds.json.items[0].total_cents, refunds.json.items[0].reason], [1200, 'Vencida']);
      // The numbers given offline are the ones kept: gapless for this register, sales and refunds alike.
      assert.deepEqual(sales.json.items.map((s) => s.receipt_no).sort(), ['C1-000001', 'C1-000002']);
      assert.equal(refunds.json.items[0].receipt_no, 'C1-000003');
      assert.equal((await api(phone.context, 'GET', `/api/products/${yerba.id}`)).json.stock, 9);
      const t = await api(phone.context, 'GET', `/api/cash-sessions/${till.id}`);
      assert.equal(t.json.expected_cents, 10000 + 2400 - 1200);
    }, { timeout: 30_000, interval: 500 });
    // The X report of the open till, then the till closed and its Z report, printed on an 80 mm roll:
    // the figures the server summed (one sale of 24,00, one refund of 12,00, one voided sale).
    await phone.page.goto('/sale');
    await phone.page.getByTestId('x-report-link').click();
    await phone.page.getByTestId('till-report').and(phone.page.locator('[data-kind="x"]')).waitFor();
    assert.match(await phone.page.getByTestId('report-sales').innerText(), /24,00/);
    await phone.page.goto('/sale');
    await phone.page.getByTestId('close-till').click();
    await phone.page.locator('input[name="counted"]').fill('112');
    await phone.page.getByTestId('confirm-close-till').click();
    await waitForBadge(phone.page, 0);
    await phone.page.goto('/cash');
    await phone.page.getByTestId('z-report-link').click();
    const report = phone.page.getByTestId('till-report');
    await report.and(phone.page.locator('[data-kind="z"]')).waitFor();
    assert.equal(await phone.page.getByTestId('report-title').innerText(), 'Informe Z (cierre)');
    assert.match(await phone.page.getByTestId('report-sales').innerText(), /24,00/);
    assert.match(await phone.page.getByTestId('report-refunds').innerText(), /12,00/);
    assert.match(await phone.page.getByTestId('report-expected').innerText(), /112,00/);
    assert.match(await phone.page.getByTestId('report-counted').innerText(), /112,00/);
    assert.match(await phone.page.getByTestId('report-difference').innerText(), /0,00/);
    assert.equal(await phone.page.getByTestId('report-numbers').innerText(), 'C1-000001 – C1-000003');
    await phone.page.emulateMedia({ media: 'print' });
    await screenshot(phone.page, 'phone-z-report-print');
    await phone.page.getByTestId('paper-58').evaluate((e) => e.click());
    assert.match(await report.getAttribute('class'), /paper-58/);
    await phone.page.emulateMedia({ media: 'screen' });
    assertNoErrors(phone.errors);
    await phone.context.close();
  } finally {
    await server.cleanup();
  }
});
