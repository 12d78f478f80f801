// (1) The release wasm hydrates: a click on the language toggle changes the page's text. Without
// hydration the button is inert server HTML and this fails.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertNoErrors, goto, hydrated, launch, openPage } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('the login page hydrates and the language toggle works', async () => {
  const { context, page, errors } = await openPage(browser);
  const response = await goto(page, '/login');
  assert.equal(response.status(), 200);

  const title = page.getByTestId('login-title');
  assert.equal(await title.textContent(), 'Iniciar sesión', 'Spanish is the default');
  assert.equal(await page.locator('html').getAttribute('lang'), 'es');

  await page.getByTestId('lang-toggle').click();
  await title.filter({ hasText: 'Sign in' }).waitFor();
  assert.equal(await page.locator('label[for="password"]').textContent(), 'Password');
  assert.equal(await page.locator('html').getAttribute('lang'), 'en');

  // The choice is remembered in a cookie, so the server renders the next page in English already.
  const cookies = await context.cookies();
  assert.equal(cookies.find((c) => c.name === 'lang')?.value, 'en');
  const reloaded = await page.reload();
  assert.match(await reloaded.text(), /Sign in/);
  await hydrated(page);
  assert.equal(await title.textContent(), 'Sign in');

  await page.getByTestId('lang-toggle').click();
  await title.filter({ hasText: 'Iniciar sesión' }).waitFor();

  assertNoErrors(errors);
  await context.close();
});

test('a page that needs a session sends the visitor to /login', async () => {
  // The session check answers 401 on purpose here.
  const { context, page, errors } = await openPage(browser, { allowHttp: [401] });
  await goto(page, '/products');
  await page.waitForURL(/\/login$/);
  await page.getByTestId('login-title').waitFor();
  assertNoErrors(errors);
  await context.close();
});

test('wrong credentials are refused with a message', async () => {
  const { context, page, errors } = await openPage(browser, { allowHttp: [401] });
  await goto(page, '/login');
  // Not the admin: its login budget (5 a minute) is for the other tests.
  await page.locator('input[name="username"]').fill('nobody-here');
  await page.locator('input[name="password"]').fill('definitely-not-the-password');
  await page.getByTestId('login-submit').click();
  const message = page.getByTestId('login-error');
  await message.waitFor();
  assert.match(await message.textContent(), /incorrectos/);
  assert.match(page.url(), /\/login$/);
  assertNoErrors(errors);
  await context.close();
});
