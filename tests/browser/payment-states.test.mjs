// The payment window explains every outcome of a checkout in plain words: a decline and a retry, a
// payment the bank confirms later (202 confirming → paid, or → declined), and a provider that does not
// answer (503: Try again repeats the same attempt with the same Idempotency-Key).
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  Harness, DECLINED_CARD, GOOD_CARD, tid, waitForStates, pickTwoSeats, selectAndHold,
  register, openDemoEvent, accessibilityViolations,
  cardField,
} from './harness.mjs';

const SLOW_SUCCESS_CARD = '4000000000003063';
const SLOW_DECLINE_CARD = '4000000000000259';
const PROVIDER_DOWN = 'The payment provider is not answering. Nothing was charged.';

const h = new Harness('payment-');
const a11y = [];
let page;
/** Every checkout POST the page sends: its Idempotency-Key and body (which never has a card number). */
let sends = [];
/** Every DELETE of a hold the page sends (Cancel, Escape, leaving the page). */
const releases = [];
/** When set, the next checkout POST is answered with this instead of reaching the server. */
let fakeNextCheckout = null;
/** While set, answers to GET /payments/{id} wait for it: the "confirming" state stays on screen. */
let paymentGate = null;
/** When set, GET /payments/{id} answers these, one by one. */
let fakePayments = null;

const shot = async (name) => {
  await h.shot(page, name);
  for (const v of await accessibilityViolations(page)) a11y.push(`${name}: ${v}`);
};
const message = () => page.locator(tid('pay-message'));
const status = () => page.locator(tid('pay-status'));

before(async () => {
  await h.start({ BOXOFFICE_PAYMENT_RECONCILE_INTERVAL_MS: '200' });
  // The 503 below is injected on purpose; Chrome logs it like any failed resource.
  h.allowConsoleNoise(/Failed to load resource: the server responded with a status of 503/);
  page = await h.browser('payer');
  await page.route('**/api/v1/holds/*/checkout', async (route) => {
    const request = route.request();
    sends.push({
      key: request.headers()['idempotency-key'],
      body: request.postData(),
      holdId: new URL(request.url()).pathname.split('/')[4],
    });
    if (fakeNextCheckout) {
      const answer = fakeNextCheckout;
      fakeNextCheckout = null;
      return route.fulfill(answer);
    }
    return route.continue();
  });
  await page.route('**/api/v1/payments/*', async (route) => {
    if (paymentGate) await paymentGate.promise;
    if (fakePayments) return route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ payment: fakePayments.shift() }) });
    return route.continue();
  });
  page.on('request', (r) => {
    if (r.method() === 'DELETE' && /\/api\/v1\/holds\/[^/]+$/.test(new URL(r.url()).pathname)) releases.push(r.url());
  });
  const stamp = Date.now().toString(36);
  await register(page, h.baseUrl, 'Pat Payer', `pat-${stamp}@example.com`, 'pay me later please');
});

after(() => h.stop());

afterEach(() => paymentGate?.open());

function gate() {
  let open;
  const promise = new Promise((r) => (open = r));
  paymentGate = { promise, open: () => { paymentGate = null; open(); } };
  return paymentGate;
}

async function holdTwo(row) {
  await openDemoEvent(page, h.baseUrl);
  const ids = await pickTwoSeats(page, row);
  const dialog = await selectAndHold(page, ids);
  sends = [];
  return { ids, dialog };
}

async function pay(card) {
  await cardField(page).fill(card);
  await page.locator(tid('proceed')).click();
}

async function confirmed(dialog, ids) {
  const confirmation = page.locator(tid('confirmation'));
  await confirmation.waitFor({ timeout: 15_000 });
  assert.equal(await dialog.count(), 0, 'the payment window is closed');
  assert.match(await confirmation.textContent(), /Order number/);
  assert.equal(await confirmation.locator('.confirm-seats li').count(), ids.length, 'the confirmation lists the seats');
  return confirmation;
}

test('the sandbox hint lists the test cards', async () => {
  const { dialog } = await holdTwo(1);
  await page.locator('#card-hint .test-cards').waitFor();
  const hint = await page.locator('#card-hint').textContent();
  for (const card of ['4242 4242 4242 4242', '4000 0000 0000 0002', '4000 0027 6000 3184', '4000 0000 0000 3063', '4000 0000 0000 0259']) {
    assert.ok(hint.includes(card), `hint mentions ${card}`);
  }
  await shot('payment-window-test-cards');
  await page.locator(tid('cancel')).click();
  await dialog.waitFor({ state: 'detached' });
});

