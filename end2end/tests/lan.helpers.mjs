// Set-up for the LAN-mode tests (issue 17): a server that makes its own CA (`--tls-lan`), reached by a
// shop-like name (`tienda.test`, mapped to 127.0.0.1 inside Chromium), and Debian's Chromium trusting
// that CA the way a phone does after the "Connect a phone" steps.
//
// Chromium is told to trust the CA by its public key (`--ignore-certificate-errors-spki-list`, the
// base64 SHA-256 of its SubjectPublicKeyInfo): no NSS tools needed. That flag accepts any chain with the
// key in it, whatever names it carries, so `leafCovers` checks with Node's own TLS stack, against the CA
// alone, that the served certificate really is valid for the name (what a phone would verify).

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { chromium } from 'playwright-core';

import { CHROMIUM_ARGS, CHROMIUM_PATH, PHONE } from './helpers.mjs';

/** The shop's name in these tests; `PLAIN_HOST` is a second name for plain http (not a secure context). */
export const HOST = 'tienda.test';
export const PLAIN_HOST = 'caja.test';

/** The LAN CA a server made at its first start (PEM), from its data dir. */
export function caPem(server) {
  return fs.readFileSync(path.join(server.dataDir, 'lan-ca', 'ca.pem'), 'utf8');
}

/** `AB:CD:…`: SHA-256 of the certificate's DER, the way phones (and the admin page) show it. */
export function fingerprint(pem) {
  const der = new crypto.X509Certificate(pem).raw;
  return crypto.createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g).join(':');
}

/** What `--ignore-certificate-errors-spki-list` wants: base64 SHA-256 of the SubjectPublicKeyInfo. */
export function spkiHash(pem) {
  const spki = new crypto.X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return crypto.createHash('sha256').update(spki).digest('base64');
}

/**
 * Connects to 127.0.0.1:port asking for `name` (SNI) and trusting only `ca`; resolves to the
 * verification error, or null when the chain and the name check out.
 */
export function leafCovers(port, name, ca) {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: name, ca, rejectUnauthorized: false }, () => {
      const error = socket.authorized ? null : String(socket.authorizationError);
      // checkServerIdentity is not run with rejectUnauthorized false: run it on the peer certificate.
      const identity = tls.checkServerIdentity(name, socket.getPeerCertificate());
      socket.end();
      resolve(error ?? (identity ? identity.message : null));
    });
    socket.setTimeout(5000, () => socket.destroy(new Error('TLS handshake timed out')));
    socket.on('error', reject);
  });
}

/**
 * A persistent Chromium profile (only those can be installable) that resolves *.test to 127.0.0.1
 * and trusts the CA `ca` (PEM). Returns the context and a function that removes the profile.
 */
export async function launchTrusting(ca, { baseURL, viewport = PHONE, locale = 'es-ES' } = {}) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'mostrador-lan-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    args: [
      ...CHROMIUM_ARGS,
      `--host-resolver-rules=MAP ${HOST} 127.0.0.1, MAP ${PLAIN_HOST} 127.0.0.1`,
      `--ignore-certificate-errors-spki-list=${spkiHash(ca)}`,
    ],
    viewport,
    locale,
    baseURL,
  });
  const remove = async () => {
    await context.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { context, remove };
}

/**
 * An API call made by the page itself (same origin, its session cookie, through its service worker):
 * Playwright's own request client would not trust the shop's CA. Returns {status, json}.
 */
export function pageApi(page, method, url, body) {
  return page.evaluate(async ({ method, url, body }) => {
    const headers = { 'Content-Type': 'application/json' };
    if (method !== 'GET') headers['Idempotency-Key'] = crypto.randomUUID();
    const r = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      /* empty body */
    }
    return { status: r.status, json };
  }, { method, url, body });
}
