// Events: the organiser's list (drafts included), and the editor: name, times, sale opening,
// categories and prices, painted onto the seats by clicking, dragging a box, or picking a row or
// section; publishing; and the waiting room's settings.
import { api } from '../api.js';
import { h, mediumDate, flash, plural } from '../util.js';
import { categoryColour, zoomControls } from '../seatmap.js';
import { seatsOf } from './generate.js';
import { editableMap, markCompanions, choice, showError, field } from './mapedit.js';

const UNPAINTED = '#c4c8d0';
const CURRENCIES = ['EUR', 'USD', 'GBP', 'CHF', 'SEK', 'NOK', 'DKK', 'PLN', 'CZK', 'JPY', 'CAD', 'AUD'];

export function eventsView(body, params, app) {
  const [id] = params.path;
  if (id === 'new') return params.venue ? eventEditor(body, { venueId: params.venue }, app) : pickVenue(body, app);
  if (id) return eventEditor(body, { eventId: id }, app);
  return eventList(body, app);
}

async function eventList(body, app) {
  app.setTitle('Events');
  try {
    const { events } = await api('/admin/events');
    body.replaceChildren(
      h('div', { class: 'admin-head' },
        h('h1', { tabindex: '-1', text: 'Events' }),
        h('a', { class: 'btn primary', href: '#/admin/events/new', 'data-testid': 'new-event', text: 'New event' }),
      ),
      events.length
        ? h('table', { class: 'admin-table', 'data-testid': 'admin-events' },
          h('thead', {}, h('tr', {}, ['Event', 'Venue', 'Starts', 'Sale', 'Seats free'].map((t) => h('th', { text: t })))),
          h('tbody', {}, events.map((e) => h('tr', {},
            h('td', {}, h('a', { href: `#/admin/events/${encodeURIComponent(e.id)}`, text: e.name })),
            h('td', { text: e.venue.name }),
            h('td', { text: mediumDate(e.starts_at) }),
            h('td', {}, h('span', { class: `status-pill${e.published ? ' on' : ''}`, text: e.published ? e.status.replace('_', ' ') : 'draft' })),
            h('td', { class: 'num', text: `${e.seats_available} / ${e.seats_total}` }),
          ))))
        : h('p', { class: 'empty', text: 'No events yet.' }),
    );
  } catch (err) {
    body.replaceChildren(h('h1', { tabindex: '-1', text: 'Events' }), h('p', { class: 'form-error', role: 'alert', text: err.message }));
  }
  app.ready();
}

async function pickVenue(body, app) {
  app.setTitle('New event');
  const { venues } = await api('/admin/venues').catch(() => ({ venues: [] }));
  const select = h('select', { 'data-testid': 'event-venue' }, venues.map((v) => h('option', { value: v.id, text: v.name })));
  body.replaceChildren(
    h('h1', { tabindex: '-1', text: 'New event' }),
    venues.length
      ? h('form', { class: 'card admin-form', onsubmit: (e) => { e.preventDefault(); app.navigate(`#/admin/events/new?venue=${encodeURIComponent(select.value)}`); } },
        field('Venue', select),
        h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'venue-continue' }, 'Continue'),
      )
      : h('p', {}, 'Make a venue first: ', h('a', { href: '#/admin/venues/new', text: 'new venue' }), '.'),
  );
  app.ready();
}

