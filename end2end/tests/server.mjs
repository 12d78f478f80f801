// A Mostrador server of a test's own: the release binary on a port and a data dir of its own, for tests
// that stop, kill or restart the server (a new deployment, a crash while the outbox drains), which the
// shared server at BASE_URL must not suffer.
//
//   const server = await startServer();                 // free port, fresh data dir, random password
//   await server.kill('SIGKILL');                        // or server.stop() (SIGTERM, then SIGKILL)
//   await server.restart();                              // same port, same data dir, same password
//   await server.cleanup();                              // stops it and removes what it created
//   await startServer({ args: ['--tls-lan'], tls: true }); // extra CLI flags; `tls`: it answers https
//
// Environment: MOSTRADOR_BIN (default target/release/mostrador) and LEPTOS_SITE_ROOT (default
// target/site), relative paths taken from the repository root; DATABASE_URL is not passed on (SQLite in
// the data dir) unless `databaseUrl` is given.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const MOSTRADOR_BIN = path.resolve(REPO_ROOT, process.env.MOSTRADOR_BIN ?? 'target/release/mostrador');
export const SITE_ROOT = path.resolve(REPO_ROOT, process.env.LEPTOS_SITE_ROOT ?? 'target/site');

/** A TCP port nobody listens on right now (on 127.0.0.1). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A copy of the built site in a temp dir, to change files in (a "new deployment") without touching the real one. */
export function copySite(from = SITE_ROOT) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mostrador-site-'));
  fs.cpSync(from, dir, { recursive: true });
  return dir;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class TestServer {
  /**
   * @param {object} [options]
   * @param {number} [options.port]          default: a free port
   * @param {string} [options.dataDir]       default: a fresh temp dir, removed by cleanup()
   * @param {string} [options.siteRoot]      default: LEPTOS_SITE_ROOT
   * @param {string} [options.bin]           default: MOSTRADOR_BIN
   * @param {string} [options.adminPassword] default: random; MOSTRADOR_ADMIN_PASSWORD for the first start
   * @param {string} [options.databaseUrl]   default: none (SQLite in the data dir)
   * @param {object} [options.env]           extra environment variables
   * @param {string[]} [options.args]        extra command-line flags for `serve`
   * @param {boolean} [options.tls]          the flags turn https on: `url` and the health probe use it
   * @param {number} [options.healthTimeoutMs] default 30 s
   */
  constructor(options = {}) {
    this.options = options;
    this.bin = options.bin ?? MOSTRADOR_BIN;
    this.siteRoot = options.siteRoot ?? SITE_ROOT;
    this.port = options.port ?? null;
    this.ownsDataDir = !options.dataDir;
    this.workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mostrador-e2e-'));
    this.dataDir = options.dataDir ?? path.join(this.workDir, 'data');
    this.logPath = path.join(this.workDir, 'server.log');
    this.adminPassword = options.adminPassword ?? `pw-${crypto.randomBytes(9).toString('base64url')}`;
    this.healthTimeoutMs = options.healthTimeoutMs ?? 30_000;
    this.child = null;
    this.exited = null;
  }

  get url() {
    return `${this.options.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  get running() {
    return this.child !== null && this.exited === null;
  }

  /** Starts the binary and resolves once GET /health answers 200. */
  async start() {
    if (this.running) throw new Error('the server is already running');
    if (!fs.existsSync(this.bin)) throw new Error(`no server binary at ${this.bin} (cargo leptos build --release)`);
    this.port ??= await freePort();
    const env = { ...process.env, ...this.options.env };
    delete env.DATABASE_URL;
    if (this.options.databaseUrl) env.DATABASE_URL = this.options.databaseUrl;
    Object.assign(env, {
      MOSTRADOR_ADMIN_PASSWORD: this.adminPassword,
      LEPTOS_SITE_ROOT: this.siteRoot,
      MOSTRADOR_NO_LOG_FILE: 'true',
    });
    const log = fs.openSync(this.logPath, 'a');
    fs.writeSync(log, `\n--- start ${new Date().toISOString()} on ${this.url}\n`);
    const args = ['serve', '--addr', `127.0.0.1:${this.port}`, '--data-dir', this.dataDir, ...(this.options.args ?? [])];
    const child = spawn(this.bin, args, {
      env,
      cwd: REPO_ROOT,
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    this.child = child;
    this.exited = null;
    this.exitPromise = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exited = { code, signal };
        resolve(this.exited);
      });
    });
    await this.waitHealthy();
    return this;
  }

  async waitHealthy(timeoutMs = this.healthTimeoutMs) {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    for (;;) {
      if (this.exited) {
        throw new Error(`the server exited (${JSON.stringify(this.exited)}) before /health answered 200:\n${this.logs()}`);
      }
      try {
        const status = this.options.tls ? await httpsStatus(`${this.url}/health`) : (await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(2000) })).status;
        if (status === 200) return;
        last = `HTTP ${status}`;
      } catch (e) {
        last = e.message;
      }
      if (Date.now() > deadline) throw new Error(`GET ${this.url}/health: ${last} after ${timeoutMs} ms:\n${this.logs()}`);
      await sleep(100);
    }
  }

  /** Sends `signal` and waits for the process to exit; resolves to {code, signal}. */
  async kill(signal = 'SIGTERM', { timeoutMs = 20_000 } = {}) {
    if (!this.running) return this.exited;
    this.child.kill(signal);
    const result = await Promise.race([this.exitPromise, sleep(timeoutMs).then(() => null)]);
    if (!result) throw new Error(`the server did not exit within ${timeoutMs} ms of ${signal}`);
    return result;
  }

  /** SIGTERM (a graceful shutdown), SIGKILL if it has not exited after `timeoutMs`. */
  async stop({ timeoutMs = 20_000 } = {}) {
    if (!this.running) return this.exited;
    try {
      return await this.kill('SIGTERM', { timeoutMs });
    } catch {
      return this.kill('SIGKILL');
    }
  }

  /** Stops it if it runs (with `signal`, default SIGTERM) and starts it again on the same port and data dir. */
  async restart({ signal = 'SIGTERM' } = {}) {
    if (this.running) await (signal === 'SIGTERM' ? this.stop() : this.kill(signal));
    return this.start();
  }

  logs() {
    try {
      return fs.readFileSync(this.logPath, 'utf8').split('\n').slice(-60).join('\n');
    } catch {
      return '';
    }
  }

  /** Stops the server and removes the temp dir (and the data dir if this server created it). */
  async cleanup() {
    await this.stop().catch(() => this.kill('SIGKILL'));
    fs.rmSync(this.workDir, { recursive: true, force: true });
    if (!this.ownsDataDir) return;
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/**
 * The status of a GET over https without checking the certificate: only a readiness probe (a LAN-mode
 * server makes its CA at start, so there is nothing to trust before it answers; tests check the
 * certificate themselves).
 */
function httpsStatus(url) {
  return new Promise((resolve, reject) => {
    const request = https.get(url, { rejectUnauthorized: false, timeout: 2000 }, (response) => {
      response.resume();
      resolve(response.statusCode);
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', reject);
  });
}

/** new TestServer(options).start() */
export async function startServer(options = {}) {
  return new TestServer(options).start();
}
