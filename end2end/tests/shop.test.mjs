// The shop's own details: an admin sets them on the settings page, a cashier's phone hears them with
// its next sync, and the receipt it prints offline carries them (not "Mostrador").

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
    await page.getByTestId('shop-save').click();
    await page.getByTestId('toast').filter({ hasText: 'Guardado' }).waitFor();
    const saved = await api(context, 'GET', '/api/settings');
    assert.equal(saved.json.name, 'Almacén Don Pepe');
    assert.equal(saved.json.version, 2);
    await screenshot(page, 'phone-shop-settings');

    // The phone syncs (its catalog and the shop's details), then sells with no connection.
    await waitForProduct(page, 'TK-1');
    await context.setOffline(true);
    await page.getByTestId('connection').filter({ hasText: 'Sin conexión' }).waitFor();
    await openTill(page, '0');
    await sell(page, ['TK-1']);
    await page.getByTestId('last-sale-receipt').click();
    await page.getByTestId('receipt').waitFor();
    assert.equal(await page.getByTestId('receipt-shop').innerText(), 'Almacén Don Pepe');
    await page.getByText('Av. Siempreviva 742').waitFor();
    const footer = await page.getByTestId('receipt-footer').innerText();
    assert.match(footer, /Cambios dentro de los 30 días\s+¡Gracias!/);
    await screenshot(page, 'phone-receipt-shop');
    await context.setOffline(false);
    assertNoErrors(errors);
    await context.close();
  } finally {
    await server.stop();
  }
});
