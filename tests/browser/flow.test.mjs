// Two-browser end-to-end test of the buyer site against the real server binary (node --test tests/browser/).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Harness, DECLINED_CARD, GOOD_CARD, tid, seatSel,
  waitForStates, assertNoHorizontalScroll, pickTwoSeats, selectAndHold,
  register as registerAt, openDemoEvent as openDemoEventAt, accessibilityViolations,
  cardField,
} from './harness.mjs';

const h = new Harness();
const state = { pageA: null, pageB: null, heldIds: [] };
const register = (page, ...args) => registerAt(page, h.baseUrl, ...args);
const openDemoEvent = (page) => openDemoEventAt(page, h.baseUrl);
const a11y = [];
/** Screenshot every step, and audit it for accessibility at the same moment. */
const shot = async (page, name) => {
  await h.shot(page, name);
  for (const v of await accessibilityViolations(page)) a11y.push(`${name}: ${v}`);
};

before(async () => {
  await h.start();
  state.pageA = await h.browser('A');
  state.pageB = await h.browser('B');
});

after(() => h.stop());

// ---------------------------------------------------------------- the scenario

const stamp = Date.now().toString(36);

test('both buyers register through the page and see the event list', async () => {
  const { pageA, pageB } = state;
  await pageA.goto(`${h.baseUrl}/#/login`);
  await pageA.locator(tid('register-password')).waitFor();
  // A too-short password is refused next to the form, in plain words.
  await pageA.locator(tid('register-name')).fill('Ada Buyer');
  await pageA.locator(tid('register-email')).fill(`ada-${stamp}@example.com`);
  await pageA.locator(tid('register-password')).fill('short');
  await pageA.locator(tid('register-submit')).click();
  await pageA.locator('#register-error').getByText(/at least 8 characters/).waitFor();
  await shot(pageA, 'login-and-register');

  await register(pageA, 'Ada Buyer', `ada-${stamp}@example.com`, 'correct horse battery');
  // The server's own message for a taken e-mail shows next to the form.
  await pageB.goto(`${h.baseUrl}/#/login`);
  await pageB.locator(tid('register-name')).fill('Ben Buyer');
  await pageB.locator(tid('register-email')).fill(`ada-${stamp}@example.com`);
  await pageB.locator(tid('register-password')).fill('battery staple horse');
  await pageB.locator(tid('register-submit')).click();
  await pageB.locator('#register-error:not(:empty)').waitFor();
  assert.match(await pageB.locator('#register-error').textContent(), /already|exists|taken/i);
  await register(pageB, 'Ben Buyer', `ben-${stamp}@example.com`, 'battery staple horse');

  await pageA.locator(tid('event-link')).first().waitFor();
  const text = await pageA.locator(tid('event-link')).first().textContent();
  assert.match(text, /available/);
  await shot(pageA, 'event-list');

  // Signing out and in again exercises the login form itself.
  await pageA.getByRole('button', { name: 'Sign out' }).click();
  await pageA.locator('#account a[href="#/login"]').waitFor();
  await pageA.goto(`${h.baseUrl}/#/login`);
  await pageA.locator(tid('login-email')).fill(`ada-${stamp}@example.com`);
  await pageA.locator(tid('login-password')).fill('wrong password');
  await pageA.locator(tid('login-submit')).click();
  await pageA.locator('#login-error:not(:empty)').waitFor();
  await pageA.locator(tid('login-password')).fill('correct horse battery');
  await pageA.locator(tid('login-submit')).click();
  await pageA.locator(tid('signed-in-user')).waitFor();
});

test('a hold by A shows up live in B, and Cancel releases it', async () => {
  const { pageA, pageB } = state;
  await openDemoEvent(pageA);
  await openDemoEvent(pageB);
  const seatCount = await pageA.locator(`${tid('seat-map')} [data-seat-id]`).count();
  assert.equal(seatCount, 16 * 32, 'demo hall has rows A–P × 32 seats');

  const ids = await pickTwoSeats(pageA, 2);
  state.heldIds = ids;
  for (const id of ids) await pageA.locator(seatSel(id)).click();
  await waitForStates(pageA, ids, 'mine', 2_000);
  const label = await pageA.locator(seatSel(ids[0])).getAttribute('aria-label');
  assert.match(label, /^Row C seat \d+, .+ .*\d.*, selected$/);
  await shot(pageA, 'seatmap-A-selected');

  await pageA.locator(tid('hold-button')).click();
  const dialog = pageA.locator(tid('payment-dialog'));
  await dialog.waitFor({ state: 'visible' });
  assert.match(await pageA.locator(tid('countdown')).textContent(), /^(0\d|10):\d\d$/);
  // The card field is the payment provider's, in its own frame: our page has none.
  await cardField(pageA).waitFor();
  assert.equal(await pageA.locator('input[autocomplete="cc-number"]').count(), 0, 'no card field in our own page');

  await waitForStates(pageB, ids, 'held');
  await shot(pageB, 'seatmap-B-sees-held');
  await shot(pageA, 'payment-dialog');

  await pageA.locator(tid('cancel')).click();
  await dialog.waitFor({ state: 'detached' });
  await waitForStates(pageB, ids, 'available');
  await waitForStates(pageA, ids, 'available', 2_000);
});

