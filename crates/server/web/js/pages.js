// The simpler views: sign in / register, the event list, an order confirmation and "My tickets".
import { api, detailMessages } from './api.js';
import { h, money, longDate, mediumDate, plural, flash } from './util.js';
import { recentOrders } from './event-page.js';
import { seatNames } from './seatmap.js';

/** Event details by id, shared by the order views to name seats ("Row C seat 14"). */
const eventCache = new Map();
function loadEvent(id) {
  if (!eventCache.has(id)) {
    const p = api(`/events/${encodeURIComponent(id)}`).then((b) => b.event);
    p.catch(() => eventCache.delete(id));
    eventCache.set(id, p);
  }
  return eventCache.get(id);
}

const seatLabels = (event) => seatNames(event?.layout);

/** Seat id → section name, printed on tickets so the buyer finds the right door. */
function seatSections(event) {
  const out = new Map();
  for (const section of event?.layout?.sections || []) {
    for (const row of section.rows || []) for (const seat of row.seats || []) out.set(seat.id, section.name);
  }
  return out;
}

function errorBox(err) {
  const extra = detailMessages(err.details);
  const out = [h('p', { text: err.message })];
  if (extra.length) out.push(h('ul', {}, extra.map((m) => h('li', { text: m }))));
  return out;
}

// ---------------------------------------------------------------- sign in / register

export function loginPage(main, params, app) {
  app.setTitle('Sign in');
  const next = params.next && params.next.startsWith('#/') ? params.next : '#/';
  if (app.session.user) {
    app.navigate(next);
    return;
  }

  const field = (id, label, attrs, hint) =>
    h('div', { class: 'field' },
      h('label', { for: id, text: label }),
      h('input', { id, name: id, ...attrs, 'aria-describedby': hint ? `${id}-hint` : undefined }),
      hint ? h('p', { class: 'hint', id: `${id}-hint`, text: hint }) : null,
    );

  const loginError = h('div', { class: 'form-error', role: 'alert', id: 'login-error' });
  const registerError = h('div', { class: 'form-error', role: 'alert', id: 'register-error' });

  const loginForm = h('form', { class: 'card auth-form', novalidate: true, 'aria-labelledby': 'login-title', onsubmit: (e) => submitLogin(e) },
    h('h2', { id: 'login-title', text: 'Sign in' }),
    field('login-email', 'Email', { type: 'email', autocomplete: 'username', required: true, 'data-testid': 'login-email' }),
    field('login-password', 'Password', { type: 'password', autocomplete: 'current-password', required: true, 'data-testid': 'login-password' }),
    loginError,
    h('button', { type: 'submit', class: 'btn primary wide', 'data-testid': 'login-submit' }, 'Sign in'),
  );

  const registerForm = h('form', { class: 'card auth-form', novalidate: true, 'aria-labelledby': 'register-title', onsubmit: (e) => submitRegister(e) },
    h('h2', { id: 'register-title', text: 'New here? Create an account' }),
    field('register-name', 'Your name', { type: 'text', autocomplete: 'name', required: true, 'data-testid': 'register-name' }),
    field('register-email', 'Email', { type: 'email', autocomplete: 'email', required: true, 'data-testid': 'register-email' }),
    field('register-password', 'Password', { type: 'password', autocomplete: 'new-password', required: true, minlength: '8', 'data-testid': 'register-password' }, 'At least 8 characters.'),
    registerError,
    h('button', { type: 'submit', class: 'btn primary wide', 'data-testid': 'register-submit' }, 'Create account'),
  );

  main.replaceChildren(
    h('h1', { tabindex: '-1', text: 'Sign in to buy tickets' }),
    h('p', { class: 'lead', text: 'Your seats are held for you while you pay. Tickets appear under “My tickets”.' }),
    h('div', { class: 'auth-grid' }, loginForm, registerForm),
  );

  const value = (id) => main.querySelector(`#${id}`).value;
  const invalid = (form, box, problems) => {
    for (const input of form.querySelectorAll('input')) input.removeAttribute('aria-invalid');
    for (const [id] of problems) main.querySelector(`#${id}`).setAttribute('aria-invalid', 'true');
    if (!problems.length) return box.replaceChildren();
    box.replaceChildren(h('p', { text: problems.length === 1 ? problems[0][1] : 'Please fix the following:' }));
    if (problems.length > 1) box.append(h('ul', {}, problems.map(([, m]) => h('li', { text: m }))));
    if (problems.length) main.querySelector(`#${problems[0][0]}`).focus();
  };

  function busy(form, on, label) {
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = on;
    if (label) btn.textContent = label;
  }

  async function submitLogin(e) {
    e.preventDefault();
    const email = value('login-email').trim();
    const password = value('login-password');
    const problems = [];
    if (!email) problems.push(['login-email', 'Enter your email address.']);
    if (!password) problems.push(['login-password', 'Enter your password.']);
    invalid(loginForm, loginError, problems);
    if (problems.length) return;
    busy(loginForm, true, 'Signing in…');
    try {
      await signIn(email, password);
    } catch (err) {
      busy(loginForm, false, 'Sign in');
      loginError.replaceChildren(...errorBox(err));
      main.querySelector('#login-password').focus();
    }
  }

  async function submitRegister(e) {
    e.preventDefault();
    const name = value('register-name').trim();
    const email = value('register-email').trim();
    const password = value('register-password');
    const problems = [];
    if (!name) problems.push(['register-name', 'Enter your name.']);
    if (!/^[^\s@]+@[^\s@]+$/.test(email)) problems.push(['register-email', 'Enter a valid email address, like name@example.com.']);
    if (password.length < 8) problems.push(['register-password', 'Choose a password of at least 8 characters.']);
    invalid(registerForm, registerError, problems);
    if (problems.length) return;
    busy(registerForm, true, 'Creating your account…');
    try {
      await patiently(() => api('/auth/register', { method: 'POST', body: { email, password, name } }), (text) => busy(registerForm, true, text));
      await signIn(email, password, `Welcome, ${name}! Your account is ready.`);
    } catch (err) {
      busy(registerForm, false, 'Create account');
      registerError.replaceChildren(...errorBox(err));
      if (err.code === 'email_taken') {
        registerError.append(h('p', {}, 'Already registered? ', h('a', { href: '#login-email', onclick: (ev) => { ev.preventDefault(); main.querySelector('#login-email').value = email; main.querySelector('#login-password').focus(); }, text: 'Sign in instead' }), '.'));
      }
    }
  }

  async function signIn(email, password, welcome) {
    const { user } = await patiently(() => api('/auth/login', { method: 'POST', body: { email, password } }), (text) => busy(loginForm, true, text));
    app.session.user = user;
    app.refreshHeader();
    if (welcome) flash(welcome, 'success');
    app.navigate(next);
  }
}

