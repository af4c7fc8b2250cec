// The server as `cargo run --release` starts it, with no payment provider set up: the in-process
// sandbox takes the test card typed in the payment window (there is no provider's frame to type it
// in), a declined card keeps the seats held, another card pays, and the tickets appear.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, GOOD_CARD, tid, pickTwoSeats, selectAndHold, register, openDemoEvent, accessibilityViolations } from './harness.mjs';

const DECLINED_CARD = '4000000000000002';
const h = new Harness('demo-sandbox-');
after(() => h.stop());

test('with no provider set up, a buyer pays in the payment window with the sandbox test card after a decline', async () => {
  // No provider settings at all: the defaults of a fresh machine.
  await h.startServer({});
  const page = await h.browser('buyer');
  await register(page, h.baseUrl, 'Dee Demo', `dee-${Date.now().toString(36)}@example.com`, 'demo sandbox please');
  await openDemoEvent(page, h.baseUrl);
  const seats = await pickTwoSeats(page, 3);
  await selectAndHold(page, seats);

  const card = page.locator(tid('card-number'));
  await card.waitFor();
  assert.equal(await page.locator(`${tid('payment-element')} iframe`).count(), 0, 'no provider frame in the demo');
  await page.locator(tid('payment-dialog')).getByText('4000 0000 0000 0002').waitFor();
  await h.shot(page, 'sandbox-card-field');
  const violations = await accessibilityViolations(page);
  assert.deepEqual(violations, [], violations.join('\n'));

  await card.fill(DECLINED_CARD);
  await page.locator(tid('proceed')).click();
  await page.locator(tid('pay-message')).filter({ hasText: 'Your card was declined.' }).waitFor({ timeout: 10_000 });
  await h.shot(page, 'declined');
  assert.equal(await page.locator(tid('payment-dialog')).isVisible(), true, 'the payment window stays open: the seats are still held');
  assert.equal(await page.locator(tid('proceed')).isEnabled(), true, 'another card can be tried');

  await card.fill(GOOD_CARD);
  await page.locator(tid('proceed')).click();
  await page.locator(tid('payment-dialog')).waitFor({ state: 'detached', timeout: 20_000 });
  await h.shot(page, 'paid');
  const { orders } = await page.evaluate(async () => (await fetch('/api/v1/orders')).json());
  assert.equal(orders.length, 1, 'one order');
  assert.deepEqual(orders[0].tickets.map((t) => t.seat_id).sort(), [...seats].sort());
  assert.deepEqual(h.consoleErrors, []);
});
