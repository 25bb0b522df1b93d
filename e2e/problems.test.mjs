// End to end in a real browser: a supervisor reads a demo problem's before-and-after figures,
// opens a new problem from cases chosen in a filtered list and moves it to analysis, and an
// administrator registers a webhook. Screenshots of each page in both languages go to
// target/e2e-screenshots/.
//
// Needs FENGQIAO_BIN (the fengqiao binary; default: ../target/debug/fengqiao) and Debian's
// chromium at /usr/bin/chromium. Run with `node --test` in this folder.

import { test, before, after } from 'node:test';
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
const shots = join(repo, 'target', 'e2e-screenshots');
const PASSWORD = 'e2e-password-123';

let data, server, base, browser;

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

async function waitHealthy(url, seconds) {
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

/** Gives a demo user a password, keeping their account as the demo made it. */
async function setPassword(id) {
  const r = await fetch(base + '/api/v1/me', { headers: { authorization: 'Bearer demo-' + id } });
  assert.equal(r.status, 200, 'demo token of ' + id);
  const { user } = await r.json();
  const args = ['--data', data, 'user', '--id', user.id, '--name', user.name, '--role', user.role, '--jurisdiction', user.jurisdiction, '--password-stdin'];
  if (user.unit) args.push('--unit', user.unit);
  execFileSync(bin, args, { input: PASSWORD + '\n', stdio: ['pipe', 'ignore', 'inherit'] });
  return user;
}

before(async () => {
  assert.ok(existsSync(bin), 'no fengqiao binary at ' + bin + ' (set FENGQIAO_BIN)');
  mkdirSync(shots, { recursive: true });
  data = mkdtempSync(join(tmpdir(), 'fengqiao-e2e-problems-'));
  const port = await freePort();
  base = 'http://127.0.0.1:' + port;
  server = spawn(bin, ['--data', data, 'demo', '--scale', '0.05', '--listen', '127.0.0.1:' + port], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitHealthy(base, 300);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
  if (data) rmSync(data, { recursive: true, force: true });
});

async function shoot(page, name) {
  for (const lang of ['zh', 'en']) {
    const url = new URL(page.url());
    url.searchParams.set('lang', lang);
    await page.goto(url.toString());
    await page.screenshot({ path: join(shots, `${name}-${lang}.png`), fullPage: true });
  }
  const url = new URL(page.url());
  url.searchParams.set('lang', 'zh');
  await page.goto(url.toString());
}

async function signIn(user) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await page.goto(base + '/login');
  await page.getByLabel('账号').fill(user);
  await page.getByLabel('密码').fill(PASSWORD);
  await page.getByRole('button', { name: '登录' }).click();
  await page.waitForURL(/\/work/);
  return page;
}

test('a problem is read, opened from chosen cases and moved on; a webhook is registered', { timeout: 600_000 }, async () => {
  await setPassword('county-supervisor');
  const sup = await signIn('county-supervisor');

  // The demo's problems, and the first one's before-and-after table.
  await sup.getByRole('link', { name: '问题治理' }).click();
  await sup.waitForURL(/\/problems$/);
  assert.ok(await sup.locator('#problems tbody tr').count() >= 1, 'the demo has problems');
  await shoot(sup, 'problems');
  await sup.goto(base + '/problems/1');
  assert.equal(await sup.locator('#stage').textContent(), '响应');
  assert.equal(await sup.locator('#before-after tbody tr').count(), 8, 'cases and seven rates');
  assert.match(await sup.locator('#before-after tbody tr').first().locator('td').first().textContent(), /^\d+$/);
  await shoot(sup, 'problem');

  // A new problem from the cases a filter finds: all ticked, one unticked.
  await sup.goto(base + '/problems/new');
  await sup.locator('#n-category').selectOption('neighbour');
  await Promise.all([sup.waitForURL(/category=neighbour/), sup.getByRole('button', { name: '查找案件' }).click()]);
  const boxes = sup.locator('#candidates input[name=case]');
  const n = await boxes.count();
  assert.ok(n >= 2, 'the filter finds neighbour disputes');
  await shoot(sup, 'problem-new');
  await boxes.nth(1).uncheck();
  await sup.locator('#n-title').fill('邻里纠纷集中');
  await Promise.all([sup.waitForURL(/\/problems\/\d+$/), sup.getByRole('button', { name: '建立问题' }).click()]);
  assert.equal(await sup.locator('#stage').textContent(), '扫描');
  assert.equal(await sup.locator('#cases a').count(), n - 1, 'the unticked case was left out');
  await sup.locator('#adv-note').fill('同一村社反复发生');
  await Promise.all([sup.waitForLoadState('load'), sup.locator('#advance-form button[type=submit]').click()]);
  await sup.locator('#stage', { hasText: '分析' }).waitFor();
  assert.ok((await sup.locator('#history').textContent()).includes('同一村社反复发生'));

  // The administrator registers a webhook; its secret is never shown again.
  await setPassword('admin');
  const admin = await signIn('admin');
  await admin.goto(base + '/admin/webhooks');
  await admin.locator('#h-name').fill('12345 热线');
  await admin.locator('#h-url').fill('http://127.0.0.1:9/hook');
  await admin.locator('#h-secret').fill('e2e-webhook-secret-0123');
  await admin.getByLabel('案件受理').check();
  await admin.getByLabel('超期').check();
  await Promise.all([admin.waitForURL(/saved=/), admin.getByRole('button', { name: '添加订阅' }).click()]);
  assert.equal(await admin.locator('#hooks tbody tr').count(), 1);
  assert.ok(!(await admin.content()).includes('e2e-webhook-secret-0123'));
  await shoot(admin, 'admin-webhooks');
});
