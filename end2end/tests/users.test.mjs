// (3) An admin creates a cashier; the cashier signs in and does not get the Users screen.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { apiLogin, assertNoErrors, DESKTOP, eventually, goto, launch, login, openPage, PHONE } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('an admin creates a cashier, who does not see Usuarios', async () => {
  const suffix = Date.now().toString(36);
  const username = `cajero_${suffix}`;
  const password = `Caja-${suffix}-segura`;

  const admin = await openPage(browser, { viewport: DESKTOP });
  await apiLogin(admin.context);
  await goto(admin.page, '/products');
  await admin.page.getByTestId('nav-users').click();
  await admin.page.waitForURL(/\/users$/);
  await admin.page.getByTestId('new-user').click();
  const form = admin.page.getByTestId('user-create-form');
  await form.locator('input[name="username"]').fill(username);
  await form.locator('input[name="password"]').fill(password);
  await form.locator('select[name="role"]').selectOption('cashier');
  await form.getByTestId('create-user').click();
  const row = admin.page.locator(`[data-testid="user-row"][data-username="${username}"]`);
  await row.waitFor();
  assert.equal(await row.getByTestId('user-role-badge').textContent(), 'Cajero');
  await form.waitFor({ state: 'detached' });

  const cashier = await openPage(browser, { viewport: PHONE, allowHttp: [403] });
  await login(cashier.page, username, password);
  await cashier.page.getByTestId('nav-products').waitFor();
  assert.equal(await cashier.page.getByTestId('nav-users').count(), 0, 'a cashier has no Usuarios link');
  // Typing the address does not help either.
  await goto(cashier.page, '/users');
  await cashier.page.getByTestId('forbidden').waitFor();

  // The admin deactivates the cashier: the account is marked inactive.
  await row.getByTestId('edit-user').click();
  await row.getByTestId('toggle-active').click();
  await eventually(async () => assert.match(await row.textContent(), /Inactivo/));

  assertNoErrors(admin.errors);
  assertNoErrors(cashier.errors);
  await admin.context.close();
  await cashier.context.close();
});
