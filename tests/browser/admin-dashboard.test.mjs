// The live sales dashboard moves while a second browser buys: counts, revenue, orders this
// minute, and the seats on the organiser's map, all from the live stream.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, GOOD_CARD, tid, seatSel, pickTwoSeats, selectAndHold, register, openDemoEvent, accessibilityViolations, cardField } from './harness.mjs';

const h = new Harness('admin-dashboard-');
const ADMIN = { email: 'admin@dashboard.test', password: 'admin password 1' };
const state = {};

before(async () => {
  await h.start({ BOXOFFICE_ADMIN_EMAIL: ADMIN.email, BOXOFFICE_ADMIN_PASSWORD: ADMIN.password });
  state.admin = await h.browser('admin');
  state.buyer = await h.browser('buyer');
});

after(() => h.stop());

test('the dashboard shows a sale made in another browser as it happens', async () => {
  const { admin, buyer } = state;
  await admin.goto(`${h.baseUrl}/#/login?next=${encodeURIComponent('#/admin/dashboard')}`);
  await admin.locator(tid('login-email')).fill(ADMIN.email);
  await admin.locator(tid('login-password')).fill(ADMIN.password);
  await admin.locator(tid('login-submit')).click();
  await admin.locator(tid('dashboard-link')).first().click();
  await admin.locator(`${tid('dash-status')}[data-status="live"]`).waitFor({ timeout: 10_000 });
  await admin.locator(tid('dash-sold')).filter({ hasText: /^0$/ }).waitFor({ timeout: 5_000 });
  assert.match(await admin.locator(tid('dash-available')).textContent(), /^512 of 512$/);
  assert.match(await admin.locator(tid('dash-revenue')).textContent(), /0\.00/);

  await register(buyer, h.baseUrl, 'Dana Dash', `dana-${Date.now().toString(36)}@example.com`, 'correct horse battery');
  await openDemoEvent(buyer, h.baseUrl);
  const seats = await pickTwoSeats(buyer, 2);
  await selectAndHold(buyer, seats);
  // Held: the organiser's map and counts show it before payment.
  await admin.locator(tid('dash-held')).filter({ hasText: /^2$/ }).waitFor({ timeout: 5_000 });
  for (const id of seats) await admin.locator(`${seatSel(id)}[data-state="held"]`).waitFor({ timeout: 5_000 });
  await cardField(buyer).fill(GOOD_CARD);
  await buyer.locator(tid('proceed')).click();
  await buyer.locator(tid('confirmation')).waitFor({ timeout: 15_000 });

  await admin.locator(tid('dash-sold')).filter({ hasText: /^2$/ }).waitFor({ timeout: 5_000 });
  for (const id of seats) await admin.locator(`${seatSel(id)}[data-state="sold"]`).waitFor({ timeout: 5_000 });
  assert.match(await admin.locator(tid('dash-available')).textContent(), /^510 of 512$/);
  const { orders } = await buyer.evaluate(async () => (await fetch('/api/v1/orders')).json());
  const total = orders[0].total_cents;
  const shown = await admin.locator(tid('dash-revenue')).textContent();
  assert.equal(shown.replace(/[^\d]/g, ''), String(total), `${shown} for ${total} cents`);
  await admin.locator(tid('dash-orders-minute')).filter({ hasText: /^1 order this minute$/ }).waitFor({ timeout: 5_000 });
  await h.shot(admin, 'dashboard-after-sale');
  assert.deepEqual(await accessibilityViolations(admin), []);
});
