// What the browser tests share: a demo server of their own on a free port, in a fresh data
// folder, with Debian's chromium to drive it, and the few steps every journey takes (giving a
// demo user a password, signing in, screenshots in both languages). Not named *.test.mjs, so
// `node --test` does not run it on its own.
//
// Needs FENGQIAO_BIN (the fengqiao binary; default: ../target/debug/fengqiao) and Debian's
// chromium at /usr/bin/chromium.

import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const bin = process.env.FENGQIAO_BIN || join(repo, 'target', 'debug', 'fengqiao');
/** Where screenshots go, for every test file alike. */
export const shots = join(repo, 'target', 'e2e-screenshots');
/** The password `setPassword` gives and `signIn` types. */
export const PASSWORD = 'e2e-password-123';

function freePort() {
  return new Promise((ok, fail) => {
    const s = net.createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

async function waitHealthy(server, url, seconds) {
  for (let i = 0; i < seconds * 4; i++) {
    try {
      const r = await fetch(url + '/healthz');
      if (r.ok) return;
    } catch { /* not up yet */ }
    if (server.exitCode !== null) throw new Error('the server exited early with ' + server.exitCode);
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('the server did not become healthy');
}

/**
 * Registers the test file's before and after hooks: before, the demo county at `scale` is
 * served from a new temporary folder named `prefix`… and chromium is launched; after, both are
 * stopped and the folder removed. Returns the demo, whose `data`, `base` and `browser` are set
 * once the before hook has run.
 */
export function useDemo({ scale = '0.02', prefix = 'fengqiao-e2e-' } = {}) {
  let server;
  const demo = {
    /** The server's data folder. */
    data: undefined,
    /** The server's address, http://127.0.0.1:PORT. */
    base: undefined,
    browser: undefined,

    /** Gives a demo user a password, keeping their account as the demo made it. */
    async setPassword(id) {
      const r = await fetch(demo.base + '/api/v1/me', { headers: { authorization: 'Bearer demo-' + id } });
      assert.equal(r.status, 200, 'demo token of ' + id);
      const { user } = await r.json();
      const args = ['--data', demo.data, 'user', '--id', user.id, '--name', user.name, '--role', user.role, '--jurisdiction', user.jurisdiction, '--password-stdin'];
      if (user.unit) args.push('--unit', user.unit);
      execFileSync(bin, args, { input: PASSWORD + '\n', stdio: ['pipe', 'ignore', 'inherit'] });
      return user;
    },

    /**
     * Signs a staff user in at /login in a new desktop-sized context and returns the page on
     * their work list. With `problems` (an array), every console error, failed response and
     * uncaught page error from the start is pushed onto it, for the test to assert it stays
     * empty.
     */
    async signIn(user, { problems } = {}) {
      const ctx = await demo.browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await ctx.newPage();
      if (problems) {
        // A failed load is reported by its address (the browser's own favicon request aside).
        page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(m.text()); });
        page.on('response', (r) => { if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) problems.push(r.status() + ' ' + r.url()); });
        page.on('pageerror', (e) => problems.push(String(e)));
      }
      await page.goto(demo.base + '/login');
      await page.getByLabel('账号').fill(user);
      await page.getByLabel('密码').fill(PASSWORD);
      await page.getByRole('button', { name: '登录' }).click();
      await page.waitForURL(/\/work/);
      return page;
    },
  };

  before(async () => {
    assert.ok(existsSync(bin), 'no fengqiao binary at ' + bin + ' (set FENGQIAO_BIN)');
    mkdirSync(shots, { recursive: true });
    demo.data = mkdtempSync(join(tmpdir(), prefix));
    const port = await freePort();
    demo.base = 'http://127.0.0.1:' + port;
    server = spawn(bin, ['--data', demo.data, 'demo', '--scale', scale, '--listen', '127.0.0.1:' + port], { stdio: ['ignore', 'ignore', 'inherit'] });
    await waitHealthy(server, demo.base, 300);
    demo.browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });

  after(async () => {
    if (demo.browser) await demo.browser.close();
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
    }
    if (demo.data) rmSync(demo.data, { recursive: true, force: true });
  });

  return demo;
}

/** Screenshots the page in Chinese and in English, as shots/NAME-zh.png and NAME-en.png. */
export async function shoot(page, name) {
  for (const lang of ['zh', 'en']) {
    const url = new URL(page.url());
    url.searchParams.set('lang', lang);
    await page.goto(url.toString());
    await page.screenshot({ path: join(shots, `${name}-${lang}.png`), fullPage: true });
  }
  // Back to Chinese for the rest of the journey.
  const url = new URL(page.url());
  url.searchParams.set('lang', 'zh');
  await page.goto(url.toString());
}