test('B can select and unselect a seat with the keyboard', async () => {
  const { pageB } = state;
  const [first] = await pickTwoSeats(pageB, 5);
  await pageB.locator(seatSel(first)).focus();
  await pageB.keyboard.press('ArrowRight');
  const focused = await pageB.evaluate(() => document.activeElement?.getAttribute('data-seat-id'));
  assert.ok(focused && focused !== first, 'ArrowRight moves to the next seat');
  await pageB.keyboard.press('Enter');
  await waitForStates(pageB, [focused], 'mine', 1_000);
  await pageB.keyboard.press('Space');
  await waitForStates(pageB, [focused], 'available', 1_000);
});

test('A pays after one declined card; B sees the seats sold', async () => {
  const { pageA, pageB } = state;
  const ids = state.heldIds;
  const dialog = await selectAndHold(pageA, ids);
  await waitForStates(pageB, ids, 'held');

  // After the decline the same attempt (the same intent) takes the good card; the server's answer to that
  // second checkout is lost on the way back: the page must retry with the same Idempotency-Key and get the
  // first answer replayed. No checkout ever carries a card number.
  const sends = [];
  await pageA.route('**/api/v1/holds/*/checkout', async (route) => {
    const request = route.request();
    sends.push({ key: request.headers()['idempotency-key'], body: request.postData() });
    if (sends.length === 2) {
      await route.fetch();
      return route.abort('connectionreset');
    }
    return route.continue();
  });
  await cardField(pageA).fill(DECLINED_CARD);
  await pageA.locator(tid('proceed')).click();
  const declined = pageA.locator('.pay-message', { hasText: 'Your card was declined' });
  await declined.waitFor({ timeout: 15_000 });
  assert.ok(await dialog.isVisible(), 'the payment window stays open after a decline');
  assert.match(await declined.textContent(), /still held for \d\d:\d\d/);
  await shot(pageA, 'payment-declined');
  await waitForStates(pageB, ids, 'held', 1_000);

  await cardField(pageA).fill(GOOD_CARD);
  // A double click must not pay twice either (one key per attempt, the button is disabled in flight).
  await pageA.locator(tid('proceed')).dblclick();
  const confirmation = pageA.locator(tid('confirmation'));
  await confirmation.waitFor({ timeout: 15_000 });
  await pageA.unroute('**/api/v1/holds/*/checkout');
  assert.ok(sends.length >= 3, `the lost answer was retried (${JSON.stringify(sends)})`);
  assert.equal(new Set(sends.map((s) => s.key)).size, 1, 'one attempt, one Idempotency-Key, across the decline and the retry');
  assert.match(sends[0].key, /^[0-9a-f-]{36}$/);
  for (const s of sends) assert.ok(!s.body.includes(GOOD_CARD) && !s.body.includes(DECLINED_CARD), `a card number reached our server: ${s.body}`);
  assert.equal(await dialog.count(), 0, 'the payment window is closed');
  const text = await confirmation.textContent();
  assert.match(text, /Order number/);
  await shot(pageA, 'confirmation');

  await waitForStates(pageB, ids, 'sold');
  await shot(pageB, 'seatmap-B-sees-sold');
});

test("A's tickets list the two seats with loaded QR codes", async () => {
  const { pageA } = state;
  await pageA.locator(tid('my-tickets-link')).click();
  const tickets = pageA.locator(tid('ticket'));
  await tickets.first().waitFor({ timeout: 10_000 });
  assert.equal(await tickets.count(), 2, 'one paid order of two tickets, despite the double click');
  await pageA.waitForFunction(() => [...document.querySelectorAll('[data-testid="ticket"] img')].every((img) => img.complete), null, { timeout: 10_000 });
  const qr = await pageA.$$eval('[data-testid="ticket"] img', (imgs) => imgs.map((img) => ({ w: img.naturalWidth, alt: img.alt, src: img.getAttribute('src') })));
  for (const img of qr) {
    assert.ok(img.w > 0, `QR image ${img.src} loaded`);
    assert.match(img.alt, /^QR code for ticket Row [A-P] seat \d+$/);
  }
  await shot(pageA, 'my-tickets');
});

