// (2) On a 360 px phone: an admin creates a category and a product, finds it by searching, edits its
// price, then loses a race against a second device and resolves the version conflict; and logs out.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  apiLogin,
  assertNoErrors,
  DESKTOP,
  eventually,
  goto,
  launch,
  login,
  openPage,
  PHONE,
  screenshot,
  unique,
} from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function openProduct(page, name) {
  await goto(page, `/products?q=${encodeURIComponent(name)}`);
  await page.getByTestId('row').filter({ hasText: name }).click();
  await page.waitForURL(/\/products\/[0-9a-f-]{36}$/);
  // The form is filled once the row has loaded.
  await eventually(async () => assert.equal(await page.locator('input[name="name"]').inputValue(), name));
}

test('catalog on a phone: create, search, edit, conflict, logout', async () => {
  const id = unique();
  const category = `Bebidas ${id}`;
  const product = `Yerba mate ${id}`;
  const sku = `YM-${id}`.toUpperCase();

  // A stale save answers 409 on purpose.
  const { context, page, errors } = await openPage(browser, { viewport: PHONE, allowHttp: [409] });
  await login(page);

  // A category.
  await page.getByTestId('nav-categories').click();
  await page.waitForURL(/\/categories$/);
  await page.getByTestId('new-button').click();
  await page.waitForURL(/\/categories\/new$/);
  await page.locator('input[name="name"]').fill(category);
  await page.locator('textarea[name="description"]').fill('Frías y calientes');
  await page.getByTestId('save').click();
  await page.waitForURL(/\/categories$/);
  await page.getByTestId('row').filter({ hasText: category }).waitFor();

  // A product: first with mistakes, which are shown beside their fields.
  await page.getByTestId('nav-products').click();
  await page.waitForURL(/\/products$/);
  await page.getByTestId('new-button').click();
  await page.waitForURL(/\/products\/new$/);
  await page.locator('input[name="price"]').fill('12,505');
  await page.getByTestId('save').click();
  await page.getByTestId('error-name').waitFor();
  await page.getByTestId('error-sku').waitFor();
  assert.match(await page.getByTestId('error-price').textContent(), /12,50/);

  await page.locator('input[name="name"]').fill(product);
  await page.locator('input[name="sku"]').fill(sku);
  await page.locator('input[name="price"]').fill('12,50');
  await page.locator('input[name="cost"]').fill('8');
  await page.locator('input[name="barcode"]').fill('7790001000012');
  await page.locator('select[name="category_id"]').selectOption({ label: category });
  await page.getByTestId('save').click();
  await page.waitForURL(/\/products$/);

  // Search as you type: the list narrows to the new product and the query lands in the URL.
  await page.getByTestId('search').fill(id);
  await page.waitForURL(new RegExp(`[?&]q=${id}`));
  const row = page.getByTestId('row').filter({ hasText: product });
  await row.waitFor();
  await eventually(async () => assert.equal(await page.getByTestId('row').count(), 1));
  assert.equal(await row.getByTestId('row-price').textContent(), '$ 12,50');
  await page.getByTestId('search').blur();
  await page.getByTestId('toast').waitFor({ state: 'detached' });
  await screenshot(page, 'phone-product-list');

  // Edit the price.
  await row.click();
  await page.waitForURL(/\/products\/[0-9a-f-]{36}$/);
  const productUrl = page.url();
  await eventually(async () => assert.equal(await page.locator('input[name="price"]').inputValue(), '12,50'));
  assert.equal(await page.locator('select[name="category_id"] option:checked').textContent(), category);
  await screenshot(page, 'phone-product-edit');
  await page.locator('input[name="price"]').fill('13,75');
  await page.getByTestId('save').click();
  await page.waitForURL(/\/products(\?.*)?$/);
  await eventually(async () =>
    assert.equal(await page.getByTestId('row').filter({ hasText: product }).getByTestId('row-price').textContent(), '$ 13,75'),
  );

  // Stale edit: this phone opens the product, another device saves first.
  await goto(page, productUrl);
  await eventually(async () => assert.equal(await page.locator('input[name="price"]').inputValue(), '13,75'));

  const other = await openPage(browser, { viewport: DESKTOP });
  await apiLogin(other.context);
  await openProduct(other.page, product);
  await other.page.locator('input[name="price"]').fill('15,00');
  await other.page.getByTestId('save').click();
  await other.page.waitForURL(/\/products(\?.*)?$/);
  await other.page.getByTestId('row').filter({ hasText: product }).waitFor();
  assertNoErrors(other.errors);

  await page.locator('input[name="price"]').fill('14,00');
  await page.getByTestId('save').click();
  const conflict = page.getByTestId('conflict');
  await conflict.waitFor();
  const priceRow = page.getByTestId('conflict-price');
  assert.equal(await priceRow.getByTestId('conflict-mine').textContent(), '$ 14,00');
  assert.equal(await priceRow.getByTestId('conflict-server').textContent(), '$ 15,00');
  await conflict.scrollIntoViewIfNeeded();
  await screenshot(page, 'phone-conflict');

  // "Keep mine": resent on top of the server's version.
  await page.getByTestId('keep-mine').click();
  await page.waitForURL(/\/products(\?.*)?$/);
  await goto(page, `/products?q=${id}`);
  await eventually(async () =>
    assert.equal(await page.getByTestId('row').filter({ hasText: product }).getByTestId('row-price').textContent(), '$ 14,00'),
  );

  // Another race, resolved the other way: "take the server's" reloads the form with its values.
  await goto(page, productUrl);
  await eventually(async () => assert.equal(await page.locator('input[name="price"]').inputValue(), '14,00'));
  await openProduct(other.page, product);
  await other.page.locator('input[name="name"]').fill(`${product} 1 kg`);
  await other.page.getByTestId('save').click();
  await other.page.waitForURL(/\/products(\?.*)?$/);
  await page.locator('input[name="name"]').fill(`${product} 500 g`);
  await page.getByTestId('save').click();
  await page.getByTestId('conflict').waitFor();
  assert.equal(await page.getByTestId('conflict-name').getByTestId('conflict-server').textContent(), `${product} 1 kg`);
  await page.getByTestId('take-server').click();
  await page.getByTestId('conflict').waitFor({ state: 'detached' });
  assert.equal(await page.locator('input[name="name"]').inputValue(), `${product} 1 kg`);
  assert.equal(await page.locator('input[name="price"]').inputValue(), '14,00');

  // The desktop layout, for the record.
  await goto(other.page, `/products?q=${encodeURIComponent(id)}`);
  await other.page.getByTestId('row').first().waitFor();
  await screenshot(other.page, 'desktop-product-list');
  assertNoErrors(other.errors);
  await other.context.close();

  // Log out: back to /login, and the session is gone.
  await page.getByTestId('logout').click();
  await page.waitForURL(/\/login$/);
  const me = await page.request.get('/api/auth/me');
  assert.equal(me.status(), 401);

  assertNoErrors(errors);
  await context.close();
});

test('deleting asks for confirmation first', async () => {
  const id = unique();
  const name = `Cliente ${id}`;
  const { context, page, errors } = await openPage(browser, { viewport: PHONE });
  await apiLogin(context);
  await goto(page, '/customers');
  await page.getByTestId('new-button').click();
  await page.locator('input[name="name"]').fill(name);
  await page.locator('input[name="email"]').fill(`c${id}@example.com`);
  await page.getByTestId('save').click();
  await page.waitForURL(/\/customers$/);

  await page.getByTestId('search').fill(id);
  await page.getByTestId('row').filter({ hasText: name }).click();
  await eventually(async () => assert.equal(await page.locator('input[name="name"]').inputValue(), name));
  await page.getByTestId('delete').click();
  const confirm = page.getByTestId('confirm-delete');
  await confirm.waitFor();
  assert.match(await confirm.textContent(), new RegExp(name));
  await page.getByTestId('confirm-delete-yes').click();
  await page.waitForURL(/\/customers(\?.*)?$/);

  await page.getByTestId('search').fill(id);
  await page.getByTestId('empty').waitFor();
  assertNoErrors(errors);
  await context.close();
});
