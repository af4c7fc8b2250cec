// The live sales dashboard: seat counts and revenue net of refunds, orders per minute and holds
// per second, the waiting room's line, and the seat map coloured by state. Everything arrives on
// the event's live stream (with the admin-only `sales` frames), never by polling.
import { api } from '../api.js';
import { h, s, money, plural } from '../util.js';
import { SeatMap, zoomControls, legend } from '../seatmap.js';
import { showError } from './mapedit.js';

const MINUTES = 30; // orders per minute, this many minutes back
const SECONDS = 60; // holds per second, this many seconds back

export function dashboardView(body, params, app) {
  const [id] = params.path;
  if (!id) return pickEvent(body, app);
  return dashboard(body, id, app);
}

async function pickEvent(body, app) {
  app.setTitle('Dashboard');
  const { events } = await api('/admin/events').catch(() => ({ events: [] }));
  body.replaceChildren(
    h('h1', { tabindex: '-1', text: 'Live sales' }),
    events.length
      ? h('ul', { class: 'event-picks' }, events.map((e) => h('li', {}, h('a', { href: `#/admin/dashboard/${encodeURIComponent(e.id)}`, 'data-testid': 'dashboard-link', text: e.name }))))
      : h('p', { class: 'empty', text: 'No events yet.' }),
  );
  app.ready();
}

/** A small bar chart of `values` (oldest first), labelled for screen readers by `describe`. */
function bars(values, describe) {
  const max = Math.max(1, ...values);
  const w = 300;
  const hgt = 70;
  const step = w / values.length;
  return s('svg', { class: 'spark', viewBox: `0 0 ${w} ${hgt}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': describe },
    s('line', { class: 'axis', x1: 0, y1: hgt - 0.5, x2: w, y2: hgt - 0.5 }),
    values.map((v, i) => s('rect', { class: 'bar', x: i * step + 0.5, width: Math.max(1, step - 1), y: hgt - (v / max) * (hgt - 4), height: (v / max) * (hgt - 4) })),
  );
}

async function dashboard(body, id, app) {
  let event;
  try {
    ({ event } = await api(`/admin/events/${encodeURIComponent(id)}`));
  } catch (err) {
    body.replaceChildren(h('h1', { tabindex: '-1', text: 'Live sales' }));
    showError(body.appendChild(h('div', { class: 'form-error', role: 'alert' })), err);
    app.ready();
    return null;
  }
  app.setTitle(`Live sales · ${event.name}`);
  const map = new SeatMap(event, { onActivate: () => {} });
  const versions = new Map();
  const figure = (label, testid) => {
    const value = h('span', { class: 'value', 'data-testid': testid, text: '–' });
    return [h('div', { class: 'dash-figure' }, h('span', { class: 'label', text: label }), value), value];
  };
  const [soldBox, sold] = figure('Sold', 'dash-sold');
  const [heldBox, held] = figure('Held now', 'dash-held');
  const [freeBox, free] = figure('Available', 'dash-available');
  const [revenueBox, revenue] = figure('Revenue, net of refunds', 'dash-revenue');
  const [queueBox, queue] = figure('In the waiting room', 'dash-queue');
  queueBox.hidden = true;
  const status = h('p', { class: 'live-status', 'data-status': 'connecting', 'data-testid': 'dash-status', text: 'Connecting…' });
  const ordersChart = h('div', {});
  const holdsChart = h('div', {});
  const viewport = h('div', { class: 'map-viewport' }, map.svg);

  // Per-minute order counts and per-second hold counts, from the differences of the counters.
  const orders = new Array(MINUTES).fill(0);
  const holds = new Array(SECONDS).fill(0);
  let last = null;
  let minute = Math.floor(Date.now() / 60000);

  const paint = (seat) => {
    const known = versions.get(seat.id);
    if (known !== undefined && seat.version <= known) return;
    versions.set(seat.id, seat.version);
    map.paint(seat.id, seat.state);
  };

  const onSales = (f) => {
    sold.textContent = String(f.sold);
    held.textContent = String(f.held);
    free.textContent = `${f.available} of ${f.seats_total}`;
    revenue.textContent = money(f.revenue_cents, f.currency);
    queueBox.hidden = f.queue_length === null || f.queue_length === undefined;
    if (!queueBox.hidden) queue.textContent = plural(f.queue_length, 'buyer', 'buyers');
    const now = Math.floor(Date.now() / 60000);
    while (minute < now) {
      orders.shift();
      orders.push(0);
      minute += 1;
    }
    if (last) {
      orders[MINUTES - 1] += Math.max(0, f.sales_seen - last.sales_seen);
      holds.shift();
      holds.push(Math.max(0, f.holds_seen - last.holds_seen));
    }
    last = f;
    ordersChart.replaceChildren(bars(orders, `Orders per minute over the last ${MINUTES} minutes; this minute ${orders[MINUTES - 1]}.`),
      h('p', { class: 'hint', 'data-testid': 'dash-orders-minute', text: `${plural(orders[MINUTES - 1], 'order', 'orders')} this minute` }));
    holdsChart.replaceChildren(bars(holds, `Holds per second over the last ${SECONDS} seconds; the last second ${holds[SECONDS - 1]}.`),
      h('p', { class: 'hint', 'data-testid': 'dash-holds-second', text: `${plural(holds[SECONDS - 1], 'hold', 'holds')} in the last second` }));
  };

  let source = null;
  let retry = 0;
  let gone = false;
  const connect = () => {
    source = new EventSource(`/api/v1/events/${encodeURIComponent(id)}/stream?sales=1`);
    source.addEventListener('snapshot', (e) => {
      const data = JSON.parse(e.data);
      versions.clear();
      for (const seat of data.seats) paint(seat);
      status.dataset.status = 'live';
      status.textContent = 'Live';
    });
    source.addEventListener('seats', (e) => {
      for (const seat of JSON.parse(e.data).changes) paint(seat);
    });
    source.addEventListener('sales', (e) => onSales(JSON.parse(e.data)));
    source.addEventListener('error', () => {
      status.dataset.status = 'reconnecting';
      status.textContent = 'Reconnecting…';
      source.close();
      if (!gone) retry = setTimeout(connect, 1000);
    });
  };

  body.replaceChildren(
    h('div', { class: 'admin-head' }, h('h1', { tabindex: '-1', text: `Live sales: ${event.name}` }), status),
    h('div', { class: 'dash-figures' }, soldBox, heldBox, freeBox, revenueBox, queueBox),
    h('div', { class: 'dash-charts' },
      h('section', { class: 'card admin-form' }, h('h2', { text: 'Orders per minute' }), ordersChart),
      h('section', { class: 'card admin-form' }, h('h2', { text: 'Holds per second' }), holdsChart),
    ),
    h('div', { class: 'map-panel' }, h('div', { class: 'map-toolbar' }, zoomControls(map, viewport)), viewport, legend(map)),
  );
  connect();
  app.ready();
  return () => {
    gone = true;
    clearTimeout(retry);
    source?.close();
  };
}
