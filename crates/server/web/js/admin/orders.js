// Orders: search by e-mail, order id or seat; one order with its buyer and tickets; a full or
// partial refund after a confirmation step; the event's orders and attendees as CSV.
import { api } from '../api.js';
import { h, money, mediumDate, flash, plural } from '../util.js';
import { showError, field } from './mapedit.js';

const STATUS_WORDS = { paid: 'Paid', refunded: 'Refunded', partially_refunded: 'Partly refunded' };

export function ordersView(body, params, app) {
  const [id] = params.path;
  if (id) return orderPage(body, id, app);
  return orderSearch(body, params, app);
}

async function orderSearch(body, params, app) {
  app.setTitle('Orders');
  const { events } = await api('/admin/events').catch(() => ({ events: [] }));
  const q = h('input', { type: 'search', value: params.q || '', placeholder: 'alice@example.com, an order id, or a seat like C-14', 'data-testid': 'order-query' });
  const eventSelect = h('select', { 'data-testid': 'order-event' },
    h('option', { value: '', text: 'Every event' }),
    events.map((e) => h('option', { value: e.id, text: e.name, selected: e.id === params.event_id })));
  const results = h('div', { 'aria-live': 'polite' });
  const exports = h('p', { class: 'actions' });
  const showExports = () => {
    const id = eventSelect.value;
    exports.replaceChildren(...(id ? [
      h('a', { class: 'btn ghost small', href: `/api/v1/admin/events/${encodeURIComponent(id)}/orders.csv`, download: '', 'data-testid': 'orders-csv', text: 'Orders as CSV' }), ' ',
      h('a', { class: 'btn ghost small', href: `/api/v1/admin/events/${encodeURIComponent(id)}/attendees.csv`, download: '', 'data-testid': 'attendees-csv', text: 'Attendees as CSV' }),
    ] : [h('span', { class: 'hint', text: 'Pick an event to export its orders and attendees.' })]));
  };
  const run = async (e) => {
    e?.preventDefault();
    showExports();
    const query = new URLSearchParams({ q: q.value.trim() });
    if (eventSelect.value) query.set('event_id', eventSelect.value);
    try {
      const { orders } = await api(`/admin/orders?${query}`);
      results.replaceChildren(orders.length ? orderTable(orders) : h('p', { class: 'empty', text: 'No orders match.' }));
    } catch (err) {
      showError(results, err);
    }
  };
  body.replaceChildren(
    h('h1', { tabindex: '-1', text: 'Orders' }),
    h('form', { class: 'card admin-form search-form', role: 'search', onsubmit: run },
      field('Find orders', q),
      field('Event', eventSelect),
      h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'order-search' }, 'Search'),
    ),
    exports,
    results,
  );
  eventSelect.addEventListener('change', run);
  await run();
  app.ready();
}

function orderTable(orders) {
  return h('table', { class: 'admin-table', 'data-testid': 'order-results' },
    h('thead', {}, h('tr', {}, ['Order', 'Buyer', 'Event', 'Seats', 'Total', 'Status', 'Made'].map((t) => h('th', { text: t })))),
    h('tbody', {}, orders.map((o) => h('tr', {},
      h('td', {}, h('a', { href: `#/admin/orders/${encodeURIComponent(o.id)}`, class: 'mono', text: o.id.slice(-8) })),
      h('td', { text: o.buyer ? `${o.buyer.name} <${o.buyer.email}>` : '—' }),
      h('td', { text: o.event_name }),
      h('td', { text: o.seat_ids.join(', ') }),
      h('td', { class: 'num', text: money(o.total_cents, o.currency) }),
      h('td', { text: STATUS_WORDS[o.status] || o.status }),
      h('td', { text: mediumDate(o.created_at) }),
    ))));
}

