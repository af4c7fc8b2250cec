// The door page on a phone: staff check tickets in online (green, then amber for the same ticket, red for a
// forgery); with the network gone the phone checks signatures itself with the event's public key and keeps the
// scans, and once back online it sends them in one batch and shows what the server settled. Buyers see no door.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, GOOD_CARD, tid, pickTwoSeats, selectAndHold, register, openDemoEvent, accessibilityViolations, cardField } from './harness.mjs';

const h = new Harness('door-');
const ADMIN = { email: 'admin@door.test', password: 'admin password 1' };
const STAFF = { email: `staff-${Date.now().toString(36)}@door.test`, password: 'staff password 1', name: 'Sam Staff' };
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const state = {};

before(async () => {
  await h.start({ BOXOFFICE_ADMIN_EMAIL: ADMIN.email, BOXOFFICE_ADMIN_PASSWORD: ADMIN.password });
  // Offline, the page's requests fail by design; and an invalid ticket is a 404 answer.
  h.allowConsoleNoise(/ERR_INTERNET_DISCONNECTED|status of 404/);
  state.buyer = await h.browser('buyer');
  state.staff = await h.browser('staff', PHONE);
  state.admin = await h.browser('admin');
});

after(() => h.stop());

async function call(path, { method = 'GET', body, token } = {}) {
  const r = await fetch(`${h.baseUrl}/api/v1${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

async function signIn({ email, password }) {
  const r = await call('/auth/login', { method: 'POST', body: { email, password } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.token;
}

const result = (page) => page.locator(tid('door-result'));

async function expectResult(page, kind, text) {
  await page.locator(`${tid('door-result')}[data-result="${kind}"]`).waitFor({ timeout: 10_000 });
  if (text) assert.match(await result(page).textContent(), text);
}

async function enter(page, code) {
  await page.locator(tid('door-code')).fill(code);
  await page.locator(tid('door-check')).click();
}

/** The code with one character of its signature changed: it still looks like a ticket, but is not one. */
function forge(code) {
  const dot = code.lastIndexOf('.');
  const c = code[dot + 1] === 'A' ? 'B' : 'A';
  return `${code.slice(0, dot + 1)}${c}${code.slice(dot + 2)}`;
}

test('a buyer buys two tickets and finds no door page', async () => {
  const page = state.buyer;
  await register(page, h.baseUrl, 'Bea Buyer', `bea-${Date.now().toString(36)}@example.com`, 'correct horse battery');
  await openDemoEvent(page, h.baseUrl);
  const seats = await pickTwoSeats(page, 4);
  await selectAndHold(page, seats);
  await cardField(page).fill(GOOD_CARD);
  await page.locator(tid('proceed')).click();
  await page.locator(tid('confirmation')).waitFor({ timeout: 15_000 });
  const { orders } = await page.evaluate(async () => (await fetch('/api/v1/orders')).json());
  state.tickets = orders[0].tickets;
  state.eventId = orders[0].event_id;
  assert.equal(state.tickets.length, 2);
  for (const t of state.tickets) assert.match(t.code, /^BO2\./);

  await page.goto(`${h.baseUrl}/#/door`);
  await page.locator(tid('door-not-for-you')).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator(tid('door-code')).count(), 0, 'no door controls for a buyer');
  assert.equal(await page.locator(tid('door-link')).count(), 0, 'no door link for a buyer');
  await h.shot(page, 'buyer-not-for-you');
  assert.deepEqual(await accessibilityViolations(page), []);
});