test('a declined card keeps the hold; another card pays on the same attempt and Idempotency-Key', async () => {
  const { ids, dialog } = await holdTwo(2);
  await pay(DECLINED_CARD);
  await message().getByText('Your card was declined.').waitFor({ timeout: 15_000 });
  assert.ok(await dialog.isVisible(), 'the payment window stays open after a decline');
  assert.match(await message().textContent(), /still held for \d\d:\d\d — try another card/);
  assert.equal(await page.locator(tid('proceed')).isEnabled(), true);
  await waitForStates(page, ids, 'mine', 1_000);
  await shot('declined');

  await pay(GOOD_CARD);
  await confirmed(dialog, ids);
  assert.equal(sends.length, 2, JSON.stringify(sends));
  assert.equal(sends[0].key, sends[1].key, 'another card after a decline confirms the same intent: same attempt, same key');
  await shot('declined-then-paid-confirmation');
});

test('a payment the bank confirms later: "Confirming your payment…", nothing releases the hold, then the confirmation', async () => {
  const { ids, dialog } = await holdTwo(3);
  releases.length = 0;
  const held = gate();
  await pay(SLOW_SUCCESS_CARD);
  await status().getByText('Confirming your payment…').waitFor({ timeout: 10_000 });
  assert.equal(await status().getAttribute('role'), 'status', 'a polite live region');
  assert.equal(await page.locator(tid('cancel')).isDisabled(), true, 'Cancel is disabled while money may be moving');
  assert.equal(await page.locator(tid('proceed')).isDisabled(), true);
  assert.equal(await page.locator(tid('proceed')).textContent(), 'Confirming…');

  // The spinner turns, except for buyers who asked for less motion.
  const spinner = status().locator('.spinner');
  assert.equal(await spinner.evaluate((el) => getComputedStyle(el).animationName), 'spin');
  await page.emulateMedia({ reducedMotion: 'reduce' });
  assert.equal(await spinner.evaluate((el) => getComputedStyle(el).animationName), 'none');
  await page.emulateMedia({ reducedMotion: 'no-preference' });
  await shot('confirming');

  // Escape, and the browser closing the modal by itself, leave the window and the hold alone.
  await page.keyboard.press('Escape');
  await page.evaluate(() => document.querySelector('[data-testid="payment-dialog"]').close());
  // The close event comes a moment later and puts the window straight back.
  await dialog.waitFor({ state: 'visible', timeout: 1_000 });
  assert.equal(await page.evaluate(() => document.querySelector('[data-testid="payment-dialog"]')?.open), true, 'the payment window stays open while confirming');
  assert.ok(await status().getByText('Confirming your payment…').isVisible());
  // Still mine, or already sold if the server settled while the page's polls are held back; never released.
  const states = await page.evaluate((ids) => ids.map((id) => document.querySelector(`[data-testid="seat-map"] [data-seat-id="${id}"]`).dataset.state), ids);
  assert.ok(states.every((st) => st === 'mine' || st === 'sold'), `seats kept while confirming: ${states}`);
  assert.deepEqual(releases, [], 'no release of the hold while confirming');

  held.open();
  await confirmed(dialog, ids);
  assert.equal(sends.length, 1, 'one checkout request; the rest was polling');
  assert.deepEqual(releases, []);
  await shot('confirmed-later');
});

test('a payment the bank declines later: the decline, then another card pays', async () => {
  const { ids, dialog } = await holdTwo(4);
  await pay(SLOW_DECLINE_CARD);
  await status().getByText('Confirming your payment…').waitFor({ timeout: 10_000 });
  await message().getByText('Your card was declined.').waitFor({ timeout: 15_000 });
  assert.equal(await status().textContent(), '', 'the confirming notice is gone');
  assert.match(await message().textContent(), /still held for \d\d:\d\d — try another card/);
  assert.equal(await page.locator(tid('cancel')).isEnabled(), true, 'Cancel works again');
  assert.equal(await page.locator(tid('proceed')).textContent(), 'Proceed');
  await waitForStates(page, ids, 'mine', 1_000);
  await shot('declined-after-confirming');

  await pay(GOOD_CARD);
  await confirmed(dialog, ids);
  assert.equal(sends.length, 2, JSON.stringify(sends));
  assert.equal(sends[0].key, sends[1].key, 'another card after a decline confirms the same intent: same attempt, same key');
  for (const { body } of sends) assert.ok(!body.includes(SLOW_DECLINE_CARD) && !body.includes(GOOD_CARD), `a card number reached our server: ${body}`);
});