test("a seat taken while B's map is stale: the hold is refused and B is told which seat", async () => {
  const { pageA, pageB } = state;
  // Starve B's live stream so B keeps showing the seat as free.
  await pageB.route('**/api/v1/events/*/stream*', (route) => route.fulfill({ status: 200, contentType: 'text/event-stream', body: 'retry: 600000\n\n' }));
  await pageB.reload();
  await pageB.locator(`${tid('seat-map')} [data-seat-id]`).first().waitFor();
  await pageB.waitForFunction(() => document.querySelectorAll('[data-state="sold"]').length >= 2, null, { timeout: 5_000 });
  const [taken, other] = await pickTwoSeats(pageB, 9);
  await pageB.locator(seatSel(taken)).click();
  await pageB.locator(seatSel(other)).click();

  await openDemoEvent(pageA);
  await selectAndHold(pageA, [taken]);

  await pageB.locator(tid('hold-button')).click();
  const notice = pageB.locator('.basket-notice.error');
  await notice.waitFor({ timeout: 5_000 });
  const takenLabel = await pageB.locator(seatSel(taken)).getAttribute('aria-label');
  assert.match(await notice.textContent(), new RegExp(`${takenLabel.split(',')[0]} was just taken`));
  await waitForStates(pageB, [other], 'mine', 1_000);
  assert.notEqual(await pageB.locator(seatSel(taken)).getAttribute('data-state'), 'mine', 'the taken seat is deselected');
  await shot(pageB, 'seatmap-B-seat-taken');

  // B's stream comes back; A leaves the page with the payment window open: the hold is released.
  await pageB.unroute('**/api/v1/events/*/stream*');
  await pageB.reload();
  await pageB.locator('.live-status[data-status="live"]').waitFor();
  await waitForStates(pageB, [taken], 'held');
  await pageA.reload(); // pagehide: a keepalive DELETE releases the hold
  await waitForStates(pageB, [taken], 'available');
});

test('on a 390 px phone the map fits, zooms on tap, and a guest signs in without losing the selection', async () => {
  const page = await h.browser('phone', { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  await page.goto(`${h.baseUrl}/#/`);
  await page.locator(tid('event-link')).first().tap();
  await page.locator('.live-status[data-status="live"]').waitFor({ timeout: 10_000 });
  await assertNoHorizontalScroll(page);
  const m = await page.evaluate(() => {
    const svg = document.querySelector('[data-testid="seat-map"]').getBoundingClientRect();
    return { innerWidth, left: svg.left, right: svg.right, width: svg.width };
  });
  assert.ok(m.left >= 0 && m.right <= m.innerWidth, `seat map inside the screen (${m.left}..${m.right} of ${m.innerWidth})`);
  assert.ok(m.width >= 300, `seat map uses the width (${m.width} px)`);
  await shot(page, 'mobile-seatmap');

  // First tap zooms in around the finger (seats are too small to hit), the second one selects.
  const [seat] = await pickTwoSeats(page, 8);
  await page.locator(seatSel(seat)).tap();
  await page.locator('.map-viewport.zoomed').waitFor({ timeout: 2_000 });
  await assertNoHorizontalScroll(page);
  await page.locator(seatSel(seat)).tap();
  await waitForStates(page, [seat], 'mine', 2_000);
  await page.locator('.map-viewport').screenshot({ path: h.file('mobile-zoomed') });

  // A guest is sent to sign in and comes back to the same selection.
  await page.locator(tid('hold-button')).tap();
  await page.locator(tid('login-email')).waitFor();
  await page.locator(tid('login-email')).fill(`ada-${stamp}@example.com`);
  await page.locator(tid('login-password')).fill('correct horse battery');
  await shot(page, 'mobile-login');
  await page.locator(tid('login-submit')).tap();
  await page.locator('.live-status[data-status="live"]').waitFor({ timeout: 10_000 });
  await waitForStates(page, [seat], 'mine', 2_000);

  await page.locator(tid('hold-button')).tap();
  await page.locator(tid('payment-dialog')).waitFor({ state: 'visible' });
  await waitForStates(state.pageB, [seat], 'held');
  const box = await page.locator(tid('payment-dialog')).boundingBox();
  assert.ok(box.x >= 0 && box.x + box.width <= 390, 'the payment window fits the phone');
  await page.screenshot({ path: h.file('mobile-payment-dialog') });
  // Escape (the Android back gesture does the same) releases the hold just like Cancel.
  await page.keyboard.press('Escape');
  await page.locator(tid('payment-dialog')).waitFor({ state: 'detached' });
  await waitForStates(state.pageB, [seat], 'available');

  await page.locator(tid('my-tickets-link')).tap();
  await page.locator(tid('ticket')).first().waitFor();
  await assertNoHorizontalScroll(page);
  await shot(page, 'mobile-my-tickets');
});

test('no errors in any browser console', () => {
  assert.deepEqual(h.consoleErrors, []);
});

test('no WCAG 2.1 A/AA violations found by axe-core on any screen', () => {
  assert.deepEqual(a11y, []);
});
