// The organiser's app: an admin generates a 2,000-seat hall, marks wheelchair and companion
// seats, relabels one, saves it, then creates an event in it by painting prices onto sections and
// a dragged box, publishes it, and buyers see it in their list. Others never see the app.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, tid, seatSel, register, accessibilityViolations } from './harness.mjs';

const h = new Harness('admin-catalog-');
const ADMIN = { email: 'admin@organiser.test', password: 'admin password 1' };
const state = {};

before(async () => {
  await h.start({ BOXOFFICE_ADMIN_EMAIL: ADMIN.email, BOXOFFICE_ADMIN_PASSWORD: ADMIN.password });
  state.page = await h.browser('admin', { viewport: { width: 1280, height: 900 } });
});

after(() => h.stop());

export async function signInAsAdmin(page, baseUrl) {
  await page.goto(`${baseUrl}/#/login?next=${encodeURIComponent('#/admin')}`);
  await page.locator(tid('login-email')).fill(ADMIN.email);
  await page.locator(tid('login-password')).fill(ADMIN.password);
  await page.locator(tid('login-submit')).click();
  await page.locator(tid('admin-link')).waitFor({ timeout: 15_000 });
}

/** Drags a box from the centre of one seat to the centre of another. */
async function dragBox(page, fromId, toId) {
  const a = await page.locator(seatSel(fromId)).boundingBox();
  const b = await page.locator(seatSel(toId)).boundingBox();
  await page.mouse.move(a.x - 4, a.y - 4);
  await page.mouse.down();
  await page.mouse.move((a.x + b.x) / 2, (a.y + b.y) / 2, { steps: 4 });
  await page.mouse.move(b.x + b.width + 4, b.y + b.height + 4, { steps: 4 });
  await page.mouse.up();
}

test('a buyer never sees the organiser app', async () => {
  const page = await h.browser('buyer');
  await register(page, h.baseUrl, 'Nosy Buyer', `nosy-${Date.now().toString(36)}@example.com`, 'correct horse battery');
  assert.equal(await page.locator(tid('admin-link')).count(), 0, 'no Organiser link');
  await page.goto(`${h.baseUrl}/#/admin/venues/new`);
  await page.getByRole('heading', { name: 'Page not found' }).waitFor();
  assert.equal(await page.locator(tid('gen-sections')).count(), 0);
});

test('an admin generates a 2,000-seat hall, marks and relabels seats, and saves it', async () => {
  const { page } = state;
  await signInAsAdmin(page, h.baseUrl);
  await page.locator(tid('new-venue')).click();
  await page.locator(tid('gen-sections')).fill('Stalls, 20\nCircle, 20');
  await page.locator(tid('gen-seats')).fill('50');
  await page.locator(tid('gen-aisles')).fill('12, 38');
  await page.getByText(/^2000 seats in 2 sections and 40 rows/).waitFor();
  assert.equal(await page.locator(`${tid('seat-map')} [data-seat-id]`).count(), 2000);

  // A straight hall, then curved again: the preview follows the generator.
  const curved = await page.locator(seatSel('A-1')).boundingBox();
  await page.locator(tid('gen-curve')).fill('0');
  const straight = await page.locator(seatSel('A-1')).boundingBox();
  assert.notDeepEqual(curved, straight, 'the preview redraws');
  await page.locator(tid('gen-curve')).fill('40');

  await page.locator(`label:has(${tid('tool-accessible')})`).click();
  await page.locator(seatSel('A-1')).click();
  await page.locator(seatSel('A-50')).click();
  await page.locator(`label:has(${tid('tool-companion')})`).click();
  await page.locator(seatSel('A-2')).click();
  await page.locator(seatSel('A-49')).click();
  await page.getByText(/2 wheelchair places, 2 companion seats/).waitFor();

  await page.locator(`label:has(${tid('tool-relabel')})`).click();
  await page.locator(seatSel('B-25')).click();
  await page.locator(tid('relabel-seat')).fill('25A');
  await page.locator(tid('relabel-apply')).click();

  // Removing seats by a box, then undoing it.
  await page.locator(`label:has(${tid('tool-remove')})`).click();
  await dragBox(page, 'C-3', 'C-6');
  // The rows curve up steeply at the ends, so the box takes seats of the rows beside C too.
  for (const n of [3, 4, 5, 6]) await page.locator(seatSel(`C-${n}`)).waitFor({ state: 'detached' });
  const left = await page.locator(`${tid('seat-map')} [data-seat-id]`).count();
  assert.ok(left < 2000 - 3, `${left} seats left`);
  await page.getByText(new RegExp(`^${left} seats`)).waitFor();
  await h.shot(page, 'venue-after-box-removal');
  await page.getByRole('button', { name: 'Undo' }).click();
  await page.getByText(/^2000 seats/).waitFor();

  await h.shot(page, 'venue-editor');
  assert.deepEqual(await accessibilityViolations(page), []);
  await page.locator(tid('venue-name')).fill('Grand Hall');
  await page.locator(tid('save-venue')).click();
  await page.getByRole('heading', { name: 'Grand Hall' }).waitFor({ timeout: 15_000 });
  await page.getByText(/^2000 seats in 2 sections/).waitFor();

  const venues = await page.evaluate(async () => (await fetch('/api/v1/admin/venues')).json());
  const grand = venues.venues.find((v) => v.name === 'Grand Hall');
  const { venue } = await page.evaluate(async (id) => (await fetch(`/api/v1/admin/venues/${id}`)).json(), grand.id);
  const seats = venue.layout.sections.flatMap((s) => s.rows.flatMap((r) => r.seats.map((seat) => ({ ...seat, row: r.label }))));
  assert.equal(seats.length, 2000);
  const byId = new Map(seats.map((s) => [s.id, s]));
  assert.equal(byId.get('A-1').accessible, true);
  assert.equal(byId.get('A-2').companion, true);
  assert.equal(byId.get('B-25').label, '25A');
  state.venueId = grand.id;
});

