// The waiting room as two buyers see it: each waits in line and watches their place fall; the
// first is let in, sees the seat map and buys, while the second is still waiting (the room lets
// only four buyers shop at once); a reload keeps the place; once the first has paid, the second
// is let in.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, GOOD_CARD, tid, pickTwoSeats, selectAndHold, register, accessibilityViolations, cardField } from './harness.mjs';

const h = new Harness('waiting-room-');
const ADMIN = { email: 'admin@queue.test', password: 'admin password 1' };
const state = {};

before(async () => {
  await h.start({ BOXOFFICE_ADMIN_EMAIL: ADMIN.email, BOXOFFICE_ADMIN_PASSWORD: ADMIN.password });
  state.first = await h.browser('first');
  state.second = await h.browser('second');
});

after(() => h.stop());

async function call(method, path, { token, body } = {}) {
  const r = await fetch(`${h.baseUrl}/api/v1${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  assert.ok(r.ok, `${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function signIn(email, password) {
  return (await call('POST', '/auth/login', { body: { email, password } })).token;
}

/** A buyer who is not in a browser: registers, signs in, and joins the line. */
async function buyerInLine(eventId, n) {
  const email = `ahead-${n}-${Date.now().toString(36)}@example.com`;
  await call('POST', '/auth/register', { body: { email, password: 'correct horse battery', name: `Ahead ${n}` } });
  const token = await signIn(email, 'correct horse battery');
  await call('POST', `/events/${eventId}/queue`, { token });
  return token;
}

/** The number in the page's "place in line" box. */
const shownPosition = async (page) => Number((await page.locator(tid('queue-position')).textContent()).replace(/\D/g, ''));

test('a buyer waits, watches the place fall, is let in and buys while a second buyer still waits', async () => {
  const { first, second } = state;
  const admin = await signIn(ADMIN.email, ADMIN.password);
  const { events } = await call('GET', '/events');
  const eventId = events[0].id;
  // One a minute: nobody moves until the admin speeds it up.
  await call('PUT', `/admin/events/${eventId}/waiting-room`, { token: admin, body: { enabled: true, admit_per_minute: 1, max_active: 4 } });
  const ahead = [];
  for (let n = 1; n <= 3; n++) ahead.push(await buyerInLine(eventId, n));

  await register(first, h.baseUrl, 'Fran First', `fran-${Date.now().toString(36)}@example.com`, 'correct horse battery');
  await first.goto(`${h.baseUrl}/#/events/${eventId}`);
  await first.locator(tid('waiting-room')).waitFor({ timeout: 10_000 });
  await first.waitForFunction((sel) => /^\d/.test(document.querySelector(sel)?.textContent || ''), tid('queue-position'));
  assert.equal(await shownPosition(first), 4);
  assert.equal(Number((await first.locator(tid('queue-ahead')).textContent()).replace(/\D/g, '')), 3);
  await h.shot(first, 'first-waiting');
  assert.deepEqual(await accessibilityViolations(first), []);

  await register(second, h.baseUrl, 'Sam Second', `sam-${Date.now().toString(36)}@example.com`, 'correct horse battery');
  await second.goto(`${h.baseUrl}/#/events/${eventId}`);
  await second.locator(tid('waiting-room')).waitFor({ timeout: 10_000 });
  await second.waitForFunction((sel) => /^\d/.test(document.querySelector(sel)?.textContent || ''), tid('queue-position'));
  assert.equal(await shownPosition(second), 5);

  // A reload finds the same place.
  await first.reload();
  await first.locator(tid('waiting-room')).waitFor({ timeout: 10_000 });
  await first.waitForFunction((sel) => /^\d/.test(document.querySelector(sel)?.textContent || ''), tid('queue-position'));
  assert.equal(await shownPosition(first), 4, 'the place survives a reload');

  // One every three seconds: the three ahead are let in (and start shopping), then the first buyer.
  await call('PUT', `/admin/events/${eventId}/waiting-room`, { token: admin, body: { enabled: true, admit_per_minute: 20, max_active: 4 } });
  const claimed = new Set();
  const seen = new Set([4]);
  const deadline = Date.now() + 30_000;
  while (!(await first.locator(`${tid('seat-map')} [data-seat-id]`).count())) {
    if (Date.now() > deadline) {
      await h.shot(first, 'first-never-let-in');
      assert.fail(`the first buyer was never let in: saw ${[...seen].join(', ')}, ${claimed.size} ahead let in; page: ${await first.locator('main').innerText()}`);
    }
    for (const [i, token] of ahead.entries()) {
      if (claimed.has(i)) continue;
      const { place } = await call('GET', `/events/${eventId}/queue`, { token });
      if (place.status === 'admitted') claimed.add(i);
    }
    if (await first.locator(tid('queue-position')).count()) seen.add(await shownPosition(first).catch(() => 4));
    await new Promise((r) => setTimeout(r, 150));
  }
  assert.ok([...seen].some((p) => p < 4), `the place fell before the turn came: saw ${[...seen].join(', ')}`);
  assert.equal(claimed.size, 3, 'the three ahead were let in first');
  await first.locator('.live-status[data-status="live"]').waitFor({ timeout: 10_000 });

  // Four are shopping: the second buyer, next in line, waits for one of them to finish.
  const seats = await pickTwoSeats(first, 4);
  await selectAndHold(first, seats);
  await new Promise((r) => setTimeout(r, 1_500));
  assert.equal(await second.locator(tid('waiting-room')).count(), 1, 'the second buyer is still waiting');
  assert.equal(await shownPosition(second), 1);
  await h.shot(second, 'second-next-in-line');

  await cardField(first).fill(GOOD_CARD);
  await first.locator(tid('proceed')).click();
  await first.locator(tid('confirmation')).waitFor({ timeout: 15_000 });
  await h.shot(first, 'first-bought');

  // The first buyer is done: their place among the four goes to the second.
  await second.locator(`${tid('seat-map')} [data-seat-id]`).first().waitFor({ timeout: 15_000 });
  await h.shot(second, 'second-let-in');
  assert.deepEqual(h.consoleErrors, []);
});
