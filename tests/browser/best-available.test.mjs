// "Find me N seats": a signed-in buyer asks for N seats (of a price, or any) with the keyboard, the
// server picks them side by side, the same payment window a pick leads to opens with those N
// seats, and another buyer's map shows them held; cancelling gives them back, paying sells them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Harness, GOOD_CARD, tid, waitForStates, register, openDemoEvent, accessibilityViolations, cardField,
  assertNoHorizontalScroll,
} from './harness.mjs';

const h = new Harness('best-');
const state = {};
const stamp = Date.now().toString(36);
const a11y = [];
const shot = async (page, name) => {
  await h.shot(page, name);
  for (const v of await accessibilityViolations(page)) a11y.push(`${name}: ${v}`);
};

/** The seats the map shows held for this buyer. */
async function heldSeats(page) {
  return page.evaluate(() => [...document.querySelectorAll('[data-testid="seat-map"] [data-seat-id][data-state="mine"]')].map((el) => el.dataset.seatId));
}

before(async () => {
  await h.start({ BOXOFFICE_HOLD_TTL_SECS: '600' });
  state.pageA = await h.browser('A');
  state.pageB = await h.browser('B');
  await register(state.pageA, h.baseUrl, 'Ada Finds', `ada-${stamp}@example.com`, 'correct horse battery');
  await register(state.pageB, h.baseUrl, 'Ben Watches', `ben-${stamp}@example.com`, 'battery staple horse');
  await openDemoEvent(state.pageA, h.baseUrl);
  await openDemoEvent(state.pageB, h.baseUrl);
});

after(() => h.stop());

test('the form is labelled, offers 1 to 8 seats and every price, and says what it will do', async () => {
  const { pageA } = state;
  const form = pageA.getByRole('form', { name: 'Best available' });
  await form.waitFor();
  const count = pageA.getByLabel('Seats', { exact: true });
  const options = await count.locator('option').allTextContents();
  assert.deepEqual(options, ['1', '2', '3', '4', '5', '6', '7', '8']);
  const prices = await pageA.getByLabel('Price', { exact: true }).locator('option').allTextContents();
  assert.equal(prices[0], 'Any price');
  assert.deepEqual(prices.slice(1).map((p) => p.split(' · ')[0]), ['Premium', 'Standard', 'Value']);
  assert.equal(await pageA.locator(tid('best-button')).textContent(), 'Find me 2 seats');
  await count.selectOption('3');
  assert.equal(await pageA.locator(tid('best-button')).textContent(), 'Find me 3 seats');
  await shot(pageA, 'event-page-with-find-me');
});

test('with the keyboard: three Standard seats side by side, in the payment window, held in the other map', async () => {
  const { pageA, pageB } = state;
  await pageA.getByLabel('Seats', { exact: true }).focus();
  await pageA.keyboard.press('Home');
  await pageA.keyboard.press('ArrowDown');
  await pageA.keyboard.press('ArrowDown');
  assert.equal(await pageA.getByLabel('Seats', { exact: true }).inputValue(), '3');
  await pageA.keyboard.press('Tab');
  assert.equal(await pageA.evaluate(() => document.activeElement?.id), 'best-category');
  // Any price, Premium, Standard.
  await pageA.keyboard.press('ArrowDown');
  await pageA.keyboard.press('ArrowDown');
  const price = await pageA.getByLabel('Price', { exact: true }).evaluate((el) => el.selectedOptions[0].textContent);
  assert.match(price, /^Standard · /);
  await pageA.keyboard.press('Tab');
  assert.equal(await pageA.evaluate(() => document.activeElement?.dataset.testid), 'best-button');
  await pageA.keyboard.press('Enter');

  const dialog = pageA.locator(tid('payment-dialog'));
  await dialog.waitFor({ state: 'visible', timeout: 10_000 });
  const lines = dialog.locator('.pay-lines li');
  assert.equal(await lines.count(), 3, 'three seats in the payment window');
  const text = await dialog.textContent();
  assert.match(text, /Standard/);
  assert.doesNotMatch(text, /Premium|Value/);
  const ids = await heldSeats(pageA);
  assert.equal(ids.length, 3);
  // One row (the front row of the Standard price, F), numbers in a run.
  const rows = new Set(ids.map((id) => id.split('-')[0]));
  assert.deepEqual([...rows], ['F']);
  const numbers = ids.map((id) => Number(id.split('-')[1])).sort((a, b) => a - b);
  assert.deepEqual(numbers, [numbers[0], numbers[0] + 1, numbers[0] + 2]);
  await waitForStates(pageB, ids, 'held');
  await shot(pageA, 'payment-window-with-three-best-seats');
  await shot(pageB, 'other-buyer-sees-them-held');

  await pageA.locator(tid('cancel')).click();
  await dialog.waitFor({ state: 'detached' });
  await waitForStates(pageB, ids, 'available');
  state.cancelled = ids;
});

test('two seats at any price, paid for: the confirmation lists them and the other map shows them sold', async () => {
  const { pageA, pageB } = state;
  await pageA.getByLabel('Seats', { exact: true }).selectOption('2');
  await pageA.getByLabel('Price', { exact: true }).selectOption('');
  await pageA.locator(tid('best-button')).click();
  const dialog = pageA.locator(tid('payment-dialog'));
  await dialog.waitFor({ state: 'visible', timeout: 10_000 });
  assert.equal(await dialog.locator('.pay-lines li').count(), 2);
  const ids = await heldSeats(pageA);
  assert.deepEqual([...new Set(ids.map((id) => id.split('-')[0]))], ['A'], 'the front row');
  await waitForStates(pageB, ids, 'held');
  await cardField(pageA).fill(GOOD_CARD);
  await pageA.locator(tid('proceed')).click();
  const confirmation = pageA.locator(tid('confirmation'));
  await confirmation.waitFor({ timeout: 15_000 });
  const listed = await confirmation.locator('.confirm-seats li').allTextContents();
  assert.deepEqual(listed.sort(), ids.map((id) => `Row A seat ${id.split('-')[1]}`).sort());
  await waitForStates(pageB, ids, 'sold');
  await shot(pageA, 'confirmation-of-best-seats');
});

test('on a phone the form sits under the map, within the screen', async () => {
  const phone = await h.browser('phone', { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  await openDemoEvent(phone, h.baseUrl);
  const form = phone.getByRole('form', { name: 'Best available' });
  await form.scrollIntoViewIfNeeded();
  const box = await form.boundingBox();
  const map = await phone.locator(tid('seat-map')).boundingBox();
  assert.ok(box.y > map.y + map.height - 1, 'below the map');
  assert.ok(box.x >= 0 && box.x + box.width <= 390, `inside the screen: ${JSON.stringify(box)}`);
  await assertNoHorizontalScroll(phone);
  await shot(phone, 'phone-find-me');
});

test('no errors in any browser console', () => {
  assert.deepEqual(h.consoleErrors, []);
});

test('no WCAG 2.1 A/AA violations found by axe-core on any screen', () => {
  assert.deepEqual(a11y, []);
});
