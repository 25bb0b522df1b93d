// End to end in a real browser: a resident reports, intake files and dispatches, the police
// station accepts and resolves, intake records the return visit and closes, and the
// supervisor's dashboard counts the case. Screenshots of every page in both languages go to
// target/e2e-screenshots/.
//
// Needs FENGQIAO_BIN (the fengqiao binary; default: ../target/debug/fengqiao) and Debian's
// chromium at /usr/bin/chromium. Run with `node --test` in this folder.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { useDemo, shoot, shots } from './harness.mjs';

const demo = useDemo();

async function act(page, action, fill) {
  const form = page.locator('#act-' + action);
  await form.waitFor();
  if (fill) await fill(form);
  await Promise.all([page.waitForURL(/done=/), form.locator('button[type=submit]').click()]);
  await assert.doesNotReject(page.locator('#flash').waitFor());
}

async function cohort(page) {
  await page.goto(demo.base + '/dashboard?days=30');
  return Number(await page.locator('#kpi-cohort').textContent());
}

test('a report goes round the closed loop and shows on the dashboard', { timeout: 600_000 }, async () => {
  const intakeUser = await demo.setPassword('town03-intake');
  const police = await demo.setPassword('town03-police');
  await demo.setPassword('county-supervisor');
  const town = intakeUser.jurisdiction.slice(0, 9);

  const supervisor = await demo.signIn('county-supervisor');
  const before = await cohort(supervisor);

  // The resident, on a phone-sized screen.
  const resident = await (await demo.browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
  await resident.goto(demo.base + '/');
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
  const english = await (await demo.browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
  await english.goto(demo.base + '/report?lang=en');
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
  const intake = await demo.signIn('town03-intake');
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
  const handler = await demo.signIn('town03-police');
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
  // At intake, triage answers while the desk types: the same report again finds the case
  // just closed, and a threat is flagged before anything is saved.
  await intake.goto(demo.base + '/cases/new');
  await intake.locator('#description').fill('村口路灯连续三晚不亮，行人不便。');
  await intake.locator('#triage-similar a').first().waitFor();
  assert.ok(await intake.locator('#triage-similar a', { hasText: '#' + caseUrl.split('/').pop() }).count() === 1, 'the closed case is a look-alike');
  await intake.locator('#description').fill('邻居扬言要拿刀砍死我们全家，现在就在门口');
  await intake.locator('#triage-risk').waitFor();
  assert.match(await intake.locator('#triage-risk').textContent(), /红色|橙色/);
  await intake.screenshot({ path: join(shots, 'new-case-triage-zh.png'), fullPage: true });
  await shoot(intake, 'new-case');

  // The resident sees it closed; the dashboard counts it.
  await resident.goto(demo.base + '/track/' + code);
  assert.equal(await resident.locator('#status').textContent(), '已结案');
  const after = await cohort(supervisor);
  assert.equal(after, before + 1, 'the dispatched case joined the period\'s cohort');
  await shoot(supervisor, 'dashboard');
  const login = await (await demo.browser.newContext()).newPage();
  await login.goto(demo.base + '/login');
  await shoot(login, 'login');
  await login.goto(demo.base + '/figures');
  assert.ok(await login.locator('#public-figures tbody tr').count() > 1, 'the county and its towns');
  await shoot(login, 'public-figures');

  // The administrator's pages.
  await demo.setPassword('admin');
  const admin = await demo.signIn('admin');
  for (const section of ['units', 'users', 'categories', 'regions']) {
    await admin.goto(demo.base + '/admin/' + section);
    await shoot(admin, 'admin-' + section);
  }
});
