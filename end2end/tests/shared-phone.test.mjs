// A phone several people share (issue #12, point 6), in real Chromium against a server of the test's own:
// a sign-out made offline forgets the user at once, asks for a password even offline, and ends the
// server's session when the network is back; one user's unsent items are never sent under another
// user's session, nor resent, edited or discarded by them; and "wipe this device's data on sign-out"
// refuses to sign out while that user's items are unsent, then wipes.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { apiLogin, assertNoErrors, eventually, hydrated, launch, login, screenshot } from './helpers.mjs';
import {
  api, badgeCount, controlled, openOn, openTill, seedProduct, sell, signIn, total, waitForBadge, waitForProduct,
} from './offline.helpers.mjs';
import { startServer } from './server.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** `GET /api/auth/me` with exactly these cookies, from outside the browser: what a stolen cookie gets. */
async function meWith(server, cookies) {
  const header = cookies.map((c) => `${c.name}=${c.value}`).join('; ');
  const r = await fetch(`${server.url}/api/auth/me`, { headers: { cookie: header }, signal: AbortSignal.timeout(5000) });
  return r.status;
}

/** An admin's API session of its own (a separate cookie jar), for seeding and for looking. */
async function adminApi(server) {
  const context = await browser.newContext({ baseURL: server.url });
  await apiLogin(context, 'admin', server.adminPassword);
  return context;
}

async function createCashier(admin, username, password) {
  const r = await api(admin, 'POST', '/api/users', { username, password, role: 'cashier' });
  assert.equal(r.status, 201, JSON.stringify(r.json));
}

/** Counts of rows in the app's IndexedDB stores. */
function localCounts(page, stores) {
  return page.evaluate((names) => new Promise((resolve, reject) => {
    const open = indexedDB.open('mostrador');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const tx = db.transaction(names, 'readonly');
      const out = {};
      for (const name of names) {
        const r = tx.objectStore(name).count();
        r.onsuccess = () => { out[name] = r.result; };
      }
      tx.oncomplete = () => { db.close(); resolve(out); };
      tx.onerror = () => reject(tx.error);
    };
  }), stores);
}

test('a sign-out made offline asks for a password at once and ends the server session when the network is back', async () => {
  const server = await startServer();
  try {
    const { context, page, errors } = await openOn(browser, server);
    await signIn(page, server);
    await seedProduct(context, { sku: 'LO-1', name: 'Yerba', price: 2500, stock: 5 });
    await waitForProduct(page, 'LO-1');
    await controlled(page);
    await page.goto('/products');
    await hydrated(page);
    const cookies = await context.cookies();
    assert.equal(await meWith(server, cookies), 200);

    // No network, and no server either: once in a full CI run the sign-out's request reached the server
    // through Chromium's offline emulation (the page is controlled by the service worker), so the
    // server is really out of reach until the check below.
    await context.setOffline(true);
    await server.stop();
    await page.getByTestId('connection').filter({ hasText: 'Sin conexión' }).waitFor();
    await page.getByTestId('logout').click();
    await page.waitForURL(/\/login$/);
    await page.getByTestId('login-form').waitFor();
    // Opening the app again, still offline: the password, not the last user's screens.
    await page.goto('/products');
    await page.waitForURL(/\/login$/);
    await page.getByTestId('login-form').waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem('mostrador_user')), null);
    await screenshot(page, 'phone-login-after-offline-logout');
    // The server cannot know yet: the cookie still works from anywhere.
    await server.start();
    assert.equal(await meWith(server, cookies), 200);

    // Back online, the page itself ends the session (no one signs in, no one reloads).
    await context.setOffline(false);
    await eventually(async () => assert.equal(await meWith(server, cookies), 401), { timeout: 20_000 });
    assert.equal((await api(context, 'GET', '/api/auth/me')).status, 401);
    await page.goto('/products');
    await page.waitForURL(/\/login$/);
    // And signing in again works as usual.
    await signIn(page, server);
    assertNoErrors(errors);
    await context.close();
  } finally {
    await server.cleanup();
  }
});