test('an admin creates an event by painting prices, publishes it, and buyers see it', async () => {
  const { page } = state;
  assert.ok(state.venueId, 'the venue of the previous test');
  await page.getByRole('link', { name: 'Create an event here' }).click();
  await page.locator(tid('event-name')).waitFor();
  await page.locator(tid('event-name')).fill('Gala Night');
  await page.getByText('2000 seats have no category yet.').waitFor();

  // Premium for the stalls, Standard for the circle: one click each, by section.
  const circleSeat = await page.evaluate(() => document.querySelector('[data-testid="seat-map"] [role="group"][aria-label="Circle"] [data-seat-id]').getAttribute('data-seat-id'));
  await page.locator(`label:has(${tid('mode-section')})`).click();
  await page.locator(`label:has(${tid('brush-c1')})`).click();
  await page.locator(seatSel('A-10')).click();
  await page.getByText('1000 seats have no category yet.').waitFor();
  await page.locator(`label:has(${tid('brush-c2')})`).click();
  await page.locator(seatSel(circleSeat)).click();
  await page.getByText('Every seat has a category.').waitFor();

  // A third category, painted with a box over the front row's middle.
  await page.locator(tid('add-category')).click();
  await page.locator(tid('category-name-2')).fill('Front');
  await page.locator(tid('category-price-2')).fill('120');
  await dragBox(page, 'A-20', 'A-29');
  // One row picked as a whole, back to Premium.
  await page.locator(`label:has(${tid('mode-row')})`).click();
  await page.locator(`label:has(${tid('brush-c1')})`).click();
  await page.locator(seatSel('B-7')).click();

  await page.locator(`label:has(${tid('publish-now')})`).click();
  await h.shot(page, 'event-painted');
  assert.deepEqual(await accessibilityViolations(page), []);
  await page.locator(tid('save-event')).click();
  await page.locator(tid('event-published')).filter({ hasText: 'Published' }).waitFor({ timeout: 20_000 });

  const { events } = await page.evaluate(async () => (await fetch('/api/v1/events')).json());
  const gala = events.find((e) => e.name === 'Gala Night');
  assert.ok(gala, 'buyers list it');
  assert.equal(gala.seats_total, 2000);
  const { event } = await page.evaluate(async (id) => (await fetch(`/api/v1/events/${id}`)).json(), gala.id);
  const price = new Map(event.categories.map((c) => [c.id, c]));
  const seatsById = new Map(event.layout.sections.flatMap((s) => s.rows.flatMap((r) => r.seats)).map((s) => [s.id, s]));
  const nameOf = (id) => price.get(seatsById.get(id).category_id).name;
  assert.equal(nameOf('A-25'), 'Front');
  assert.equal(price.get(seatsById.get('A-25').category_id).price_cents, 12000);
  assert.equal(nameOf('A-5'), 'Premium');
  assert.equal(nameOf('B-25'), 'Premium');
  assert.equal(nameOf(circleSeat), 'Standard');

  // The buyer's list shows it.
  await page.goto(`${h.baseUrl}/#/`);
  await page.getByText('Gala Night').first().waitFor({ timeout: 10_000 });
  await h.shot(page, 'buyer-list-with-gala');
});