async function orderPage(body, id, app) {
  let order;
  try {
    ({ order } = await api(`/admin/orders/${encodeURIComponent(id)}`));
  } catch (err) {
    body.replaceChildren(h('h1', { tabindex: '-1', text: 'Order' }));
    showError(body.appendChild(h('div', { class: 'form-error', role: 'alert' })), err);
    app.ready();
    return;
  }
  app.setTitle(`Order ${order.id.slice(-8)}`);
  const valid = order.tickets.filter((t) => t.status !== 'refunded');
  const boxes = new Map();
  const confirmBox = h('div', { class: 'confirm', 'data-testid': 'refund-confirm', hidden: true });
  const error = h('div', { class: 'form-error', role: 'alert', 'data-testid': 'refund-error' });
  const priceOf = (ticket) => ticket.price_cents ?? Math.round(order.total_cents / order.tickets.length);

  const ticketRows = order.tickets.map((t) => {
    const box = h('input', { type: 'checkbox', 'aria-label': `Refund ${t.seat_label}`, disabled: t.status === 'refunded', 'data-testid': `refund-ticket-${t.seat_id}` });
    boxes.set(t.id, box);
    return h('tr', {},
      h('td', {}, box),
      h('td', { text: t.seat_label }),
      h('td', { text: t.status === 'refunded' ? 'Refunded' : t.checked_in_at ? 'Checked in' : 'Valid' }),
      h('td', { class: 'mono', text: t.id.slice(-8) }),
    );
  });

  const ask = (ticketIds) => {
    error.replaceChildren();
    const tickets = order.tickets.filter((t) => ticketIds.includes(t.id));
    if (!tickets.length) {
      error.textContent = 'Tick the tickets to refund first.';
      return;
    }
    const whole = tickets.length === valid.length;
    const amount = tickets.reduce((sum, t) => sum + priceOf(t), 0);
    confirmBox.replaceChildren(
      h('p', { text: `Refund ${plural(tickets.length, 'ticket', 'tickets')} (${tickets.map((t) => t.seat_label).join('; ')}), about ${money(amount, order.currency)}, to ${order.buyer?.email || 'the buyer'}? The seats go back on sale and the tickets stop working at the door.` }),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'btn danger', 'data-testid': 'refund-yes', onclick: () => refund(whole ? null : ticketIds) }, 'Yes, refund'),
        h('button', { type: 'button', class: 'btn ghost', onclick: () => { confirmBox.hidden = true; } }, 'Cancel'),
      ),
    );
    confirmBox.hidden = false;
    confirmBox.querySelector('button').focus();
  };

  const refund = async (ticketIds) => {
    try {
      const r = await api(`/admin/orders/${encodeURIComponent(order.id)}/refund`, { method: 'POST', body: ticketIds ? { ticket_ids: ticketIds } : {} });
      flash(`Refunded: the order is now ${(STATUS_WORDS[r.order.status] || r.order.status).toLowerCase()}.`, 'success');
      app.navigate(`#/admin/orders/${encodeURIComponent(order.id)}`);
    } catch (err) {
      confirmBox.hidden = true;
      showError(error, err);
    }
  };

  body.replaceChildren(
    h('div', { class: 'admin-head' },
      h('h1', { tabindex: '-1', text: `Order ${order.id.slice(-8)}` }),
      h('span', { class: `status-pill${order.status === 'paid' ? ' on' : ''}`, 'data-testid': 'order-status', text: STATUS_WORDS[order.status] || order.status }),
    ),
    h('dl', { class: 'order-facts card' },
      h('dt', { text: 'Buyer' }), h('dd', { text: order.buyer ? `${order.buyer.name} <${order.buyer.email}>` : '—' }),
      h('dt', { text: 'Event' }), h('dd', { text: order.event_name }),
      h('dt', { text: 'Total' }), h('dd', { text: money(order.total_cents, order.currency) }),
      h('dt', { text: 'Made' }), h('dd', { text: mediumDate(order.created_at) }),
      h('dt', { text: 'Order id' }), h('dd', { class: 'mono', text: order.id }),
    ),
    h('table', { class: 'admin-table' },
      h('thead', {}, h('tr', {}, h('th', {}, h('span', { class: 'sr-only', text: 'Pick' })), h('th', { text: 'Seat' }), h('th', { text: 'Ticket' }), h('th', { text: 'Id' }))),
      h('tbody', {}, ticketRows)),
    valid.length
      ? h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'btn secondary', 'data-testid': 'refund-selected', onclick: () => ask([...boxes].filter(([, b]) => b.checked).map(([id]) => id)) }, 'Refund the ticked tickets'),
        h('button', { type: 'button', class: 'btn secondary', 'data-testid': 'refund-all', onclick: () => ask(valid.map((t) => t.id)) }, 'Refund the whole order'),
      )
      : h('p', { text: 'Every ticket of this order is refunded.' }),
    confirmBox,
    error,
    h('p', {}, h('a', { href: '#/admin/orders', text: 'Back to the orders' })),
  );
  app.ready();
}
