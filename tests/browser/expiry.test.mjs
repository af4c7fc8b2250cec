// Browser test of a hold running out while the payment window is open (server started with a 6 s hold TTL).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, tid, register, openDemoEvent, pickTwoSeats, selectAndHold, waitForStates } from './harness.mjs';

const TTL_SECS = 6;
const h = new Harness('expiry-');
let page;
let watcher;

before(async () => {
  await h.start({ BOXOFFICE_HOLD_TTL_SECS: String(TTL_SECS) });
  page = await h.browser('expiry-A');
  watcher = await h.browser('expiry-B');
});

after(() => h.stop());

test('the countdown runs out: the window closes, the buyer is told, the seats are free again', async () => {
  const stamp = Date.now().toString(36);
  await register(page, h.baseUrl, 'Eve Slowpay', `eve-${stamp}@example.com`, 'take your time please');
  await openDemoEvent(page, h.baseUrl);
  await openDemoEvent(watcher, h.baseUrl);

  const ids = await pickTwoSeats(page, 4);
  await selectAndHold(page, ids);
  const first = await page.locator(tid('countdown')).textContent();
  assert.match(first, /^00:0[0-6]$/);
  await waitForStates(watcher, ids, 'held');
  await h.shot(page, 'countdown-running');

  await page.locator(tid('payment-dialog')).waitFor({ state: 'detached', timeout: (TTL_SECS + 5) * 1000 });
  const flash = page.locator('#flash', { hasText: 'Your hold has expired' });
  await flash.waitFor({ timeout: 2_000 });
  await waitForStates(page, ids, 'available');
  await waitForStates(watcher, ids, 'available');
  await h.shot(page, 'hold-expired');
  assert.deepEqual(h.consoleErrors, []);
});