/**
 * Runs `call`, and while the box office answers "busy" (503) tries again when it says to, for up
 * to a minute, telling the buyer through `say`: on sale day everyone signs in at once.
 */
async function patiently(call, say) {
  const giveUp = Date.now() + 60_000;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (err.status !== 503 || Date.now() > giveUp) throw err;
      const seconds = Math.min(Math.max(err.retryAfter || 1, 1), 10);
      say(`Lots of people are signing in: trying again in ${seconds} s…`);
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000 * (0.8 + Math.random() * 0.4)));
    }
  }
}

// ---------------------------------------------------------------- event list

const STATUS_TEXT = { on_sale: 'On sale', scheduled: 'Coming soon', sold_out: 'Sold out', ended: 'Event over', closed: 'Sale closed', cancelled: 'Cancelled' };

export function eventsPage(main, _params, app) {
  app.setTitle('Events');
  let gone = false;
  main.replaceChildren(h('h1', { tabindex: '-1', text: 'Upcoming events' }), h('p', { class: 'loading', text: 'Loading events…' }));
  api('/events')
    .then(({ events }) => {
      if (gone) return;
      const list = h('ul', { class: 'event-list' }, events.map(eventCard));
      main.replaceChildren(
        h('h1', { tabindex: '-1', text: 'Upcoming events' }),
        events.length ? list : h('p', { class: 'empty', text: 'No events are on sale right now. Check back soon.' }),
      );
      app.ready();
    })
    .catch((err) => {
      if (gone) return;
      main.replaceChildren(h('h1', { tabindex: '-1', text: 'Upcoming events' }), h('div', { class: 'form-error', role: 'alert' }, h('p', { text: err.message })),
        h('button', { type: 'button', class: 'btn secondary', onclick: () => eventsPage(main, _params, app) }, 'Try again'));
      app.ready();
    });
  return () => { gone = true; };
}

