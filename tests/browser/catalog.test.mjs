// An event an admin creates through the API appears beside the demo event on the buyer's site: its
// card in the list, its own seat map (two sections, three prices), and it can be bought.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, GOOD_CARD, tid, seatSel, selectAndHold, register, accessibilityViolations, waitForStates, cardField } from './harness.mjs';

const h = new Harness('catalog-');
const ADMIN = { email: 'admin@catalog.test', password: 'admin password 1' };
const state = {};

before(async () => {
  await h.start({ BOXOFFICE_ADMIN_EMAIL: ADMIN.email, BOXOFFICE_ADMIN_PASSWORD: ADMIN.password });
  state.page = await h.browser('buyer');
});

after(() => h.stop());

async function asAdmin(path, body) {
  if (!state.token) {
    const login = await fetch(`${h.baseUrl}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(ADMIN),
    });
    assert.equal(login.status, 200);
    state.token = (await login.json()).token;
  }
  const r = await fetch(`${h.baseUrl}/api/v1${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${state.token}` },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  assert.equal(r.status, 201, text);
  return JSON.parse(text);
}

/** A studio: four stalls rows of 12 and a balcony of two rows of 10 behind them. */
function studio() {
  const row = (section, label, n, y) => ({
    label,
    seats: Array.from({ length: n }, (_, i) => ({ id: `${section}-${label}-${i + 1}`, label: String(i + 1), x: 60 + i * 24 + (12 - n) * 12, y, accessible: section === 'S' && label === 'D' && i < 2 })),
  });
  return {
    width: 400,
    height: 330,
    stage: { x: 80, y: 16, width: 240, height: 36, label: 'Stage' },
    sections: [
      { id: 'stalls', name: 'Stalls', rows: ['A', 'B', 'C', 'D'].map((l, i) => row('S', l, 12, 90 + i * 26)) },
      { id: 'balcony', name: 'Balcony', rows: ['A', 'B'].map((l, i) => row('B', l, 10, 240 + i * 26)) },
    ],
  };
}

test('a second event created by an admin is listed, drawn and sold on the buyer site', async () => {
  const layout = studio();
  const { venue } = await asAdmin('/admin/venues', { name: 'The Studio', layout });
  const seat_categories = {};
  for (const section of layout.sections) {
    for (const row of section.rows) {
      for (const seat of row.seats) seat_categories[seat.id] = section.id === 'balcony' ? 'Balcony' : row.label === 'A' ? 'Front stalls' : 'Stalls';
    }
  }
  const starts = new Date(Date.now() + 45 * 86400_000).toISOString();
  const opens = new Date(Date.now() - 3600_000).toISOString();
  const { event } = await asAdmin('/admin/events', {
    venue_id: venue.id,
    name: 'Chamber Music at The Studio',
    starts_at: starts,
    sale_opens_at: opens,
    categories: [
      { name: 'Front stalls', price_cents: 4500, currency: 'EUR' },
      { name: 'Stalls', price_cents: 3200 },
      { name: 'Balcony', price_cents: 1800 },
    ],
    seat_categories,
  });

  const { page } = state;
  await register(page, h.baseUrl, 'Cass Catalog', `cass-${Date.now().toString(36)}@example.com`, 'correct horse battery');
  await page.goto(`${h.baseUrl}/#/`);
  const cards = page.locator(tid('event-link'));
  await cards.nth(1).waitFor({ timeout: 10_000 });
  assert.equal(await cards.count(), 2, 'the demo event and the new one');
  const card = page.locator(`${tid('event-link')}[href="#/events/${event.id}"]`);
  assert.match(await card.textContent(), /Chamber Music at The Studio/);
  assert.match(await card.textContent(), /The Studio/);
  assert.match(await card.textContent(), /68 of 68 seats available/);
  await h.shot(page, 'two-events');
  assert.deepEqual(await accessibilityViolations(page), []);

  await card.click();
  await page.locator(`${tid('seat-map')} [data-seat-id]`).first().waitFor({ timeout: 10_000 });
  await page.locator('.live-status[data-status="live"]').waitFor({ timeout: 10_000 });
  assert.equal(await page.locator(`${tid('seat-map')} [data-seat-id]`).count(), 68);
  const text = await page.locator('main').textContent();
  for (const price of ['45', '32', '18']) assert.ok(text.includes(price), `the price ${price} is shown`);
  await h.shot(page, 'studio-map');
  assert.deepEqual(await accessibilityViolations(page), []);

  const ids = ['B-A-5', 'B-A-6'];
  await selectAndHold(page, ids);
  await cardField(page).fill(GOOD_CARD);
  await page.locator(tid('proceed')).click();
  await page.locator(tid('confirmation')).waitFor({ timeout: 15_000 });
  const { orders } = await page.evaluate(async () => (await fetch('/api/v1/orders')).json());
  assert.equal(orders.length, 1);
  assert.equal(orders[0].total_cents, 3600, 'two balcony seats at the price the admin set');
  await h.shot(page, 'studio-confirmation');

  await page.goto(`${h.baseUrl}/#/events/${event.id}`);
  await page.locator(seatSel(ids[0])).waitFor({ timeout: 10_000 });
  await waitForStates(page, ids, 'sold');
  assert.deepEqual(h.consoleErrors, []);
});
