// (6) High availability in the browser: on a standby, the admin turns emergency mode on from the
// Sistema page; from then on every page (the sign-in page too) shows the red banner, and writes are
// accepted. Turning it off removes the banner. On a primary, the page shows its role and the newest
// backup.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CHROMIUM_ARGS, CHROMIUM_PATH, eventually, hydrated, PHONE, DESKTOP, screenshot } from './helpers.mjs';
import { startServer } from './server.mjs';
import { chromium } from 'playwright-core';

let browser;
let standby;
before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  standby = await startServer({ env: { MOSTRADOR_ROLE: 'standby', MOSTRADOR_HA_SECRET: 'q3ZJ0v5m1c6QeXW1JxU0yq0o8c1Wn3b8V1cB7kq3p0E', MOSTRADOR_NODE_NAME: 'reserva' } });
});
after(async () => {
  await browser?.close();
  await standby?.cleanup();
});

async function signedIn(server, viewport = PHONE) {
  const context = await browser.newContext({ baseURL: server.url, viewport, locale: 'es-ES' });
  const login = await context.request.post('/api/auth/login', { data: { username: 'admin', password: server.adminPassword } });
  assert.equal(login.status(), 200);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    // A refused write (503 standby_read_only) is logged by Chromium as a failed fetch: expected here.
    if (m.type() === 'error' && !/status of 503/.test(m.text())) errors.push(m.text());
  });
  return { context, page, errors };
}

async function open(page, url) {
  await page.goto(url);
  await hydrated(page);
}

test('a standby: emergency mode from the Sistema page puts a red banner on every page', async () => {
  const { context, page, errors } = await signedIn(standby);
  await open(page, '/system');
  await eventually(async () => assert.equal(await page.getByTestId('system-role').textContent(), 'En espera (solo lectura)'));
  assert.equal(await page.getByTestId('system-mode').textContent(), 'Normal');
  assert.equal(await page.getByTestId('emergency-banner').count(), 0);
  // Read-only until then.
  const refused = await context.request.post('/api/categories', { data: { name: 'Bebidas' } });
  assert.equal(refused.status(), 503);
  assert.equal((await refused.json()).error.code, 'standby_read_only');

  page.once('dialog', (d) => d.accept());
  await page.getByTestId('emergency-on').click();
  await eventually(async () => assert.equal(await page.getByTestId('system-mode').textContent(), 'Emergencia: toma ventas'));
  assert.match(await page.getByTestId('system-notice').textContent(), /Emergencia/);
  const accepted = await context.request.post('/api/categories', { data: { name: 'Bebidas' } });
  assert.equal(accepted.status(), 201);

  // Every page, and the sign-in page of someone not signed in.
  for (const url of ['/products', '/sale', '/system']) {
    await open(page, url);
    await eventually(async () => assert.match(await page.getByTestId('emergency-banner').textContent(), /MODO DE EMERGENCIA/));
  }
  await eventually(async () => assert.match(await page.getByTestId('system-unreconciled').textContent(), /sin reconciliar: 1/));
  await screenshot(page, 'system-standby-emergency-phone');
  const stranger = await browser.newContext({ baseURL: standby.url, viewport: PHONE });
  const loginPage = await stranger.newPage();
  await open(loginPage, '/login');
  await eventually(async () => assert.equal(await loginPage.getByTestId('emergency-banner').isVisible(), true));
  await stranger.close();

  // Off again: no banner after the next look at /health.
  await open(page, '/system');
  await page.getByTestId('emergency-off').click();
  await eventually(async () => assert.equal(await page.getByTestId('system-mode').textContent(), 'Normal'));
  await open(page, '/products');
  await page.getByTestId('user-name').waitFor();
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await page.getByTestId('emergency-banner').count(), 0);
  assert.deepEqual(errors, []);
  await context.close();
});

test('a primary: the Sistema page shows its role, database and newest backup', async () => {
  const primary = await startServer();
  try {
    const { context, page, errors } = await signedIn(primary, DESKTOP);
    assert.equal((await context.request.post('/api/backups', { data: {} })).status(), 201);
    await open(page, '/system');
    await eventually(async () => assert.equal(await page.getByTestId('system-role').textContent(), 'Principal'));
    assert.match(await page.getByTestId('system-database').textContent(), /Principal · sqlite/);
    assert.match(await page.getByTestId('system-backup').textContent(), /sin verificar/);
    assert.match(await page.getByTestId('system-shipping').textContent(), /No hay servidor en espera/);
    assert.equal(await page.getByTestId('emergency-on').count(), 0, 'no emergency toggle on a primary');
    await screenshot(page, 'system-primary-desktop');
    assert.deepEqual(errors, []);
    await context.close();
  } finally {
    await primary.cleanup();
  }
});