/** The currency's minor digits (2 for EUR, 0 for JPY). */
function digits(currency) {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

/** "89.5" → 8950 in a two-digit currency; NaN when not an amount. */
export function toMinor(text, currency) {
  const t = String(text).trim().replace(',', '.');
  if (!/^\d+(\.\d*)?$/.test(t)) return NaN;
  return Math.round(Number(t) * 10 ** digits(currency));
}
const fromMinor = (cents, currency) => (cents / 10 ** digits(currency)).toFixed(digits(currency));

/** An RFC 3339 time as a datetime-local value in the browser's time zone, and back. */
function toLocalInput(iso) {
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
const fromLocalInput = (value) => (value ? new Date(value).toISOString() : '');

async function eventEditor(body, { venueId, eventId }, app) {
  let event = null;
  let layout;
  let venueName;
  try {
    if (eventId) {
      ({ event } = await api(`/admin/events/${encodeURIComponent(eventId)}`));
      layout = event.layout;
      venueName = event.venue.name;
    } else {
      const { venue } = await api(`/admin/venues/${encodeURIComponent(venueId)}`);
      layout = venue.layout;
      venueName = venue.name;
    }
  } catch (err) {
    body.replaceChildren(h('h1', { tabindex: '-1', text: 'Event' }), h('p', { class: 'form-error', role: 'alert', text: err.message }));
    app.ready();
    return;
  }
  app.setTitle(event ? event.name : 'New event');

  let nextKey = 0;
  const key = () => `c${(nextKey += 1)}`;
  let currency = event?.currency || 'EUR';
  /** @type {{key: string, name: string, price: string}[]} */
  let categories = event
    ? event.categories.map((c) => ({ key: c.id, name: c.name, price: fromMinor(c.price_cents, c.currency) }))
    : [{ key: key(), name: 'Premium', price: '89.00' }, { key: key(), name: 'Standard', price: '59.00' }];
  const painted = new Map();
  for (const { seat } of seatsOf(layout)) if (seat.category_id) painted.set(seat.id, seat.category_id);
  let brush = categories[0]?.key;
  let mode = 'seat';

  const now = new Date();
  const later = new Date(now.getTime() + 30 * 86400e3);
  later.setHours(19, 30, 0, 0);
  const nameInput = h('input', { type: 'text', maxlength: 200, required: true, value: event?.name || '', 'data-testid': 'event-name' });
  const startsInput = h('input', { type: 'datetime-local', required: true, value: toLocalInput(event?.starts_at || later), 'data-testid': 'event-starts' });
  const opensInput = h('input', { type: 'datetime-local', required: true, value: toLocalInput(event?.sale_opens_at || now), 'data-testid': 'event-opens' });
  const currencySelect = h('select', { 'data-testid': 'event-currency', onchange: () => { currency = currencySelect.value; } },
    [...new Set([currency, ...CURRENCIES])].map((c) => h('option', { value: c, text: c, selected: c === currency })));
  const publishNow = h('input', { type: 'checkbox', 'data-testid': 'publish-now' });
  const saveError = h('div', { class: 'form-error', role: 'alert', 'data-testid': 'event-error' });
  const saveButton = h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'save-event' }, event ? 'Save changes' : 'Create event');
  const categoryList = h('div', { class: 'categories', 'data-testid': 'categories' });
  const brushes = h('div', { class: 'brushes' });
  const unpaintedNote = h('p', { class: 'unpainted', 'data-testid': 'unpainted', 'aria-live': 'polite' });
  const total = [...seatsOf(layout)].length;

  const map = editableMap(layout, { name: venueName, pick: paint, mode: () => mode });
  markCompanions(map, layout);
  const viewport = h('div', { class: 'map-viewport' }, map.svg);

  function colourOf(categoryKey) {
    const i = categories.findIndex((c) => c.key === categoryKey);
    return i < 0 ? UNPAINTED : categoryColour(i);
  }
  function nameOf(categoryKey) {
    return categories.find((c) => c.key === categoryKey)?.name;
  }

  function recolour(ids = map.seats.keys()) {
    for (const id of ids) {
      const seat = map.seats.get(id);
      const k = painted.get(id);
      seat.el.style.setProperty('--seat', colourOf(k));
      seat.el.setAttribute('aria-label', `${seat.label}, ${nameOf(k) || 'no category yet'}`);
    }
    refreshCounts();
  }

  function refreshCounts() {
    const counts = new Map();
    for (const k of painted.values()) counts.set(k, (counts.get(k) || 0) + 1);
    for (const line of categoryList.querySelectorAll('[data-key]')) {
      line.querySelector('.count').textContent = plural(counts.get(line.dataset.key) || 0, 'seat', 'seats');
    }
    const unpainted = total - [...painted.values()].filter((k) => nameOf(k)).length;
    unpaintedNote.textContent = unpainted ? `${plural(unpainted, 'seat has', 'seats have')} no category yet.` : 'Every seat has a category.';
    unpaintedNote.classList.toggle('unpainted', unpainted > 0);
  }

  function paint(ids) {
    for (const id of ids) {
      if (brush === 'erase') painted.delete(id);
      else painted.set(id, brush);
    }
    recolour(ids);
  }

  function renderCategories() {
    categoryList.replaceChildren(...categories.map((c, i) => {
      const nameField = h('input', { type: 'text', value: c.name, maxlength: 200, 'aria-label': `Name of category ${i + 1}`, 'data-testid': `category-name-${i}`, oninput: () => { c.name = nameField.value; renderBrushes(); recolour(); } });
      const priceField = h('input', { type: 'text', inputmode: 'decimal', value: c.price, 'aria-label': `Price of ${c.name || `category ${i + 1}`}`, 'data-testid': `category-price-${i}`, oninput: () => { c.price = priceField.value; } });
      const remove = h('button', { type: 'button', class: 'icon-btn', 'aria-label': `Remove ${c.name || `category ${i + 1}`}`, disabled: categories.length < 2, onclick: () => {
        categories = categories.filter((x) => x !== c);
        for (const [id, k] of painted) if (k === c.key) painted.delete(id);
        if (brush === c.key) brush = categories[0]?.key;
        renderCategories();
        recolour();
      } }, '×');
      return h('div', { class: 'category-line', 'data-key': c.key },
        h('span', { class: 'swatch-dot', style: { '--seat': categoryColour(i) }, 'aria-hidden': 'true' }), nameField, priceField, remove,
        h('span', { class: 'count' }));
    }), h('button', { type: 'button', class: 'btn ghost small', 'data-testid': 'add-category', onclick: () => {
      const c = { key: key(), name: `Category ${categories.length + 1}`, price: '25.00' };
      categories.push(c);
      brush = c.key;
      renderCategories();
      recolour();
    } }, 'Add a category'));
    renderBrushes();
    refreshCounts();
  }

  function renderBrushes() {
    const options = [...categories.map((c, i) => [c.key, c.name || `Category ${i + 1}`]), ['erase', 'No category']];
    brushes.replaceChildren(choice('brush', 'Paint', options, brush, (k) => { brush = k; }));
  }

  async function save(e) {
    e.preventDefault();
    saveError.replaceChildren();
    const bad = categories.find((c) => !Number.isFinite(toMinor(c.price, currency)));
    if (bad) {
      saveError.textContent = `The price of ${bad.name || 'a category'} is not an amount.`;
      return;
    }
    const seatCategories = {};
    for (const [id, k] of painted) if (nameOf(k) !== undefined) seatCategories[id] = nameOf(k).trim();
    const payload = {
      name: nameInput.value,
      starts_at: fromLocalInput(startsInput.value),
      sale_opens_at: fromLocalInput(opensInput.value),
      categories: categories.map((c) => ({ name: c.name.trim(), price_cents: toMinor(c.price, currency), currency })),
      seat_categories: seatCategories,
    };
    saveButton.disabled = true;
    try {
      if (event) {
        const r = await api(`/admin/events/${encodeURIComponent(event.id)}`, { method: 'PUT', body: payload });
        flash(`Saved ${r.event.name}.`, 'success');
        app.navigate(`#/admin/events/${encodeURIComponent(event.id)}`);
      } else {
        const r = await api('/admin/events', { method: 'POST', body: { ...payload, venue_id: venueId, published: publishNow.checked } });
        flash(`Created ${r.event.name}${publishNow.checked ? ', on sale to buyers' : ' as a draft'}.`, 'success');
        app.navigate(`#/admin/events/${encodeURIComponent(r.event.id)}`);
      }
    } catch (err) {
      showError(saveError, err);
      if (err.code === 'seats_taken') {
        saveError.append(h('p', { text: 'Held and sold seats keep their category and price. Leave them as they are and save again.' }));
      }
    } finally {
      saveButton.disabled = false;
    }
  }

  const form = h('form', { class: 'card admin-form', onsubmit: save, 'data-testid': 'event-form' },
    h('h2', { text: 'The event' }),
    field('Name', nameInput),
    field('Starts', startsInput),
    field('Sale opens', opensInput),
    field('Currency', currencySelect),
    h('h2', { text: 'Categories and prices' }),
    categoryList,
    event ? null : h('label', { class: 'check' }, publishNow, h('span', { text: 'Put it on sale to buyers at once' })),
    saveError,
    saveButton,
  );

  const side = [form];
  if (event) side.push(publishPanel(event, app), waitingRoomPanel(event));

  body.replaceChildren(
    h('div', { class: 'admin-head' },
      h('h1', { tabindex: '-1', text: event ? event.name : 'New event' }),
      event ? h('span', { class: `status-pill${event.published ? ' on' : ''}`, 'data-testid': 'event-published', text: event.published ? 'Published' : 'Draft' }) : null,
    ),
    h('p', { class: 'lead', text: `${venueName}: ${plural(total, 'seat', 'seats')}. Pick a category, then click seats, drag a box over them, or pick whole rows or sections.` }),
    h('div', { class: 'editor' },
      h('div', { class: 'editor-side' }, side),
      h('div', { class: 'editor-main' },
        h('div', { class: 'map-tools' }, brushes, choice('mode', 'A click paints', [['seat', 'a seat'], ['row', 'its row'], ['section', 'its section']], mode, (m) => { mode = m; })),
        unpaintedNote,
        h('div', { class: 'map-panel' }, h('div', { class: 'map-toolbar' }, zoomControls(map, viewport)), viewport),
      ),
    ),
  );
  renderCategories();
  recolour();
  app.ready();
}