test('an organiser makes door staff, who check tickets in online: green, then amber, and red for a forgery', async () => {
  const page = state.staff;
  const registered = await call('/auth/register', { method: 'POST', body: STAFF });
  assert.equal(registered.status, 201, JSON.stringify(registered.body));
  // The organiser makes them door staff in the app's People page, as a box office would.
  const admin = state.admin;
  await admin.goto(`${h.baseUrl}/#/login`);
  await admin.locator(tid('login-email')).fill(ADMIN.email);
  await admin.locator(tid('login-password')).fill(ADMIN.password);
  await admin.locator(tid('login-submit')).click();
  await admin.locator(tid('signed-in-user')).waitFor({ timeout: 15_000 });
  await admin.goto(`${h.baseUrl}/#/admin/people`);
  await admin.locator(tid('staff-email')).fill(STAFF.email);
  await admin.locator(tid('make-staff')).click();
  const row = admin.locator(`${tid('people')} tr[data-email="${STAFF.email}"]`);
  await row.waitFor({ timeout: 10_000 });
  assert.match(await row.textContent(), /Door staff/);
  state.staffToken = await signIn(STAFF);

  await page.goto(`${h.baseUrl}/#/login`);
  await page.locator(tid('login-email')).fill(STAFF.email);
  await page.locator(tid('login-password')).fill(STAFF.password);
  await page.locator(tid('login-submit')).click();
  await page.locator(tid('signed-in-user')).waitFor({ timeout: 15_000 });
  // The header holds the name and the buttons, nothing else (it once showed a stray "null").
  assert.equal((await page.locator('#account').innerText()).replace(/\s+/g, ' ').trim(), 'SS Sam Staff Sign out');
  await page.locator(tid('door-link')).click();
  await page.locator(`${tid('door-offline-ready')}[data-ready="true"]`).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator(tid('door-event')).inputValue(), state.eventId);
  await page.locator(tid('door-gate')).fill('North');
  await page.locator(tid('door-gate')).press('Tab');
  await h.shot(page, 'staff-ready');
  assert.deepEqual(await accessibilityViolations(page), []);

  const [first] = state.tickets;
  await enter(page, first.code);
  await expectResult(page, 'admitted', /Admitted/);
  await page.locator(`${tid('door-counts')} li[data-gate="North"]`).waitFor({ timeout: 10_000 });
  assert.match(await page.locator(tid('door-total')).textContent(), /^1 of 2 tickets/);
  await h.shot(page, 'online-admitted');
  assert.deepEqual(await accessibilityViolations(page), []);

  await enter(page, first.code);
  await expectResult(page, 'already', /Already in.*North/s);
  await h.shot(page, 'online-already-in');
  assert.deepEqual(await accessibilityViolations(page), []);

  await enter(page, forge(first.code));
  await expectResult(page, 'invalid', /Not valid/);
  await h.shot(page, 'online-forged');
  assert.deepEqual(await accessibilityViolations(page), []);
});

test('offline, the phone checks codes itself and keeps the scans; back online the server settles them', async () => {
  const page = state.staff;
  const second = state.tickets[1];
  await page.locator(tid('door-gate')).fill('East');
  await page.locator(tid('door-gate')).press('Tab');

  await page.context().setOffline(true);
  await page.locator(`${tid('door-network')}[data-online="false"]`).waitFor({ timeout: 5_000 });
  await enter(page, second.code);
  await expectResult(page, 'admitted', /Admitted.*offline/s);
  assert.match(await page.locator(tid('door-pending')).textContent(), /1 scan waiting/);
  await h.shot(page, 'offline-admitted');
  assert.deepEqual(await accessibilityViolations(page), []);

  await enter(page, forge(second.code));
  await expectResult(page, 'invalid', /forged or damaged/);
  await h.shot(page, 'offline-forged');
  // Another seat in a genuine code's place: the signature no longer matches.
  await enter(page, second.code.replace(`.${second.seat_id}.`, `.${state.tickets[0].seat_id}.`));
  await expectResult(page, 'invalid', /forged or damaged/);
  await enter(page, second.code);
  await expectResult(page, 'already', /scanned on this phone at East/);
  await h.shot(page, 'offline-already-in');

  // Nothing reached the server while the phone was offline.
  const meanwhile = await call(`/events/${state.eventId}/checkins`, { token: state.staffToken });
  assert.equal(meanwhile.body.total, 1, JSON.stringify(meanwhile.body));

  await page.context().setOffline(false);
  await page.locator(tid('door-sync-summary')).waitFor({ timeout: 15_000 });
  assert.match(await page.locator(tid('door-sync-summary')).textContent(), /settled 1 offline scan: 1 first entry, 0 already in before, 0 not valid/);
  await page.locator(`${tid('door-counts')} li[data-gate="East"]`).waitFor({ timeout: 10_000 });
  assert.match(await page.locator(tid('door-total')).textContent(), /^2 of 2 tickets/);
  assert.equal(await page.locator(tid('door-pending')).textContent(), '');
  await h.shot(page, 'back-online-settled');
  assert.deepEqual(await accessibilityViolations(page), []);

  const counts = await call(`/events/${state.eventId}/checkins`, { token: state.staffToken });
  assert.deepEqual(counts.body.gates, [{ gate: 'East', checked_in: 1 }, { gate: 'North', checked_in: 1 }]);
  assert.equal(counts.body.total, 2);
  assert.deepEqual(h.consoleErrors, []);
});