function eventCard(ev) {
  const total = ev.seats_total ?? 0;
  const available = ev.seats_available ?? 0;
  const saleOpens = ev.sale_opens_at && Date.parse(ev.sale_opens_at) > Date.now() ? `Sale opens ${mediumDate(ev.sale_opens_at)}` : null;
  const soldOut = available === 0 && total > 0;
  const statusText = soldOut ? 'Sold out' : saleOpens || STATUS_TEXT[ev.status] || (ev.status ? ev.status.replace(/_/g, ' ') : '');
  const pct = total ? Math.round((available / total) * 100) : 0;
  const date = new Date(ev.starts_at);
  return h('li', {},
    h('a', { class: 'event-card', href: `#/events/${encodeURIComponent(ev.id)}`, 'data-testid': 'event-link' },
      h('span', { class: 'event-date', 'aria-hidden': 'true' },
        h('span', { class: 'month', text: date.toLocaleDateString(undefined, { month: 'short' }) }),
        h('span', { class: 'day', text: String(date.getDate()) }),
      ),
      h('span', { class: 'event-body' },
        h('span', { class: 'event-name', text: ev.name }),
        h('span', { class: 'event-meta', text: [ev.venue?.name, longDate(ev.starts_at)].filter(Boolean).join(' · ') }),
        h('span', { class: 'availability' },
          h('span', { class: 'meter', 'aria-hidden': 'true' }, h('span', { style: { width: `${pct}%` } })),
          h('span', { text: `${available.toLocaleString()} of ${plural(total, 'seat', 'seats').replace(String(total), total.toLocaleString())} available` }),
        ),
      ),
      h('span', { class: `badge ${soldOut ? 'badge-muted' : ''}`, text: statusText }),
      h('span', { class: 'cta', 'aria-hidden': 'true', text: soldOut ? 'View' : 'Choose seats →' }),
    ),
  );
}

// ---------------------------------------------------------------- confirmation