test('an admin imports a layout from CSV (quoted fields included) or JSON, and a bad file says what is wrong', async () => {
  const { page } = state;
  await page.goto(`${h.baseUrl}/#/admin/venues/new`);
  const file = page.locator(tid('import-file'));
  await file.waitFor();
  const csv = [
    'section,row,seat,x,y,accessible,companion',
    'Stalls,A,1,10,10,yes,',
    'Stalls,A,2,30,10,,1',
    'Stalls,A,3,50,10,,',
    '"Box, left",1,1,10,60,,',
    '"Box, left",1,2,30,60,,',
    '"Box, ""royal""",1,1,80,60,,',
  ].join('\r\n');
  await file.setInputFiles({ name: 'hall.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await page.getByText(/^6 seats in 3 sections and 3 rows; 1 wheelchair place, 1 companion seat\.$/).waitFor();
  assert.equal(await page.locator(`${tid('seat-map')} [role="group"][aria-label='Box, "royal"']`).count(), 1);

  await file.setInputFiles({ name: 'broken.csv', mimeType: 'text/csv', buffer: Buffer.from('section,row,seat,x\nA,1,1,5\n') });
  await page.locator(tid('import-error')).filter({ hasText: /“y” is missing/ }).waitFor();

  const layout = { width: 200, height: 120, stage: { x: 50, y: 5, width: 100, height: 20, label: 'Stage' },
    sections: [{ id: 'floor', name: 'Floor', rows: [{ label: 'A', seats: [1, 2, 3, 4].map((n) => ({ id: `A-${n}`, label: String(n), x: 30 * n, y: 60 })) }] }] };
  await file.setInputFiles({ name: 'studio.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify({ name: 'Studio 4', layout })) });
  await page.getByText(/^4 seats in 1 section and 1 row/).waitFor();
  assert.equal(await page.locator(tid('venue-name')).inputValue(), 'Studio 4');
  await page.locator(tid('save-venue')).click();
  await page.getByRole('heading', { name: 'Studio 4' }).waitFor({ timeout: 15_000 });
});

test('an admin edits the published event, turns its waiting room on, and unpublishes it', async () => {
  const { page } = state;
  await page.goto(`${h.baseUrl}/#/admin/events`);
  await page.getByRole('link', { name: 'Gala Night' }).click();
  await page.locator(tid('category-price-2')).waitFor();
  assert.equal(await page.locator(tid('category-price-2')).inputValue(), '120.00');
  await page.locator(tid('category-price-2')).fill('130');
  await page.locator(tid('event-name')).fill('Gala Night (late)');
  await page.locator(tid('save-event')).click();
  await page.getByRole('heading', { name: 'Gala Night (late)' }).waitFor({ timeout: 15_000 });
  assert.equal(await page.locator(tid('category-price-2')).inputValue(), '130.00');

  await page.locator(`label:has(${tid('room-enabled')})`).click();
  await page.locator(tid('room-rate')).fill('120');
  await page.locator(tid('room-save')).click();
  await page.getByText(/0 buyers waiting/).waitFor();
  await h.shot(page, 'event-edited');

  await page.locator(tid('toggle-published')).click();
  await page.locator(tid('event-published')).filter({ hasText: 'Draft' }).waitFor({ timeout: 15_000 });
  const { events } = await page.evaluate(async () => (await fetch('/api/v1/events')).json());
  assert.ok(!events.some((e) => e.name.startsWith('Gala Night')), 'a draft is not listed for buyers');
});
