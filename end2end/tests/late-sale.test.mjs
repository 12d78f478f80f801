// A sale made offline into a till that another device closes meanwhile is never lost: when the phone
// is back online the sale is sent (not failed), marked as arrived after the close, and the closed till
// shows it beside its counted figures; the owner gets an alert.

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

test('a sale made offline into a till closed meanwhile is sent and listed on that till', async () => {
  const server = await startServer();
  try {
    const phone = await openOn(browser, server);
    await signIn(phone.page, server);
    const product = await seedProduct(phone.context, { sku: 'LT-1', name: 'Yerba', price: 1200, stock: 10 });
    await waitForProduct(phone.page, 'LT-1');
    await openTill(phone.page, '100');
    await waitForBadge(phone.page, 0);
    const open = await api(phone.context, 'GET', '/api/cash-sessions?status=open');
    const till = open.json.items[0];

    // The phone loses its connection and sells 12,00 in cash.
    await phone.context.setOffline(true);
    await phone.page.getByTestId('connection').filter({ hasText: 'Sin conexión' }).waitFor();
    await sell(phone.page, ['LT-1']);
    await waitForBadge(phone.page, 1);

    // Meanwhile the owner closes that till from the office, counting 112,00 (the phone's sale's cash
    // was already in the drawer, so 12,00 over what the server expected).
    const office = await openOn(browser, server);
    await signIn(office.page, server);
    const closed = await api(office.context, 'POST', `/api/cash-sessions/${till.id}/close`, { counted_cents: 11200 });
    assert.equal(closed.status, 200);
    assert.equal(closed.json.difference_cents, 1200);

    // Back online: the sale goes through, exactly once, into the closed till.
    await phone.context.setOffline(false);
    await waitForBadge(phone.page, 0);
    await eventually(async () => {
      const sales = await api(office.context, 'GET', '/api/sales');
      assert.equal(sales.json.total, 1);
      assert.equal(sales.json.items[0].after_close, true);
      assert.equal(sales.json.items[0].cash_session_id, till.id);
      const p = await api(office.context, 'GET', `/api/products/${product.id}`);
      assert.equal(p.json.stock, 9);
      const t = await api(office.context, 'GET', `/api/cash-sessions/${till.id}`);
      assert.deepEqual([t.json.late_sales, t.json.late_cash_cents, t.json.difference_cents], [1, 1200, 1200]);
      const alerts = await api(office.context, 'GET', '/api/alerts');
      assert.ok(alerts.json.some((a) => a.kind === 'late_sale_after_close'));
    }, { timeout: 30_000, interval: 500 });

    // The phone's till page shows the late sale beside the close, and the difference without it.
    await phone.page.goto('/cash');
    const late = phone.page.getByTestId('late-sales');
    await late.filter({ hasText: 'diferencia sin ellas: $ 0,00' }).waitFor();
    assert.match(await late.innerText(), /Ventas llegadas después del cierre: 1 · su efectivo: \$ 12,00/);
    await screenshot(phone.page, 'phone-late-sale');
    await phone.page.goto('/sales');
    await phone.page.getByTestId('sales-row').filter({ hasText: 'Enviada después del cierre de su caja' }).waitFor();
    assertNoErrors(phone.errors);
    assertNoErrors(office.errors);
    await office.context.close();
    await phone.context.close();
  } finally {
    await server.cleanup();
  }
});