// Headless Chromium on Linux has neither a camera nor a BarcodeDetector: this phone gets stand-ins for both (a
// painted canvas as the camera, a detector that reads whatever code the test holds up), so that the page's own
// camera path runs: it opens the stream, reads the code many times a second, and checks it once.
test('with the camera, a code held up is read and checked once', async () => {
  const page = await h.browser('camera', PHONE);
  state.camera = page;
  await page.context().addInitScript(() => {
    globalThis.BarcodeDetector = class {
      static async getSupportedFormats() { return ['qr_code']; }
      async detect() { return globalThis.heldUp ? [{ rawValue: globalThis.heldUp, format: 'qr_code' }] : []; }
    };
    navigator.mediaDevices.getUserMedia = async () => {
      const canvas = document.createElement('canvas');
      canvas.width = 320;
      canvas.height = 240;
      const paint = canvas.getContext('2d');
      setInterval(() => { paint.fillStyle = `hsl(${Date.now() % 360} 40% 30%)`; paint.fillRect(0, 0, 320, 240); }, 100);
      return canvas.captureStream(10);
    };
  });
  const checks = [];
  page.on('request', (r) => { if (r.url().endsWith('/api/v1/checkin') && r.method() === 'POST') checks.push(r.postDataJSON()); });
  await page.goto(`${h.baseUrl}/#/login`);
  await page.locator(tid('login-email')).fill(STAFF.email);
  await page.locator(tid('login-password')).fill(STAFF.password);
  await page.locator(tid('login-submit')).click();
  await page.locator(tid('signed-in-user')).waitFor({ timeout: 15_000 });
  await page.goto(`${h.baseUrl}/#/door`);
  await page.locator(`${tid('door-offline-ready')}[data-ready="true"]`).waitFor({ timeout: 10_000 });
  await page.locator(tid('door-camera')).click();
  await page.locator('.door-camera video:not([hidden])').waitFor({ timeout: 5_000 });
  await page.evaluate((code) => { globalThis.heldUp = code; }, state.tickets[0].code);
  await expectResult(page, 'already', /Already in.*North/s);
  // Held in front of the camera for a second more: still the one check.
  await page.waitForTimeout(1_000);
  assert.equal(checks.length, 1, JSON.stringify(checks));
  assert.equal(checks[0].code, state.tickets[0].code);
  await h.shot(page, 'camera-read');
  assert.deepEqual(await accessibilityViolations(page), []);
  await page.locator(tid('door-camera')).click();
  await page.locator('.door-camera video[hidden]').waitFor({ state: 'attached', timeout: 5_000 });
  assert.deepEqual(h.consoleErrors, []);
});

// The network looks up (navigator.onLine) but requests fail: the phone checks the code itself. This phone never saw
// the second ticket, which the first phone let in at East; the server, once reached, says it was already in.
test('when a request fails the phone checks the code itself, and the server tells it of a ticket used twice', async () => {
  const page = state.camera;
  const second = state.tickets[1];
  await page.route('**/api/v1/checkin', (route) => route.abort('internetdisconnected'));
  await enter(page, second.code);
  await expectResult(page, 'admitted', /Admitted.*offline/s);
  assert.equal(await page.locator(`${tid('door-network')}[data-online="false"]`).count(), 1);
  await page.unroute('**/api/v1/checkin');
  // The page tries again by itself every few seconds.
  await page.locator(tid('door-sync-summary')).waitFor({ timeout: 15_000 });
  assert.match(await page.locator(tid('door-sync-summary')).textContent(), /settled 1 offline scan: 0 first entry, 1 already in before, 0 not valid/);
  assert.match(await page.locator(tid('door-sync')).textContent(), /already in \(first at East/);
  await h.shot(page, 'settled-used-twice');
  assert.deepEqual(await accessibilityViolations(page), []);
  const counts = await call(`/events/${state.eventId}/checkins`, { token: state.staffToken });
  assert.equal(counts.body.total, 2, 'the duplicate entry counts no one twice');
  assert.deepEqual(h.consoleErrors, []);
});
