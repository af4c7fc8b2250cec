// Every way a buyer can walk away from the payment window gives the seats back at once, and the
// other buyer's map shows them free again without waiting for the hold to expire.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, tid, waitForStates, pickTwoSeats, selectAndHold, register, openDemoEvent } from './harness.mjs';

const h = new Harness('leave-');
const state = {};
const stamp = Date.now().toString(36);

before(async () => {
  // A long hold: if the seats come back, it is because the page released them, not the sweeper.
  await h.start({ BOXOFFICE_HOLD_TTL_SECS: '600' });
  state.pageA = await h.browser('A');
  state.pageB = await h.browser('B');
  await register(state.pageA, h.baseUrl, 'Ada Leaves', `ada-${stamp}@example.com`, 'correct horse battery');
  await register(state.pageB, h.baseUrl, 'Ben Watches', `ben-${stamp}@example.com`, 'battery staple horse');
  await openDemoEvent(state.pageB, h.baseUrl);
});

after(() => h.stop());

test('Escape closes the payment window and releases the seats', async () => {
  const { pageA, pageB } = state;
  await openDemoEvent(pageA, h.baseUrl);
  const ids = await pickTwoSeats(pageA, 3);
  const dialog = await selectAndHold(pageA, ids);
  await waitForStates(pageB, ids, 'held');
  await pageA.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  await waitForStates(pageB, ids, 'available');
  await waitForStates(pageA, ids, 'available', 2_000);
});

test('navigating away from the page releases the seats', async () => {
  const { pageA, pageB } = state;
  const ids = await pickTwoSeats(pageA, 6);
  await selectAndHold(pageA, ids);
  await waitForStates(pageB, ids, 'held');
  await pageA.goto('about:blank');
  await waitForStates(pageB, ids, 'available');
});

test('closing the tab releases the seats', async () => {
  const { pageA, pageB } = state;
  await openDemoEvent(pageA, h.baseUrl);
  const ids = await pickTwoSeats(pageA, 8);
  await selectAndHold(pageA, ids);
  await waitForStates(pageB, ids, 'held');
  const context = pageA.context();
  // Keep the browser alive on another tab, as a real buyer's would be.
  const other = await context.newPage();
  await pageA.close({ runBeforeUnload: true });
  await waitForStates(pageB, ids, 'available');
  await h.shot(pageB, 'B-sees-seats-back-after-A-closed-the-tab');
  state.pageA = other;
});

test('afterwards the server itself reports no seat held', async () => {
  // The API agrees with B's map: every hold A made was released, not left to expire.
  const seats = await (await state.pageB.request.get(`${h.baseUrl}/api/v1/events/${await eventId()}/seats`)).json();
  assert.equal(seats.seats.filter((s) => s.state !== 'available').length, 0, 'no seat is still held');
});

async function eventId() {
  const { events } = await (await state.pageB.request.get(`${h.baseUrl}/api/v1/events`)).json();
  return events[0].id;
}
