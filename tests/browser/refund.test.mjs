// After an admin refunds one ticket of an order, the buyer's "My tickets" says so in plain words:
// the order is partly refunded and the refunded ticket is marked no longer valid.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, GOOD_CARD, tid, pickTwoSeats, selectAndHold, register, openDemoEvent, accessibilityViolations, cardField } from './harness.mjs';

const h = new Harness('refund-');
const ADMIN = { email: 'admin@refund.test', password: 'admin password 1' };
const state = {};

before(async () => {
  await h.start({ BOXOFFICE_ADMIN_EMAIL: ADMIN.email, BOXOFFICE_ADMIN_PASSWORD: ADMIN.password });
  state.page = await h.browser('buyer');
});

after(() => h.stop());

async function adminRefund(orderId, ticketIds) {
  const login = await fetch(`${h.baseUrl}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(ADMIN),
  });
  assert.equal(login.status, 200);
  const { token } = await login.json();
  const r = await fetch(`${h.baseUrl}/api/v1/admin/orders/${orderId}/refund`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ ticket_ids: ticketIds }),
  });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  return JSON.parse(text).order;
}

test("a partly refunded order shows the refunded ticket as no longer valid", async () => {
  const { page } = state;
  await register(page, h.baseUrl, 'Rae Refund', `rae-${Date.now().toString(36)}@example.com`, 'correct horse battery');
  await openDemoEvent(page, h.baseUrl);
  const ids = await pickTwoSeats(page, 6);
  await selectAndHold(page, ids);
  await cardField(page).fill(GOOD_CARD);
  await page.locator(tid('proceed')).click();
  await page.locator(tid('confirmation')).waitFor({ timeout: 15_000 });

  const { orders } = await page.evaluate(async () => (await fetch('/api/v1/orders')).json());
  assert.equal(orders.length, 1);
  const order = await adminRefund(orders[0].id, [orders[0].tickets[0].id]);
  assert.equal(order.status, 'partially_refunded');

  await page.locator(tid('my-tickets-link')).click();
  await page.locator(tid('ticket')).first().waitFor({ timeout: 10_000 });
  await page.getByText('Partly refunded').waitFor();
  const tickets = page.locator(tid('ticket'));
  assert.equal(await tickets.count(), 2);
  assert.equal(await page.locator(`${tid('ticket')}.void`).count(), 1, 'exactly the refunded ticket is void');
  await page.getByText('Refunded — no longer valid').waitFor();
  await h.shot(page, 'my-tickets-partly-refunded');
  assert.deepEqual(await accessibilityViolations(page), []);
});
