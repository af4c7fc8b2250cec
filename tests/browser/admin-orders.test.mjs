// The organiser finds a buyer's order by e-mail, refunds one ticket and then the rest after a
// confirmation step, exports the event's orders as CSV, and makes the buyer door staff and back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, GOOD_CARD, tid, pickTwoSeats, selectAndHold, register, openDemoEvent, accessibilityViolations, cardField } from './harness.mjs';

const h = new Harness('admin-orders-');
const ADMIN = { email: 'admin@orders.test', password: 'admin password 1' };
const BUYER = { name: 'Rita Refund', email: `rita-${Date.now().toString(36)}@example.com` };
const state = {};

before(async () => {
  await h.start({ BOXOFFICE_ADMIN_EMAIL: ADMIN.email, BOXOFFICE_ADMIN_PASSWORD: ADMIN.password });
  state.buyer = await h.browser('buyer');
  state.admin = await h.browser('admin');
});

after(() => h.stop());

async function signInAsAdmin(page) {
  await page.goto(`${h.baseUrl}/#/login?next=${encodeURIComponent('#/admin/orders')}`);
  await page.locator(tid('login-email')).fill(ADMIN.email);
  await page.locator(tid('login-password')).fill(ADMIN.password);
  await page.locator(tid('login-submit')).click();
  await page.locator(tid('order-query')).waitFor({ timeout: 15_000 });
}

test('an admin finds an order by e-mail and refunds it, one ticket then the rest', async () => {
  const { buyer, admin } = state;
  await register(buyer, h.baseUrl, BUYER.name, BUYER.email, 'correct horse battery');
  await openDemoEvent(buyer, h.baseUrl);
  const seats = await pickTwoSeats(buyer, 4);
  await selectAndHold(buyer, seats);
  await cardField(buyer).fill(GOOD_CARD);
  await buyer.locator(tid('proceed')).click();
  await buyer.locator(tid('confirmation')).waitFor({ timeout: 15_000 });

  await signInAsAdmin(admin);
  await admin.locator(tid('order-query')).fill(BUYER.email.slice(0, 8).toUpperCase());
  await admin.locator(tid('order-search')).click();
  const results = admin.locator(`${tid('order-results')} tbody tr`);
  await results.first().waitFor();
  assert.equal(await results.count(), 1);
  assert.match(await results.first().textContent(), new RegExp(BUYER.email));
  await h.shot(admin, 'order-search');
  assert.deepEqual(await accessibilityViolations(admin), []);

  await results.first().locator('a').click();
  await admin.locator(tid('order-status')).filter({ hasText: 'Paid' }).waitFor();
  await admin.locator(tid(`refund-ticket-${seats[0]}`)).check();
  await admin.locator(tid('refund-selected')).click();
  const confirm = admin.locator(tid('refund-confirm'));
  await confirm.waitFor();
  assert.match(await confirm.textContent(), /Refund 1 ticket/);
  await h.shot(admin, 'refund-confirmation');
  assert.deepEqual(await accessibilityViolations(admin), []);
  await admin.locator(tid('refund-yes')).click();
  await admin.locator(tid('order-status')).filter({ hasText: 'Partly refunded' }).waitFor({ timeout: 15_000 });
  assert.ok(await admin.locator(tid(`refund-ticket-${seats[0]}`)).isDisabled(), 'the refunded ticket cannot be picked again');

  await admin.locator(tid('refund-all')).click();
  assert.match(await confirm.textContent(), /Refund 1 ticket/);
  await admin.getByRole('button', { name: 'Cancel' }).click();
  assert.ok(await confirm.isHidden(), 'cancelled: nothing refunded');
  await admin.locator(tid('refund-all')).click();
  await admin.locator(tid('refund-yes')).click();
  await admin.locator(tid('order-status')).filter({ hasText: /^Refunded$/ }).waitFor({ timeout: 15_000 });
  await h.shot(admin, 'order-refunded');

  // The seats are back on sale.
  const states = await buyer.evaluate(async () => {
    const { events } = await (await fetch('/api/v1/events')).json();
    return (await (await fetch(`/api/v1/events/${events[0].id}/seats`)).json()).seats;
  });
  for (const seat of seats) assert.equal(states.find((s) => s.id === seat).state, 'available');
});

test('an admin exports the orders and attendees of an event as CSV', async () => {
  const { admin } = state;
  await admin.goto(`${h.baseUrl}/#/admin/orders`);
  const select = admin.locator(tid('order-event'));
  await select.waitFor();
  const eventId = await select.locator('option').nth(1).getAttribute('value');
  await select.selectOption(eventId);
  const link = admin.locator(tid('attendees-csv'));
  await link.waitFor();
  const text = await admin.evaluate(async (href) => (await fetch(href)).text(), await link.getAttribute('href'));
  const [header, ...lines] = text.trim().split('\n');
  assert.match(header, /^ticket_id,order_id,seat_id,seat,name,email,status/);
  assert.equal(lines.length, 2);
  assert.ok(lines.every((l) => l.includes(BUYER.email) && l.includes(',refunded,')), text);
  const orders = await admin.evaluate(async (href) => (await fetch(href)).text(), await admin.locator(tid('orders-csv')).getAttribute('href'));
  assert.match(orders, new RegExp(`${BUYER.email},${BUYER.name},`));
});

test('an admin makes the buyer door staff by e-mail and removes them again', async () => {
  const { admin } = state;
  await admin.goto(`${h.baseUrl}/#/admin/people`);
  await admin.locator(tid('staff-email')).fill(BUYER.email);
  await admin.locator(tid('make-staff')).click();
  const row = admin.locator(`${tid('people')} tr[data-email="${BUYER.email}"]`);
  await row.waitFor();
  assert.match(await row.textContent(), /Door staff/);
  await h.shot(admin, 'people');
  assert.deepEqual(await accessibilityViolations(admin), []);

  await admin.locator(tid('staff-email')).fill('nobody@example.com');
  await admin.locator(tid('make-staff')).click();
  await admin.locator(tid('people-error')).filter({ hasText: /not found/i }).waitFor();

  await admin.locator(tid(`remove-${BUYER.email}`)).click();
  await row.waitFor({ state: 'detached' });
});
