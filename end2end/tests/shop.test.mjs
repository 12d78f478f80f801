// The shop's own details: an admin sets them on the settings page, a cashier's phone hears them with
// its next sync, and the receipt it prints offline carries them (not "Mostrador"), in the shop's
// currency and with the shop's date (its time zone, not the phone's).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { assertNoErrors, hydrated, launch, screenshot } from './helpers.mjs';
import { api, openOn, openTill, seedProduct, sell, signIn, waitForProduct } from './offline.helpers.mjs';
import { startServer } from './server.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

// A zone whose date differs from UTC's (the phone's zone here) right now: 14 h ahead after 11:00 UTC,
// 12 h behind before.
function zoneOnAnotherDay() {
  return new Date().getUTCHours() >= 11 ? 'Pacific/Kiritimati' : 'Etc/GMT+12';
}

test("the shop's details set on the settings page are on a receipt printed offline", async () => {
  const server = await startServer();
  try {
    const { context, page, errors } = await openOn(browser, server);
    await signIn(page, server);
    await seedProduct(context, { sku: 'TK-1', name: 'Galletitas', price: 950, stock: 10 });

    await page.goto('/settings');
    await hydrated(page);
    // The form shows the current details once they have loaded.
    await page.waitForFunction(() => document.querySelector('[data-testid="shop-name"]')?.value === 'Mostrador');
    const name = page.getByTestId('shop-name');
    await name.fill('Almacén Don Pepe');
    await page.getByTestId('shop-address').fill('Av. Siempreviva 742');
    await page.getByTestId('shop-receipt_footer').fill('Cambios dentro de los 30 días\n¡Gracias!');
    const zone = zoneOnAnotherDay();
    await page.getByTestId('shop-currency').fill('EUR');
    await page.getByTestId('shop-locale').fill('es-ES');
    await page.getByTestId('shop-time_zone').fill(zone);
    await page.getByTestId('shop-save').click();
    await page.getByTestId('toast').filter({ hasText: 'Guardado' }).waitFor();
    const saved = await api(context, 'GET', '/api/settings');
    assert.equal(saved.json.name, 'Almacén Don Pepe');
    assert.equal(saved.json.version, 2);
    assert.deepEqual([saved.json.currency, saved.json.currency_symbol, saved.json.time_zone], ['EUR', '€', zone]);
    await screenshot(page, 'phone-shop-settings');

    await context.close();

    // Another phone, signed in afterwards: its first sync brings the catalog and the shop's details;
    // then it sells with no connection and prints the receipt.
    const phone = await openOn(browser, server);
    await signIn(phone.page, server);
    await waitForProduct(phone.page, 'TK-1');
    await phone.context.setOffline(true);
    await phone.page.getByTestId('connection').filter({ hasText: 'Sin conexión' }).waitFor();
    await openTill(phone.page, '0');
    await sell(phone.page, ['TK-1']);
    await phone.page.getByTestId('last-sale-receipt').click();
    await phone.page.getByTestId('receipt').waitFor();
    // Not "Mostrador": the settings this phone synced (its receipt loads them apart from the sale).
    await phone.page.getByTestId('receipt-shop').filter({ hasText: 'Almacén Don Pepe' }).waitFor();
    await phone.page.getByText('Av. Siempreviva 742').waitFor();
    const footer = await phone.page.getByTestId('receipt-footer').innerText();
    assert.match(footer, /Cambios dentro de los 30 días\s+¡Gracias!/);
    assert.equal(await phone.page.getByTestId('receipt-total').innerText(), '€ 9,50');
    const shopDate = new Intl.DateTimeFormat('es-ES', { timeZone: zone, dateStyle: 'short' }).format(new Date());
    const phoneDate = new Intl.DateTimeFormat('es-ES', { dateStyle: 'short' }).format(new Date());
    assert.notEqual(shopDate, phoneDate);
    const printed = await phone.page.getByTestId('receipt-date').innerText();
    assert.ok(printed.startsWith(`${shopDate},`), `${printed} is on the shop's day ${shopDate}`);
    await screenshot(phone.page, 'phone-receipt-shop');
    await phone.context.setOffline(false);
    assertNoErrors(errors);
    assertNoErrors(phone.errors);
    await phone.context.close();
  } finally {
    await server.stop();
  }
});
