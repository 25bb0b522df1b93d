// Mediation in a real browser: the demo county's mediations are listed with their figures, a
// mediator records a step through the panel's form, and the signed agreement is rendered as a
// printable document in Chinese and English — checked on screen, under print media and as a
// PDF, with no CSP violation. Screenshots go to target/e2e-screenshots/.
//
// Needs FENGQIAO_BIN (the fengqiao binary; default: ../target/debug/fengqiao) and Debian's
// chromium at /usr/bin/chromium. Run with `node --test mediation.test.mjs` in this folder.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { useDemo, shots } from './harness.mjs';

const demo = useDemo({ prefix: 'fengqiao-e2e-mediation-' });

async function api(path) {
  const r = await fetch(demo.base + path, { headers: { authorization: 'Bearer demo-county-supervisor' } });
  assert.equal(r.status, 200, path);
  return r.json();
}

test('mediations are listed with figures and a signed agreement prints in both languages', { timeout: 600_000 }, async () => {
  await demo.setPassword('county-supervisor');
  const problems = [];
  const page = await demo.signIn('county-supervisor', { problems });

  // The list and the figures.
  await page.getByRole('link', { name: '调解' }).first().click();
  await page.waitForURL(/\/mediations$/);
  await page.locator('#mediation-figures').waitFor();
  const rows = await page.locator('#mediations tbody tr').count();
  assert.ok(rows >= 5, 'the demo made mediations: ' + rows);
  const total = await page.locator('#figures-total td').first().textContent();
  assert.equal(Number(total), rows);
  // The room calendar holds the session the demo planned.
  assert.ok(await page.locator('#room-calendar tbody tr').count() >= 1, 'a booked room');
  await page.screenshot({ path: join(shots, 'mediations-zh.png'), fullPage: true });
  await page.locator('#fig-by').selectOption('type');
  await Promise.all([page.waitForURL(/by=type/), page.getByRole('button', { name: '显示' }).click()]);
  await page.goto(page.url() + '&lang=en');
  await page.screenshot({ path: join(shots, 'mediations-en.png'), fullPage: true });
  await page.goto(demo.base + '/mediations?lang=zh');

  // A step through the panel's form: the recorded judgements.
  const { items } = await api('/api/v1/mediations?status=mediating');
  assert.ok(items.length >= 1, 'a mediation under way');
  const open = items[0].id;
  await page.goto(demo.base + '/mediations/' + open);
  const judge = page.locator('#act-judge');
  await judge.getByLabel('防止民转刑').check();
  await Promise.all([page.waitForURL(/done=judge/), judge.locator('button[type=submit]').click()]);
  await page.locator('#flash').waitFor();
  assert.equal((await api('/api/v1/mediations/' + open)).prevented_criminal, true);
  await page.screenshot({ path: join(shots, 'mediation-panel-zh.png'), fullPage: true });

  // The fulfilled agreement: the panel links its printable document.
  const done = (await api('/api/v1/mediations?status=fulfilled')).items[0];
  assert.ok(done, 'a fulfilled mediation');
  await page.goto(demo.base + '/mediations/' + done.id);
  assert.match(await page.locator('#mediation-status').textContent(), /已履行/);
  await Promise.all([page.waitForURL(/\/agreement/), page.locator('#print-1').click()]);
  assert.equal(await page.locator('#agreement-title').textContent(), '人民调解协议书');
  assert.equal(await page.locator('#doc-terms li').count(), 2);
  assert.equal(await page.locator('#doc-parties tbody tr').count(), done.parties.length);
  assert.match(await page.locator('#doc-effective').textContent(), /生效日期 \d{4}-\d{2}-\d{2}/);
  assert.equal(await page.locator('#not-effective').count(), 0);
  const sigs = await page.locator('#doc-signatures .sig').allTextContents();
  assert.ok(sigs.length >= 4 && sigs.every((s) => s.includes('于')), 'every signature and the seal: ' + sigs.join(' | '));
  assert.match(await page.locator('#doc-confirm-day').textContent(), /^\d{4}-\d{2}-\d{2}$/);
  // On screen an A4 sheet with its navigation; printed, the sheet alone.
  assert.notEqual(await page.locator('nav.noprint').evaluate((e) => getComputedStyle(e).display), 'none');
  await page.screenshot({ path: join(shots, 'agreement-zh.png'), fullPage: true });
  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.locator('nav.noprint').evaluate((e) => getComputedStyle(e).display), 'none');
  assert.equal(await page.locator('.sheet').evaluate((e) => getComputedStyle(e).boxShadow), 'none');
  const pdf = await page.pdf({ format: 'A4', printBackground: true });
  assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');
  assert.ok(pdf.length > 5000, 'a real document: ' + pdf.length + ' bytes');
  await page.emulateMedia({ media: 'screen' });

  // The same document in English.
  await page.locator('nav.noprint a', { hasText: 'English' }).click();
  await page.waitForURL(/lang=en/);
  assert.equal(await page.locator('#agreement-title').textContent(), "People's Mediation Agreement");
  assert.equal(await page.locator('html').getAttribute('lang'), 'en');
  assert.match(await page.locator('.legal').textContent(), /thirty days/);
  await page.screenshot({ path: join(shots, 'agreement-en.png'), fullPage: true });

  // A draft shows it is not in effect yet.
  const draft = items.find((m) => m.agreements.length > 0);
  if (draft) {
    await page.goto(demo.base + '/mediations/' + draft.id + '/agreement?lang=zh');
    await page.locator('#not-effective').waitFor();
  }
  assert.deepEqual(problems, [], 'no console error or CSP violation');
});
