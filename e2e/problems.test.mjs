// End to end in a real browser: a supervisor reads a demo problem's before-and-after figures,
// opens a new problem from cases chosen in a filtered list and moves it to analysis, and an
// administrator registers a webhook. Screenshots of each page in both languages go to
// target/e2e-screenshots/.
//
// Needs FENGQIAO_BIN (the fengqiao binary; default: ../target/debug/fengqiao) and Debian's
// chromium at /usr/bin/chromium. Run with `node --test` in this folder.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useDemo, shoot } from './harness.mjs';

const demo = useDemo({ scale: '0.05', prefix: 'fengqiao-e2e-problems-' });

test('a problem is read, opened from chosen cases and moved on; a webhook is registered', { timeout: 600_000 }, async () => {
  await demo.setPassword('county-supervisor');
  const sup = await demo.signIn('county-supervisor');

  // The demo's problems, and the first one's before-and-after table.
  await sup.getByRole('link', { name: '问题治理' }).click();
  await sup.waitForURL(/\/problems$/);
  assert.ok(await sup.locator('#problems tbody tr').count() >= 1, 'the demo has problems');
  await shoot(sup, 'problems');
  await sup.goto(demo.base + '/problems/1');
  assert.equal(await sup.locator('#stage').textContent(), '响应');
  assert.equal(await sup.locator('#before-after tbody tr').count(), 8, 'cases and seven rates');
  assert.match(await sup.locator('#before-after tbody tr').first().locator('td').first().textContent(), /^\d+$/);
  await shoot(sup, 'problem');

  // A new problem from the cases a filter finds: all ticked, one unticked.
  await sup.goto(demo.base + '/problems/new');
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
  await demo.setPassword('admin');
  const admin = await demo.signIn('admin');
  await admin.goto(demo.base + '/admin/webhooks');
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