export function orderPage(main, params, app) {
  app.setTitle('Order confirmed');
  let gone = false;
  const cached = recentOrders.get(params.id);
  main.replaceChildren(h('p', { class: 'loading', text: 'Loading your order…' }));
  const orderP = cached ? Promise.resolve(cached) : api(`/orders/${encodeURIComponent(params.id)}`).then((b) => b.order);
  orderP
    .then(async (order) => {
      const event = await loadEvent(order.event_id).catch(() => null);
      if (gone) return;
      const labels = seatLabels(event);
      const paid = order.status === 'paid';
      main.replaceChildren(
        h('section', { class: 'confirmation card', 'data-testid': 'confirmation', 'aria-labelledby': 'confirm-title' },
          h('div', { class: 'confirm-icon', 'aria-hidden': 'true' }, paid ? '✓' : 'i'),
          h('h1', { id: 'confirm-title', tabindex: '-1', text: paid ? "Payment received — you're going!" : `Order ${order.status.replace(/_/g, ' ')}` }),
          event
            ? h('p', { class: 'lead' }, h('strong', { text: event.name }), ` · ${[event.venue?.name, longDate(event.starts_at)].filter(Boolean).join(' · ')}`)
            : order.event_name ? h('p', { class: 'lead' }, h('strong', { text: order.event_name })) : null,
          h('dl', { class: 'facts' },
            h('div', {}, h('dt', { text: 'Order number' }), h('dd', { class: 'mono', text: order.id })),
            h('div', {}, h('dt', { text: 'Total paid' }), h('dd', { text: money(order.total_cents, order.currency) })),
            h('div', {}, h('dt', { text: 'Tickets' }), h('dd', { text: plural(order.tickets?.length ?? order.seat_ids.length, 'ticket', 'tickets') })),
          ),
          h('h2', { text: 'Your seats' }),
          h('ul', { class: 'confirm-seats' }, order.seat_ids.map((id) => h('li', { text: labels.get(id) || order.tickets?.find((t) => t.seat_id === id)?.seat_label || id }))),
          h('p', { class: 'actions' },
            h('a', { class: 'btn primary', href: '#/tickets', text: 'View my tickets' }),
            h('a', { class: 'btn secondary', href: '#/', text: 'Back to events' }),
          ),
        ),
      );
      app.ready();
    })
    .catch((err) => {
      if (gone) return;
      if (err.status === 401) return app.navigate(`#/login?next=${encodeURIComponent(`#/orders/${params.id}`)}`);
      main.replaceChildren(h('h1', { tabindex: '-1', text: 'Order not found' }), h('p', { text: err.message }), h('p', {}, h('a', { href: '#/tickets', text: 'Go to My tickets' })));
      app.ready();
    });
  return () => { gone = true; };
}

// ---------------------------------------------------------------- my tickets

export function ticketsPage(main, _params, app) {
  app.setTitle('My tickets');
  let gone = false;
  if (!app.session.user) {
    app.navigate(`#/login?next=${encodeURIComponent('#/tickets')}`);
    return;
  }
  main.replaceChildren(h('h1', { tabindex: '-1', text: 'My tickets' }), h('p', { class: 'loading', text: 'Loading your tickets…' }));
  api('/orders')
    .then(async ({ orders }) => {
      const events = new Map();
      await Promise.all([...new Set(orders.map((o) => o.event_id))].map(async (id) => events.set(id, await loadEvent(id).catch(() => null))));
      if (gone) return;
      const sorted = [...orders].sort((a, b) => String(b.created_at || '').localeCompare(String(a.created_at || '')));
      main.replaceChildren(
        h('h1', { tabindex: '-1', text: 'My tickets' }),
        sorted.length
          ? h('p', { class: 'lead', text: 'Show the QR code at the entrance — on your phone or printed.' })
          : h('div', { class: 'empty card' }, h('p', { text: "You haven't bought any tickets yet." }), h('a', { class: 'btn primary', href: '#/', text: 'Find an event' })),
        ...sorted.map((order) => orderBlock(order, events.get(order.event_id))),
      );
      app.ready();
    })
    .catch((err) => {
      if (gone) return;
      if (err.status === 401) {
        app.session.user = null;
        app.refreshHeader();
        return app.navigate(`#/login?next=${encodeURIComponent('#/tickets')}`);
      }
      main.replaceChildren(h('h1', { tabindex: '-1', text: 'My tickets' }), h('div', { class: 'form-error', role: 'alert' }, h('p', { text: err.message })));
      app.ready();
    });
  return () => { gone = true; };
}

const ORDER_STATUS = { paid: 'Paid', refunded: 'Refunded', partially_refunded: 'Partly refunded' };

function orderBlock(order, event) {
  const labels = seatLabels(event);
  const sections = seatSections(event);
  const title = event ? event.name : order.event_name || 'Event';
  return h('section', { class: 'order card', 'aria-label': `${title}, order ${order.id}` },
    h('header', { class: 'order-head' },
      h('div', {},
        h('h2', { text: title }),
        h('p', { class: 'event-meta', text: event ? [event.venue?.name, longDate(event.starts_at)].filter(Boolean).join(' · ') : '' }),
      ),
      h('span', { class: `badge ${order.status === 'paid' ? 'badge-ok' : 'badge-muted'}`, text: ORDER_STATUS[order.status] || order.status }),
    ),
    h('p', { class: 'order-meta' },
      h('span', {}, 'Order ', h('span', { class: 'mono', text: order.id })),
      h('span', { text: plural(order.seat_ids.length, 'seat', 'seats') }),
      h('span', { text: `Total ${money(order.total_cents, order.currency)}` }),
      order.created_at ? h('span', { text: `Bought ${mediumDate(order.created_at)}` }) : null,
    ),
    h('ul', { class: 'tickets' }, (order.tickets || []).map((t) => ticketCard(t, labels.get(t.seat_id) || t.seat_label || 'Seat', sections.get(t.seat_id), order.status))),
  );
}

function ticketCard(ticket, label, section, orderStatus) {
  const void_ = ticket.status === 'refunded' || orderStatus === 'refunded';
  return h('li', { class: `ticket ${void_ ? 'void' : ''}`, 'data-testid': 'ticket' },
    h('img', { class: 'qr', src: `/api/v1/tickets/${encodeURIComponent(ticket.id)}/qr.svg`, alt: `QR code for ticket ${label}`, width: '160', height: '160', decoding: 'async' }),
    h('div', { class: 'ticket-body' },
      h('p', { class: 'ticket-seat', text: label }),
      section ? h('p', { class: 'ticket-section muted', text: section }) : null,
      void_ ? h('p', { class: 'badge badge-muted', text: 'Refunded — no longer valid' }) : null,
      h('p', { class: 'hint', text: 'Ticket code' }),
      h('p', { class: 'code mono', text: ticket.code }),
    ),
  );
}