function publishPanel(event, app) {
  const error = h('p', { class: 'form-error', role: 'alert' });
  const toggle = async () => {
    try {
      await api(`/admin/events/${encodeURIComponent(event.id)}/published`, { method: 'PUT', body: { published: !event.published } });
      flash(event.published ? `${event.name} is a draft again: buyers no longer see it.` : `${event.name} is published.`, 'success');
      app.navigate(`#/admin/events/${encodeURIComponent(event.id)}`);
    } catch (err) {
      showError(error, err);
    }
  };
  return h('div', { class: 'card admin-form' },
    h('h2', { text: 'Publication' }),
    h('p', { text: event.published ? 'Buyers see this event and can buy seats.' : 'A draft: only organisers see it.' }),
    h('button', { type: 'button', class: event.published ? 'btn secondary' : 'btn primary', 'data-testid': 'toggle-published', onclick: toggle }, event.published ? 'Unpublish' : 'Publish'),
    error,
    h('p', {}, h('a', { href: `#/events/${encodeURIComponent(event.id)}`, text: 'See it as buyers do' })),
    h('p', {}, h('a', { href: `#/admin/dashboard/${encodeURIComponent(event.id)}`, 'data-testid': 'dashboard-link', text: 'Watch the sale live' })),
  );
}

function waitingRoomPanel(event) {
  const path = `/admin/events/${encodeURIComponent(event.id)}/waiting-room`;
  const enabled = h('input', { type: 'checkbox', 'data-testid': 'room-enabled' });
  const rate = h('input', { type: 'number', min: 1, value: 600, 'data-testid': 'room-rate' });
  const maxActive = h('input', { type: 'number', min: 1, placeholder: 'no limit', 'data-testid': 'room-max-active' });
  const status = h('p', { class: 'hint', 'aria-live': 'polite' });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const show = (room) => {
    enabled.checked = room.enabled;
    rate.value = room.admit_per_minute;
    maxActive.value = room.max_active ?? '';
    status.textContent = room.enabled ? `${plural(room.queue_length, 'buyer', 'buyers')} waiting, ${room.admitted_total} let in so far.` : 'Off: buyers go straight to the seat map.';
  };
  api(path).then((r) => show(r.waiting_room)).catch((err) => showError(error, err));
  return h('form', { class: 'card admin-form', onsubmit: async (e) => {
    e.preventDefault();
    error.replaceChildren();
    try {
      const body = { enabled: enabled.checked, admit_per_minute: Number(rate.value) };
      if (maxActive.value) body.max_active = Number(maxActive.value);
      const r = await api(path, { method: 'PUT', body });
      show(r.waiting_room);
      flash('Waiting room saved.', 'success');
    } catch (err) {
      showError(error, err);
    }
  } },
  h('h2', { text: 'Waiting room' }),
  h('label', { class: 'check' }, enabled, h('span', { text: 'Buyers wait their turn before the seat map' })),
  field('Let in per minute', rate),
  field('At most this many choosing at once', maxActive),
  status,
  error,
  h('button', { type: 'submit', class: 'btn secondary', 'data-testid': 'room-save' }, 'Save waiting room'),
  );
}

