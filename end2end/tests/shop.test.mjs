// The shop's own details: an admin sets them on the settings page, a cashier's phone hears them with
// its next sync, and the receipt it prints offline carries them (not "Mostrador"), in the shop's
// currency and with the shop's date (its time zone, not the phone's).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { crc32, deflateSync } from 'node:zlib';

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

// A small PNG logo, drawn here: a dark bar with the shop's initials as blocks (an "M" and a "P").
function logoPng(width = 192, height = 64) {
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3, 255); // filter byte 0, then white RGB pixels
    row[0] = 0;
    for (let x = 0; x < width; x++) {
      const bar = y > 8 && y < 56 && x > 8 && x < 184;
      const glyph = (x > 40 && x < 48) || (x > 72 && x < 80) || (y > 16 && y < 24 && x > 40 && x < 80)
        || (x > 112 && x < 120) || (y > 16 && y < 24 && x > 112 && x < 148) || (y > 32 && y < 40 && x > 112 && x < 148)
        || (x > 140 && x < 148 && y > 16 && y < 40);
      const shade = bar ? (glyph && y > 16 && y < 48 ? 255 : 20) : 255;
      row.fill(shade, 1 + x * 3, 4 + x * 3);
    }
    rows.push(row);
  }
  const chunk = (type, data) => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([head, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

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
    // The logo is sent as soon as it is chosen (the texts were saved just before: no conflict).
    const png = logoPng();
    await page.getByTestId('shop-logo').setInputFiles({ name: 'logo.png', mimeType: 'image/png', buffer: png });
    await page.getByTestId('shop-logo-preview').waitFor();
    const saved = await api(context, 'GET', '/api/settings');
    assert.equal(saved.json.name, 'Almacén Don Pepe');
    assert.equal(saved.json.version, 3);
    assert.equal(saved.json.logo, `data:image/png;base64,${png.toString('base64')}`);
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
    // The logo came with the settings: it prints with no connection.
    assert.equal(await phone.page.getByTestId('receipt-logo').getAttribute('src'), saved.json.logo);
    assert.ok(await phone.page.getByTestId('receipt-logo').evaluate((img) => img.complete && img.naturalWidth === 192));
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
