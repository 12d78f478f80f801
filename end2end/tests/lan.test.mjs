// A real shop's phone (issue 17), in Debian's Chromium against servers of the test's own:
//  (1) LAN mode (`--tls-lan --tls-name tienda.test`) at https://tienda.test:PORT, its CA trusted the
//      way a phone trusts it: the page is a secure context, installable, controlled by the service
//      worker, and with the server stopped and the network off it opens and records a sale that is
//      sent once both come back; the run command printed the https addresses;
//  (2) the admin page "Conectar un teléfono" shows the QR code, the address, and the fingerprint of the
//      CA file; the download is that file; the certificate is valid for the name given;
//  (3) a plain-http address (not a secure context) shows the banner on every page, with the https
//      address the server gives, which opens with no banner; a server with no https says to ask for it,
//      and its "Conectar un teléfono" page says what to run.
// Plain http uses a name (caja.test), not 127.0.0.2: Chromium counts all of 127.0.0.0/8 as secure.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { assertNoErrors, hydrated, screenshot, SCREENSHOTS } from './helpers.mjs';
import { controlled, openTill, sell, signIn, waitForBadge, waitForProduct, watch } from './offline.helpers.mjs';
import { caPem, fingerprint, HOST, launchTrusting, leafCovers, pageApi, PLAIN_HOST } from './lan.helpers.mjs';
import { freePort, startServer } from './server.mjs';

let shop; // the LAN-mode server
let browser; // { context, remove }: the persistent profile that trusts the shop's CA
let origin;

before(async () => {
  shop = await startServer({ args: ['--tls-lan', '--tls-name', HOST], tls: true });
  origin = `https://${HOST}:${shop.port}`;
  browser = await launchTrusting(caPem(shop), { baseURL: origin });
});
after(async () => {
  await browser?.remove();
  await shop?.cleanup();
});

const isSecure = (page) => page.evaluate(() => window.isSecureContext);

test('LAN mode: https://tienda.test is secure, installable, controlled, and sells with the server and the network gone', async () => {
  // The run command says where phones go.
  const printed = fs.readFileSync(shop.logPath, 'utf8');
  assert.match(printed, new RegExp(`Mostrador listening on https://127\\.0\\.0\\.1:${shop.port}`));
  assert.ok(printed.includes(`phones open ${origin}/`), `the start does not print ${origin}/:\n${printed}`);

  const { context } = browser;
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20_000);
  const errors = watch(page);
  await page.goto('/login');
  await hydrated(page);
  assert.equal(await isSecure(page), true, 'https://tienda.test with the shop CA trusted is a secure context');
  await signIn(page, shop);

  const id = crypto.randomUUID();
  const product = await pageApi(page, 'POST', '/api/products', { id, sku: 'LAN-1', name: 'Mate', price_cents: 1500, cost_cents: 0 });
  assert.equal(product.status, 201, JSON.stringify(product.json));
  const stock = await pageApi(page, 'POST', '/api/inventory-movements', { id: crypto.randomUUID(), product_id: id, delta: 10, reason: 'purchase' });
  assert.equal(stock.status, 201, JSON.stringify(stock.json));
  await waitForProduct(page, 'LAN-1');
  await controlled(page);
  assert.equal(await page.getByTestId('insecure-banner').count(), 0, 'no banner on https');

  const cdp = await context.newCDPSession(page);
  const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
  assert.deepEqual(installabilityErrors, [], 'Chromium reports installability errors on the LAN address');
  await cdp.detach();

  // The server stops and the phone loses the network: the app still opens and sells.
  await shop.stop();
  await context.setOffline(true);
  await page.reload();
  await hydrated(page);
  await page.getByTestId('connection').filter({ hasText: 'Sin conexión' }).waitFor();
  await openTill(page, '0');
  await sell(page, ['LAN-1']);
  await waitForBadge(page, 2); // the till and the sale

  await shop.start();
  await context.setOffline(false);
  // The engine retries on its own; "send now" does not wait for its backoff.
  await page.getByTestId('send-now').click().catch(() => {});
  await waitForBadge(page, 0, 60_000);
  const sales = await pageApi(page, 'GET', '/api/sales?limit=1');
  assert.equal(sales.json.total, 1, JSON.stringify(sales.json));
  assertNoErrors(errors);
  await page.close();
});