test("a second user on the same browser cannot send, edit or discard the first user's items, and sees them waiting", async () => {
  const server = await startServer();
  try {
    const admin = await adminApi(server);
    await createCashier(admin, 'ana', 'ana-secret-1');
    await createCashier(admin, 'beto', 'beto-secret-1');
    await seedProduct(admin, { sku: 'SP-1', name: 'Mate cocido', price: 900, stock: 10 });

    const { context, page, errors } = await openOn(browser, server);
    await login(page, 'ana', 'ana-secret-1');
    await waitForProduct(page, 'SP-1');
    await controlled(page);

    // Ana works offline: a till and a sale wait in the outbox.
    await context.setOffline(true);
    await page.getByTestId('connection').filter({ hasText: 'Sin conexión' }).waitFor();
    await openTill(page, '50');
    await sell(page, ['SP-1']);
    await waitForBadge(page, 2);

    // Meanwhile Beto signs in on this browser (another tab): the cookie is now his.
    await apiLogin(context, 'beto', 'beto-secret-1');

    // The network comes back to Ana's tab, which still shows Ana. Whatever it does, it must not
    // send her items with Beto's cookie: wait until either her sale reaches the server (the bug)
    // or the tab has found out the session is Beto's.
    await context.setOffline(false);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if ((await total(admin, '/api/sales?limit=1')) > 0) break;
      if (await page.getByTestId('user-name').filter({ hasText: 'beto' }).count()) break;
      if (Date.now() > deadline) throw new Error("Ana's tab neither sent her sale nor noticed Beto's session");
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await total(admin, '/api/sales?limit=1'), 0, "Ana's sale was sent under Beto's session");
    assert.equal(await total(admin, '/api/cash-sessions?limit=1'), 0, "Ana's till was opened under Beto's session");
    await page.getByTestId('user-name').filter({ hasText: 'beto' }).waitFor();

    // Beto sees whose items wait, and has no button to resend, edit or discard them.
    await page.getByTestId('nav-pending').click();
    await page.waitForURL(/\/pending$/);
    await page.getByTestId('other-users-pending').filter({ hasText: 'ana' }).waitFor();
    await page.getByTestId('pending-item').nth(1).waitFor();
    assert.equal(await page.getByTestId('pending-item').count(), 2);
    assert.equal(await page.getByTestId('pending-other-user').filter({ hasText: 'ana' }).count(), 2);
    for (const id of ['discard-item', 'retry-item', 'edit-item', 'keep-mine']) {
      assert.equal(await page.getByTestId(id).count(), 0, `${id} is offered for another user's item`);
    }
    await screenshot(page, 'phone-pending-other-user');
    // "Send now" sends only Beto's (none): the drain and the pull that follows leave Ana's alone.
    const pulled = page.waitForResponse((r) => r.url().includes('/api/sync/pull'), { timeout: 30_000 });
    await page.getByTestId('send-all').click();
    await pulled;
    assert.equal(await total(admin, '/api/sales?limit=1'), 0);
    assert.equal(await badgeCount(page), 2);

    // Beto leaves, Ana comes back: her items go, as hers.
    await page.getByTestId('logout').click();
    await page.waitForURL(/\/login$/);
    await login(page, 'ana', 'ana-secret-1');
    await waitForBadge(page, 0);
    const sales = await api(admin, 'GET', '/api/sales?limit=10');
    assert.equal(sales.json.total, 1);
    assert.equal(sales.json.items[0].created_by, 'ana');
    assertNoErrors(errors);
    await context.close();
    await admin.close();
  } finally {
    await server.cleanup();
  }
});

