// End to end in a real browser: a resident signs in with a one-time code sent by SMS (the demo
// writes texts to DATA/sms.jsonl), records where they live, proposes and supports in their
// village's consultation, and the public page shows the support without personal data.
// Screenshots go to target/e2e-screenshots/ (consult-*).
//
// Needs FENGQIAO_BIN (the fengqiao binary; default: ../target/debug/fengqiao) and Debian's
// chromium at /usr/bin/chromium. Run with `node --test` in this folder.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useDemo, shoot } from './harness.mjs';

const PHONE = '13912345678';

const demo = useDemo({ prefix: 'fengqiao-e2e-consult-' });

/** The newest sign-in code texted to a phone, waiting for it to arrive. */
async function codeFor(phone) {
  const file = join(demo.data, 'sms.jsonl');
  for (let i = 0; i < 80; i++) {
    if (existsSync(file)) {
      const texts = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
        .filter((m) => m.phone === phone && m.text.includes('验证码'));
      if (texts.length) return texts[texts.length - 1].text.match(/\d{6}/)[0];
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('no code was texted to ' + phone);
}

async function api(method, path, body) {
  const r = await fetch(demo.base + path, {
    method,
    headers: { authorization: 'Bearer demo-county-supervisor', 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await r.json();
  assert.ok(r.ok, `${method} ${path}: ${r.status} ${JSON.stringify(json)}`);
  return json;
}

test('a resident signs in by code, supports a proposal once, and the public page shows it', { timeout: 600_000 }, async () => {
  // Staff open a consultation to a town's residents, from a hot spot.
  const { items } = await api('GET', '/api/v1/regions');
  const village = items.find((r) => r.level === 'village');
  const town = village.parent;
  const closes = new Date(Date.now() + 7 * 86400_000).toISOString().slice(0, 10);
  const k = await api('POST', '/api/v1/consultations', {
    region: town, title: '村口停车难', description: '村口车辆乱停，影响通行，请大家出主意。',
    source: { kind: 'hotspot', note: '村口路段' }, closes_at: closes,
  });
  assert.equal(k.status, 'open');

  // The resident, on a phone-sized screen, asks for a code and signs in with it.
  const ctx = await demo.browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await ctx.newPage();
  await page.goto(demo.base + '/resident/login');
  await shoot(page, 'consult-login');
  await page.getByLabel('电话').fill(PHONE);
  await page.getByRole('button', { name: '获取验证码' }).click();
  await page.locator('#sent').waitFor();
  // A wrong code first: refused, asked again.
  const code = await codeFor(PHONE);
  await page.getByLabel('验证码').fill(code === '000000' ? '111111' : '000000');
  await page.getByRole('button', { name: '登录' }).click();
  assert.equal((await page.locator('#error').textContent()).trim(), '验证码不正确。');
  await page.getByLabel('验证码').fill(code);
  await page.getByRole('button', { name: '登录' }).click();
  await page.waitForURL(/\/resident$/);
  assert.equal(await page.locator('#me').textContent(), '139****5678');

  // Records where they live; the consultation of their town appears.
  await page.locator('#region-select').selectOption(village.code);
  await page.getByRole('button', { name: '保存' }).click();
  await page.waitForURL(/\/resident$/);
  await shoot(page, 'consult-home');
  await page.locator('#my-consultations').getByRole('link', { name: '村口停车难' }).click();
  await page.waitForURL(new RegExp('/consultations/' + k.id + '$'));

  // Proposes, then gives their one support.
  await page.getByLabel('提出建议').fill('在村委会旁划出停车位');
  await page.getByRole('button', { name: '提交建议' }).click();
  await page.locator('#flash').waitFor();
  await page.getByLabel('在村委会旁划出停车位').check();
  await page.locator('#support-form').getByRole('button', { name: '支持' }).click();
  assert.equal((await page.locator('#flash').textContent()).trim(), '已记录您的支持。');
  assert.equal(await page.locator('#supporters').textContent(), '1');
  assert.equal(await page.locator('#support-form').count(), 0, 'one support per resident: the form is gone');
  await shoot(page, 'consult-voted');

  // A second support by the same resident, straight at the API, is refused.
  const cookies = await ctx.cookies();
  const session = cookies.find((c) => c.name === 'fq_resident');
  const me = await fetch(demo.base + '/api/v1/resident/me', { headers: { cookie: 'fq_resident=' + session.value } });
  assert.equal(me.status, 200);
  const pub = await (await fetch(demo.base + '/api/v1/public/consultations/' + k.id)).json();
  assert.equal(pub.supporters, 1);

  // The public page, for anyone: the proposal and its support, no personal data.
  const anon = await (await demo.browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await anon.goto(demo.base + '/consultations/' + k.id);
  assert.equal(await anon.locator('#supporters').textContent(), '1');
  assert.equal(await anon.locator('#proposals .supports').first().textContent(), '1');
  const html = await anon.content();
  assert.ok(html.includes('在村委会旁划出停车位'));
  assert.ok(!html.includes(PHONE) && !html.includes('5678'), 'no phone on the public page');
  assert.equal(await anon.locator('#sign-in-to-take-part').count(), 1);
  await shoot(anon, 'consult-public');

  // The county supervisor records the committee's decision and the follow-through on the
  // staff pages; the public page shows the answer and the progress.
  await demo.setPassword('county-supervisor');
  const staff = await demo.signIn('county-supervisor');
  await staff.goto(demo.base + '/work/consultations');
  await shoot(staff, 'consult-manage');
  await staff.locator('#consultations').getByRole('link', { name: '村口停车难' }).click();
  await staff.locator('#decide-form').waitFor();
  await staff.locator('#d-text').fill('采纳划线停车方案');
  await staff.locator('#d-answer').fill('村委会两周内完成');
  await staff.locator('#decide-form').getByRole('button').click();
  await staff.locator('#milestone-form').waitFor();
  await staff.locator('#m-title').fill('施划停车线');
  await staff.locator('#milestone-form').getByRole('button').click();
  await staff.locator('#p-percent').fill('50');
  await staff.locator('#p-note').fill('已划线一半');
  await staff.locator('#progress-form').getByRole('button').click();
  await staff.locator('#milestones').waitFor();
  await shoot(staff, 'consult-follow-through');
  await anon.goto(demo.base + '/consultations/' + k.id);
  assert.equal(await anon.locator('#progress-value').textContent(), '50%');
  assert.ok((await anon.locator('#decision').textContent()).includes('村委会两周内完成'));
  assert.ok((await anon.locator('#milestones').textContent()).includes('施划停车线'));
  await shoot(anon, 'consult-decided');
});