test('"Conectar un teléfono" shows the QR code and the fingerprint of the CA file; the certificate covers the name', async () => {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(20_000);
  const errors = watch(page);
  await page.goto('/settings');
  await hydrated(page);
  await page.getByTestId('settings-phone').click();
  await page.waitForURL(/\/phone$/);

  await page.locator('[data-testid="phone-qr"] svg').waitFor();
  assert.equal(await page.getByTestId('phone-url').textContent(), `${origin}/`);
  const ca = caPem(shop);
  assert.equal(await page.getByTestId('phone-fingerprint').textContent(), fingerprint(ca));
  // The download is the CA file itself (DER).
  const href = await page.getByTestId('phone-ca-download').getAttribute('href');
  const served = await page.evaluate(async (url) => {
    const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
    return btoa(String.fromCharCode(...bytes));
  }, href);
  assert.deepEqual(Buffer.from(served, 'base64'), Buffer.from(new crypto.X509Certificate(ca).raw));
  await page.getByTestId('phone-steps-android').waitFor();
  await page.getByTestId('phone-steps-ios').waitFor();

  // What a phone that trusts only the CA checks: the chain, and the name given with --tls-name.
  assert.equal(await leafCovers(shop.port, HOST, ca), null);
  assert.notEqual(await leafCovers(shop.port, 'otra.test', ca), null, 'the check can fail');

  await screenshot(page, 'phone-connect');
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, 'phone-connect-full.png'), fullPage: true });
  assertNoErrors(errors);
  await page.close();
});

test('a plain-http address shows the banner on every page with the https address; https shows none', async () => {
  // A server reached over plain http whose public address is the shop's https one.
  const plain = await startServer({ env: { MOSTRADOR_PUBLIC_URL: origin } });
  // And one with no https anywhere, whose public address is its plain one (writes from a page at a
  // DNS name over plain http are refused otherwise: DNS rebinding).
  const barePort = await freePort();
  const bare = await startServer({ port: barePort, env: { MOSTRADOR_PUBLIC_URL: `http://${PLAIN_HOST}:${barePort}` } });
  const page = await browser.context.newPage();
  page.setDefaultTimeout(20_000);
  const errors = watch(page);
  try {
    for (const where of ['/login', '/products', '/sale']) {
      await page.goto(`http://${PLAIN_HOST}:${plain.port}${where}`);
      await hydrated(page);
      assert.equal(await isSecure(page), false, `${where} over plain http is not a secure context`);
      await page.getByTestId('insecure-banner').waitFor();
    }
    const link = page.getByTestId('insecure-url');
    assert.equal(await link.getAttribute('href'), origin);
    await screenshot(page, 'phone-insecure-banner');

    // The link opens the secure address, where there is no banner.
    await link.click();
    await page.waitForURL((url) => url.origin === origin);
    await hydrated(page);
    assert.equal(await isSecure(page), true);
    await page.getByTestId('login-title').or(page.getByTestId('user-name')).first().waitFor();
    assert.equal(await page.getByTestId('insecure-banner').count(), 0);

    // No https at all: the banner says to ask for it; the admin page says what to run.
    await page.goto(`http://${PLAIN_HOST}:${bare.port}/login`);
    await hydrated(page);
    await page.getByTestId('insecure-no-url').waitFor();
    await page.locator('input[name="username"]').fill('admin');
    await page.locator('input[name="password"]').fill(bare.adminPassword);
    await page.getByTestId('login-submit').click();
    await page.waitForURL(/\/products$/);
    await page.goto(`http://${PLAIN_HOST}:${bare.port}/phone`);
    await hydrated(page);
    await page.getByTestId('phone-no-tls').waitFor();
    assert.match(await page.getByTestId('phone-command').textContent(), /--tls-lan/);
    await page.getByTestId('insecure-banner').waitFor();
    await screenshot(page, 'phone-connect-no-tls');
    assertNoErrors(errors);
  } finally {
    await page.close();
    await plain.cleanup();
    await bare.cleanup();
  }
});