test('the provider does not answer (503): nothing charged, Try again repeats the same attempt', async () => {
  const { ids, dialog } = await holdTwo(5);
  fakeNextCheckout = {
    status: 503,
    contentType: 'application/json',
    headers: { 'Retry-After': '5' },
    body: JSON.stringify({ error: { code: 'unavailable', message: 'The payment provider is not answering. Nothing was charged; please try again.' } }),
  };
  await pay(GOOD_CARD);
  await message().getByText(PROVIDER_DOWN).waitFor({ timeout: 10_000 });
  const tryAgain = page.locator(tid('proceed'));
  assert.equal(await tryAgain.textContent(), 'Try again');
  assert.equal(await tryAgain.isEnabled(), true);
  assert.equal(sends.length, 1, 'no automatic retry of a 503: the buyer decides');
  assert.ok(await dialog.isVisible());
  await waitForStates(page, ids, 'mine', 1_000);
  await shot('provider-not-answering');

  await tryAgain.click();
  await confirmed(dialog, ids);
  assert.equal(sends.length, 2, JSON.stringify(sends));
  assert.equal(sends[1].key, sends[0].key, 'Try again reuses the Idempotency-Key');
  await shot('paid-after-provider-came-back');
});

test('leaving the page while confirming keeps the hold; the tickets then appear in My tickets', async () => {
  await page.locator(tid('my-tickets-link')).click();
  await page.locator(tid('ticket')).first().waitFor({ timeout: 10_000 });
  const before = await page.locator(tid('ticket')).count();
  const { ids } = await holdTwo(6);
  releases.length = 0;
  const held = gate();
  await pay(SLOW_SUCCESS_CARD);
  await status().getByText('Confirming your payment…').waitFor({ timeout: 10_000 });
  // The modal makes the page inert: the buyer leaves through the browser (address bar, back button).
  await page.evaluate(() => { location.hash = '#/tickets'; });
  await page.locator(tid('payment-dialog')).waitFor({ state: 'detached' });
  await page.locator('#flash', { hasText: 'still confirming your payment' }).waitFor({ timeout: 5_000 });
  await shot('left-while-confirming');
  held.open();
  assert.deepEqual(releases, [], 'leaving while confirming does not release the hold');
  await page.waitForTimeout(2_500);
  await page.reload();
  await page.locator(tid('ticket')).first().waitFor({ timeout: 10_000 });
  assert.equal(await page.locator(tid('ticket')).count(), before + ids.length, 'the confirmed payment became tickets');
});

test('paid after the hold ended and the seats were gone: "Refunded", the window closes to the map', async () => {
  // The server's refunded answers, faked: a late payment needs the hold to lapse and another buyer in between.
  const refundedFlash = page.locator('#flash', { hasText: 'Refunded: the seats were no longer available.' });
  for (const [row, how] of [[7, 'checkout answers 409 refunded'], [8, 'confirming, then the payment is refunded']]) {
    const { dialog } = await holdTwo(row);
    const payment = { id: 'pay-fake', hold_id: 'h', amount_cents: 17800, currency: 'EUR' };
    const refunded = 'Your payment arrived after your hold ended and some of the seats had been taken by then. The charge was refunded in full.';
    if (how.startsWith('checkout')) {
      fakeNextCheckout = { status: 409, contentType: 'application/json', body: JSON.stringify({ error: { code: 'hold_not_active', message: refunded, details: { refunded: true, payment_id: 'pay-fake' } } }) };
    } else {
      fakeNextCheckout = { status: 202, contentType: 'application/json', body: JSON.stringify({ payment: { ...payment, status: 'confirming', message: 'Confirming your payment with the bank.' } }) };
      fakePayments = [{ ...payment, status: 'confirming', message: '…' }, { ...payment, status: 'refunded', message: refunded }];
    }
    await pay(GOOD_CARD);
    await dialog.waitFor({ state: 'detached', timeout: 10_000 });
    await refundedFlash.waitFor({ timeout: 2_000 });
    assert.match(await refundedFlash.textContent(), /refunded in full/, how);
    assert.equal(fakePayments?.length ?? 0, 0, how);
    fakePayments = null;
    if (row === 8) await shot('refunded');
    // The faked answers left the real hold active: let it go.
    await page.locator(tid('hold-button')).waitFor();
    assert.equal((await page.request.delete(`${h.baseUrl}/api/v1/holds/${sends[0].holdId}`, { headers: { Origin: h.baseUrl } })).status(), 204, how);
  }
});

test('no errors in the console', () => {
  assert.deepEqual(h.consoleErrors, []);
});

test('no WCAG 2.1 A/AA violations found by axe-core on any screen', () => {
  assert.deepEqual(a11y, []);
});
