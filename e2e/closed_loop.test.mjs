// End to end in a real browser: a resident reports, intake files and dispatches, the police
// station accepts and resolves, intake records the return visit and closes, and the
// supervisor's dashboard counts the case. Screenshots of every page in both languages go to
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
  data = mkdtempSync(join(tmpdir(), 'fengqiao-e2e-'));
  const port = await freePort();
  base = 'http://127.0.0.1:' + port;
  server = spawn(bin, ['--data', data, 'demo', '--scale', '0.02', '--listen', '127.0.0.1:' + port], { stdio: ['ignore', 'ignore', 'inherit'] });
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
  // Back to Chinese for the rest of the journey.
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

async function act(page, action, fill) {
  const form = page.locator('#act-' + action);
  await form.waitFor();
  if (fill) await fill(form);
  await Promise.all([page.waitForURL(/done=/), form.locator('button[type=submit]').click()]);
  await assert.doesNotReject(page.locator('#flash').waitFor());
}

async function cohort(page) {
  await page.goto(base + '/dashboard?days=30');
  return Number(await page.locator('#kpi-cohort').textContent());
}

test('a report goes round the closed loop and shows on the dashboard', { timeout: 600_000 }, async () => {
  const intakeUser = await setPassword('town03-intake');
  const police = await setPassword('town03-police');
  await setPassword('county-supervisor');
  const town = intakeUser.jurisdiction.slice(0, 9);

  const supervisor = await signIn('county-supervisor');
  const before = await cohort(supervisor);

  // The resident, on a phone-sized screen.
  const resident = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
  await resident.goto(base + '/');
  await shoot(resident, 'landing');
  await resident.getByRole('link', { name: '我要反映问题' }).click();
  await shoot(resident, 'report');
  await resident.locator('#category').selectOption('street_light');
  await resident.locator('#description').fill('村口路灯连续三晚不亮，行人不便。');
  const village = await resident.locator(`#region option[value^="${town}"]:not([value$="000"])`).first().getAttribute('value');
  await resident.locator('#region').selectOption(village);
  await resident.locator('.pickmap svg').click();
  assert.match(await resident.locator('#lat').inputValue(), /^\d+\.\d+$/, 'the map click set the latitude');
  assert.match(await resident.locator('#lon').inputValue(), /^\d+\.\d+$/, 'the map click set the longitude');
  await resident.locator('#name').fill('王五');
  await resident.locator('#phone').fill('13800138000');
  const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000' + '1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082', 'hex');
  await resident.locator('#photo').setInputFiles({ name: 'lamp.png', mimeType: 'image/png', buffer: png });
  await resident.getByRole('button', { name: '提交' }).click();
  const code = (await resident.locator('#tracking-code').textContent()).trim();
  assert.match(code, /^[0-9A-Z]{12}$/);
  await resident.screenshot({ path: join(shots, 'report-done-zh.png'), fullPage: true });
  // The same page in English, from an anonymous report by another resident.
  const english = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
  await english.goto(base + '/report?lang=en');
  await english.locator('#category').selectOption('noise');
  await english.getByLabel('Night').check();
  await english.locator('#description').fill('Loud music every night after midnight.');
  await english.locator('#region').selectOption(village);
  await english.locator('#anonymous').check();
  await english.getByRole('button', { name: 'Submit' }).click();
  assert.match((await english.locator('#tracking-code').textContent()).trim(), /^[0-9A-Z]{12}$/);
  await english.screenshot({ path: join(shots, 'report-done-en.png'), fullPage: true });

  await resident.getByRole('link', { name: '查看进度' }).click();
  assert.equal(await resident.locator('#status').textContent(), '已接收');
  await shoot(resident, 'track');

  // Intake files and dispatches to the town's police station.
  const intake = await signIn('town03-intake');
  await intake.locator('#f-q').fill(code);
  await intake.locator('#f-q').press('Enter');
  await intake.getByRole('link', { name: /村口路灯/ }).first().click();
  await intake.waitForURL(/\/cases\/\d+$/);
  const caseUrl = intake.url();
  await shoot(intake, 'case-received');
  await act(intake, 'file');
  await act(intake, 'dispatch', (f) => f.locator('select[name=lead_unit]').selectOption(police.unit));
  assert.equal(await intake.locator('#case-status').textContent(), '已分派');

  // The police station accepts and resolves.
  const handler = await signIn('town03-police');
  await shoot(handler, 'work');
  await handler.goto(caseUrl);
  await act(handler, 'accept');
  await act(handler, 'resolve', (f) => f.locator('textarea[name=feedback]').fill('已更换灯泡，恢复照明。'));
  assert.equal(await handler.locator('#case-status').textContent(), '已办结待回访');

  // Intake calls the resident back, then closes.
  await intake.goto(caseUrl);
  await act(intake, 'record_visit', async (f) => {
    await f.locator('select[name=channel]').selectOption('phone');
    await f.locator('select[name=rating]').selectOption('satisfied');
  });
  await act(intake, 'close');
  assert.equal(await intake.locator('#case-status').textContent(), '已结案');
  await shoot(intake, 'case-closed');
  await intake.goto(base + '/cases/new');
  await shoot(intake, 'new-case');

  // The resident sees it closed; the dashboard counts it.
  await resident.goto(base + '/track/' + code);
  assert.equal(await resident.locator('#status').textContent(), '已结案');
  const after = await cohort(supervisor);
  assert.equal(after, before + 1, 'the dispatched case joined the period\'s cohort');
  await shoot(supervisor, 'dashboard');
  const login = await (await browser.newContext()).newPage();
  await login.goto(base + '/login');
  await shoot(login, 'login');
  await login.goto(base + '/figures');
  assert.ok(await login.locator('#public-figures tbody tr').count() > 1, 'the county and its towns');
  await shoot(login, 'public-figures');

  // The administrator's pages.
  await setPassword('admin');
  const admin = await signIn('admin');
  for (const section of ['units', 'users', 'categories', 'regions']) {
    await admin.goto(base + '/admin/' + section);
    await shoot(admin, 'admin-' + section);
  }
});