test("someone who signs in between the tab's session check and its push gets nothing of the first user's: the server refuses it", async () => {
  const server = await startServer();
  let admin = null;
  let context = null;
  try {
    admin = await adminApi(server);
    await createCashier(admin, 'ana', 'ana-secret-1');
    await createCashier(admin, 'beto', 'beto-secret-1');
    await seedProduct(admin, { sku: 'SP-2', name: 'Alfajor', price: 700, stock: 10 });

    const opened = await openOn(browser, server);
    context = opened.context;
    const { page, errors } = opened;
    await login(page, 'ana', 'ana-secret-1');
    await waitForProduct(page, 'SP-2');
    await controlled(page);
    await context.setOffline(true);
    await page.getByTestId('connection').filter({ hasText: 'Sin conexión' }).waitFor();
    await openTill(page, '50');
    await sell(page, ['SP-2']);
    await waitForBadge(page, 2);

    // Ana's tab checks the session (hers) and pushes; Beto signs in on this browser just then, so the
    // push leaves with his cookie: the race the tab's own check cannot close.
    let raced = 0;
    await page.route('**/api/sync/push', async (route) => {
      if (raced++ === 0) {
        await apiLogin(context, 'beto', 'beto-secret-1');
        const cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
        await route.continue({ headers: { ...route.request().headers(), cookie } });
      } else {
        await route.continue();
      }
    });
    await context.setOffline(false);
    await page.getByTestId('send-now').click({ timeout: 2000 }).catch(() => {});
    // Wait until either her sale reaches the server (the bug) or the tab has found out the session is Beto's.
    const deadline = Date.now() + 30_000;
    while ((await total(admin, '/api/sales?limit=1')) === 0
      && (await page.getByTestId('user-name').filter({ hasText: 'beto' }).count()) === 0) {
      if (Date.now() > deadline) throw new Error("Ana's tab neither sent her sale nor noticed Beto's session");
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(raced >= 1, 'no push left the tab');
    assert.equal(await total(admin, '/api/sales?limit=1'), 0, "Ana's sale was recorded under Beto's session");
    assert.equal(await total(admin, '/api/cash-sessions?limit=1'), 0, "Ana's till was opened under Beto's session");
    // Her items wait as they were (not "Rechazado"), and go as hers once she is back.
    assert.equal(await badgeCount(page), 2);
    await page.unroute('**/api/sync/push');
    await page.getByTestId('logout').click();
    await page.waitForURL(/\/login$/);
    await login(page, 'ana', 'ana-secret-1');
    await waitForBadge(page, 0);
    const sales = await api(admin, 'GET', '/api/sales?limit=10');
    assert.equal(sales.json.total, 1);
    assert.equal(sales.json.items[0].created_by, 'ana');
    assertNoErrors(errors);
  } finally {
    await context?.close();
    await admin?.close();
    await server.cleanup();
  }
});

test("wipe on sign-out: an admin's device setting that refuses while the user's items are unsent, then wipes", async () => {
  const server = await startServer();
  try {
    const admin = await adminApi(server);
    await createCashier(admin, 'caja', 'caja-secret-1');
    const { context, page, errors } = await openOn(browser, server);
    await signIn(page, server);
    await seedProduct(context, { sku: 'WP-1', name: 'Azúcar', price: 1200, stock: 10 });
    await waitForProduct(page, 'WP-1');
    await controlled(page);

    await page.getByTestId('nav-settings').click();
    await page.waitForURL(/\/settings$/);
    const wipe = page.getByTestId('wipe-on-logout');
    await wipe.check();
    assert.equal(await wipe.isChecked(), true);
    await page.getByTestId('shared-device').scrollIntoViewIfNeeded();
    await screenshot(page, 'phone-settings-wipe-on-logout');

    // Offline, a till is opened: signing out would lose it, so it is refused, and says why.
    await page.getByTestId('nav-sale').click();
    await page.waitForURL(/\/sale$/);
    await context.setOffline(true);
    await page.getByTestId('connection').filter({ hasText: 'Sin conexión' }).waitFor();
    await openTill(page, '20');
    await waitForBadge(page, 1);
    await page.getByTestId('logout').click();
    await page.getByTestId('logout-refused').filter({ hasText: '1 operaciones sin enviar' }).waitFor();
    await screenshot(page, 'phone-logout-refused');
    assert.match(page.url(), /\/sale$/);
    await page.getByTestId('user-name').filter({ hasText: 'admin' }).waitFor();
    assert.ok((await localCounts(page, ['products'])).products > 0);

    // Sent, the sign-out goes through and the shop's data leaves the device.
    await context.setOffline(false);
    await waitForBadge(page, 0);
    await page.getByTestId('logout').click();
    await page.waitForURL(/\/login$/);
    const counts = await localCounts(page, ['products', 'sales', 'cash_sessions', 'meta']);
    assert.deepEqual(counts, { products: 0, sales: 0, cash_sessions: 0, meta: 0 });
    assert.equal(await page.evaluate(() => localStorage.getItem('mostrador_user')), null);
    await eventually(async () => assert.equal((await api(context, 'GET', '/api/auth/me')).status, 401));

    // A cashier sees that the device wipes, but cannot change it.
    await login(page, 'caja', 'caja-secret-1');
    await page.goto('/settings');
    await hydrated(page);
    await page.getByTestId('wipe-on-logout-is-on').waitFor();
    assert.equal(await page.getByTestId('wipe-on-logout').count(), 0);
    assertNoErrors(errors);
    await context.close();
    await admin.close();
  } finally {
    await server.cleanup();
  }
});
