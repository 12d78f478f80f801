// A sale with VAT and discounts made offline on a phone: a percentage off one line, an amount off
// another, an amount off the ticket, with a reason. The cart and the receipt printed offline show the
// figures the server keeps when the sale arrives (worked out by hand: see server/tests/api/taxes.rs,
// the same sale), and the sale is sent exactly once, with its stock and cash.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, test } from 'node:test';

import { assertNoErrors, eventually, launch, screenshot } from './helpers.mjs';
import { api, openOn, openTill, seedProduct, signIn, waitForBadge, waitForProduct } from './offline.helpers.mjs';
import { startServer } from './server.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('a sale with line and ticket discounts and VAT, made offline, prints and arrives with the same figures', async () => {
  const server = await startServer();
  try {
    const phone = await openOn(browser, server);
    await signIn(phone.page, server);
    const rate = async (name, rate_bp) => {
      const r = await api(phone.context, 'POST', '/api/tax-rates', { id: crypto.randomUUID(), name, rate_bp });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      return r.json.id;
    };
    const iva = await rate('IVA', 2100);
    const exempt = await rate('Exento', 0);
    const settings = await api(phone.context, 'GET', '/api/settings');
    const taxes = await api(phone.context, 'PUT', '/api/settings/taxes', {
      version: settings.json.version, prices_include_tax: true, default_tax_rate_id: iva, cashier_max_discount_bp: 1000,
    });
    assert.equal(taxes.status, 200, JSON.stringify(taxes.json));
    const yerba = await seedProduct(phone.context, { sku: 'DS-1', name: 'Yerba', price: 400, stock: 10 });
    const cafe = await seedProduct(phone.context, { sku: 'DS-2', name: 'Café', price: 500, stock: 10 });
    const p = await api(phone.context, 'PATCH', `/api/products/${cafe.id}`, { version: cafe.version, tax_rate_id: exempt });
    assert.equal(p.status, 200, JSON.stringify(p.json));
    await waitForProduct(phone.page, 'DS-2');
    await openTill(phone.page, '100');
    await waitForBadge(phone.page, 0);
    const till = (await api(phone.context, 'GET', '/api/cash-sessions?status=open')).json.items[0];

    await phone.context.setOffline(true);
    await phone.page.getByTestId('connection').filter({ hasText: 'Sin conexión' }).waitFor();
    const search = phone.page.getByTestId('sale-search');
    for (const sku of ['DS-1', 'DS-1', 'DS-1', 'DS-2']) {
      await search.fill(sku);
      await search.press('Enter');
    }
    const lines = phone.page.getByTestId('cart-line');
    await lines.nth(1).waitFor();
    // 10 % off the three yerbas (12,00 → 10,80), 0,50 off the café.
    const discount = async (n, text) => {
      await lines.nth(n).getByTestId('line-discount-toggle').click();
      const input = lines.nth(n).getByTestId('line-discount');
      await input.fill(text);
      await input.dispatchEvent('change');
    };
    await discount(0, '10%');
    await lines.nth(0).getByTestId('line-total').filter({ hasText: '10,80' }).waitFor();
    await discount(1, '0,50');
    await lines.nth(1).getByTestId('line-total').filter({ hasText: '4,50' }).waitFor();
    // Without a reason the sale is not charged.
    await phone.page.getByTestId('ticket-discount').fill('1,53');
    await phone.page.getByTestId('charge').click();
    await phone.page.getByTestId('sale-error').filter({ hasText: 'motivo' }).waitFor();
    await phone.page.getByTestId('discount-reason').fill('Cliente habitual');
    // 15,30 − 1,53 = 13,77, of which IVA 21 % on 9,72: 1,69.
    await phone.page.getByTestId('cart-total').filter({ hasText: '13,77' }).waitFor();
    assert.match(await phone.page.getByTestId('cart-discount').innerText(), /3,23/);
    assert.match(await phone.page.getByTestId('cart-tax').first().innerText(), /1,69/);
    await phone.page.getByTestId('charge').click();
    await phone.page.getByTestId('last-sale').filter({ hasText: '13,77' }).waitFor();
    await waitForBadge(phone.page, 1);

    // The receipt printed offline: each line's discount, the ticket's, why, the net and the VAT.
    await phone.page.getByTestId('last-sale-receipt').click();
    const receipt = phone.page.getByTestId('receipt');
    await receipt.waitFor();
    assert.equal(await receipt.getAttribute('data-state'), 'pending');
    assert.equal(await phone.page.getByTestId('receipt-line-discount').count(), 2);
    assert.match(await phone.page.getByTestId('receipt-line-discount').first().innerText(), /Descuento 10 %\s+-?\$?\s?-?1,20/);
    assert.match(await phone.page.getByTestId('receipt-ticket-discount').innerText(), /1,53/);
    assert.equal(await phone.page.getByTestId('receipt-discount-reason').innerText(), 'Cliente habitual');
    assert.match(await phone.page.getByTestId('receipt-net').innerText(), /12,08/);
    assert.match(await phone.page.getByTestId('receipt-tax').first().innerText(), /1,69/);
    assert.match(await phone.page.getByTestId('receipt-total').innerText(), /13,77/);
    await screenshot(phone.page, 'phone-receipt-discounts');

    // Back online: sent once, with the same figures, the stock and the till's cash.
    await phone.context.setOffline(false);
    await waitForBadge(phone.page, 0);
    await eventually(async () => {
      const sales = await api(phone.context, 'GET', '/api/sales');
      assert.equal(sales.json.total, 1);
      const s = sales.json.items[0];
      assert.deepEqual(
        [s.subtotal_cents, s.discount_cents, s.net_cents, s.tax_cents, s.total_cents, s.discount_reason],
        [1700, 323, 1208, 169, 1377, 'Cliente habitual'],
      );
      assert.deepEqual(s.taxes, [{ name: 'IVA', rate_bp: 2100, net_cents: 803, tax_cents: 169 },
        { name: 'Exento', rate_bp: 0, net_cents: 405, tax_cents: 0 }]);
      assert.equal((await api(phone.context, 'GET', `/api/products/${yerba.id}`)).json.stock, 7);
      assert.equal((await api(phone.context, 'GET', `/api/products/${cafe.id}`)).json.stock, 9);
      const t = await api(phone.context, 'GET', `/api/cash-sessions/${till.id}`);
      assert.equal(t.json.expected_cents, 10000 + 1377);
    }, { timeout: 30_000, interval: 500 });
    await phone.page.getByTestId('receipt').and(phone.page.locator('[data-state="sent"]')).waitFor();
    await phone.page.goto('/sales');
    await phone.page.getByTestId('sales-row-tax').filter({ hasText: 'IVA 21 %' }).waitFor();
    assertNoErrors(phone.errors);
    await phone.context.close();
  } finally {
    await server.cleanup();
  }
});
