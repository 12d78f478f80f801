// Benchmark of the offline path in real Chromium, on a server of its own (release build):
//   1. record N sales offline through the sale screen (scan + Cobrar): time per sale, UI to IndexedDB;
//   2. go online: time until the outbox is empty (push batches of 100, then a pull);
//   3. baseline in the same run: the same N sales as N sequential POST /api/sales from Node.
// Writes its numbers to stdout as Markdown for BENCHMARKS.md; asserts nothing about speed.
//
//   cd end2end && ADMIN_PASSWORD=x node bench/outbox.mjs [N]

import crypto from 'node:crypto';

import { launch } from '../tests/helpers.mjs';
import { api, openOn, openTill, seedProduct, sell, signIn, waitForBadge, waitForProduct } from '../tests/offline.helpers.mjs';
import { startServer } from '../tests/server.mjs';

const N = Number(process.argv[2] ?? 200);
const server = await startServer();
const browser = await launch();
try {
  const { context, page } = await openOn(browser, server);
  await signIn(page, server);
  const product = await seedProduct(context, { sku: 'B-1', name: 'Bench', price: 100, stock: 10 * N });
  await waitForProduct(page, 'B-1');
  await openTill(page, '0');
  await waitForBadge(page, 0);

  await context.setOffline(true);
  let t = performance.now();
  const each = [];
  for (let i = 0; i < N; i++) {
    const s = performance.now();
    await sell(page, ['B-1']);
    each.push(performance.now() - s);
  }
  await waitForBadge(page, N, 120_000);
  const record = performance.now() - t;
  const avg = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const first = avg(each.slice(0, 20));
  const last = avg(each.slice(-20));

  t = performance.now();
  await context.setOffline(false);
  await waitForBadge(page, 0, 300_000);
  const drain = performance.now() - t;

  const sessions = await api(context, 'GET', '/api/cash-sessions');
  const session = sessions.json.items[0].id;
  t = performance.now();
  for (let i = 0; i < N; i++) {
    const r = await api(context, 'POST', '/api/sales', {
      id: crypto.randomUUID(), cash_session_id: session,
      lines: [{ product_id: product.id, quantity: 1 }], payments: [{ method: 'cash', amount_cents: 100 }],
    });
    if (r.status !== 201) throw new Error(JSON.stringify(r.json));
  }
  const single = performance.now() - t;

  const ms = (x) => `${x.toFixed(0)} ms`;
  console.log(`| sales | record offline (UI → IndexedDB) | per sale: first 20 / last 20 | drain when back online | ${N} single POSTs from Node | drain / single |`);
  console.log('| --- | --- | --- | --- | --- | --- |');
  console.log(`| ${N} | ${ms(record)} | ${first.toFixed(0)} ms / ${last.toFixed(0)} ms | ${ms(drain)} | ${ms(single)} | ${(drain / single).toFixed(2)}× |`);
} finally {
  await browser.close();
  await server.cleanup();
}
