// Moving the shop to another machine (issue 17, point 5), the way the README's "Moving the phones to
// another machine" says: a phone on https://tienda.test:PORT (LAN mode, the shop's CA trusted) sells
// offline; the old server stops; its backup and its `lan-ca/` are copied into a new data dir, restored
// there, and a new server starts on the same name and port. While nothing answers the phone says the
// server is unreachable and keeps its outbox; once the new server answers it asks the cashier to sign in
// again (sessions never travel in a backup) and then sends what it held, once. No new trust, no new
// install: the same origin, the same service worker.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { assertNoErrors, hydrated } from './helpers.mjs';
import { controlled, openTill, sell, signIn, waitForBadge, waitForProduct, watch } from './offline.helpers.mjs';
import { caPem, HOST, launchTrusting, leafCovers, pageApi } from './lan.helpers.mjs';
import { MOSTRADOR_BIN, startServer } from './server.mjs';

const LAN = ['--tls-lan', '--tls-name', HOST];

/** `mostrador backup …` on a stopped server's data dir (SQLite), as the operator runs it. */
function backupCli(...args) {
  const env = { ...process.env, MOSTRADOR_NO_LOG_FILE: 'true' };
  delete env.DATABASE_URL;
  return execFileSync(MOSTRADOR_BIN, ['backup', ...args], { env, encoding: 'utf8', timeout: 120_000 });
}

test('the shop moves to a new machine: phones keep their outbox, their trust and their app, and send once', async () => {
  const old = await startServer({ args: LAN, tls: true });
  const origin = `https://${HOST}:${old.port}`;
  const ca = caPem(old);
  const phone = await launchTrusting(ca, { baseURL: origin });
  const newDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mostrador-e2e-moved-'));
  let moved = null;
  try {
    const page = phone.context.pages()[0] ?? (await phone.context.newPage());
    page.setDefaultTimeout(20_000);
    const errors = watch(page);
    await signIn(page, old);
    const id = crypto.randomUUID();
    const product = await pageApi(page, 'POST', '/api/products', { id, sku: 'MV-1', name: 'Yerba', price_cents: 2500, cost_cents: 0 });
    assert.equal(product.status, 201, JSON.stringify(product.json));
    const stock = await pageApi(page, 'POST', '/api/inventory-movements', { id: crypto.randomUUID(), product_id: id, delta: 5, reason: 'purchase' });
    assert.equal(stock.status, 201, JSON.stringify(stock.json));
    await waitForProduct(page, 'MV-1');
    await controlled(page, old);

    // The phone sells with no network: the till and the sale wait in its outbox.
    await phone.context.setOffline(true);
    await openTill(page, '0');
    await sell(page, ['MV-1']);
    await waitForBadge(page, 2);

    // The move: the old machine stops; its newest backup and its CA go to the new one.
    await old.stop();
    const created = backupCli('create', '--data-dir', old.dataDir);
    const backupId = /^created (\S+)/m.exec(created)?.[1];
    assert.ok(backupId, `no backup id in: ${created}`);
    fs.mkdirSync(path.join(newDataDir, 'backups'), { recursive: true });
    for (const name of [`${backupId}.db.zst`, `${backupId}.json`]) {
      fs.copyFileSync(path.join(old.dataDir, 'backups', name), path.join(newDataDir, 'backups', name));
    }
    fs.cpSync(path.join(old.dataDir, 'lan-ca'), path.join(newDataDir, 'lan-ca'), { recursive: true });
    backupCli('restore', backupId, '--data-dir', newDataDir);

    // Meanwhile the name points nowhere: the phone is back on the network and says so, holding its items.
    await phone.context.setOffline(false);
    await page.getByTestId('send-now').click({ timeout: 2000 }).catch(() => {});
    await page.getByTestId('connection').filter({ hasText: 'Servidor no disponible' }).waitFor();
    assert.equal(await page.getByTestId('pending-badge').textContent(), '2');

    // The new machine answers on the same name and port with a certificate of the same CA.
    moved = await startServer({ port: old.port, dataDir: newDataDir, args: LAN, tls: true, adminPassword: old.adminPassword });
    assert.equal(caPem(moved), ca, 'the new machine kept the shop CA');
    assert.equal(await leafCovers(moved.port, HOST, ca), null, 'the new certificate is valid for the name under the same CA');

    // Sessions do not travel: the phone's first send gets 401 and the app asks the cashier to sign in.
    await page.getByTestId('send-now').click({ timeout: 2000 }).catch(() => {});
    await page.waitForURL(/\/login/, { timeout: 60_000 });
    await signIn(page, old);
    await page.getByTestId('send-now').click({ timeout: 2000 }).catch(() => {});
    await waitForBadge(page, 0, 60_000);

    const sales = await pageApi(page, 'GET', '/api/sales?limit=5');
    assert.equal(sales.status, 200, JSON.stringify(sales.json));
    assert.equal(sales.json.total, 1, `one sale on the new machine: ${JSON.stringify(sales.json)}`);
    const products = await pageApi(page, 'GET', '/api/products?q=MV-1');
    assert.equal(products.json.items[0].stock, 4, 'the restored stock, less the one sold');
    // Still the same installed app: the worker of the first visit controls the page.
    assert.equal(await page.evaluate(() => navigator.serviceWorker.controller !== null), true);
    assertNoErrors(errors);
  } finally {
    await phone.remove();
    await moved?.cleanup();
    await old.cleanup();
    fs.rmSync(newDataDir, { recursive: true, force: true });
  }
});
