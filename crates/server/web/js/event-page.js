// Event page: live seat map, the buyer's selection and basket, and the hand-off to the payment window.
import { api, fetchImmutable, serverNow } from './api.js';
import { SeatMap, legend, zoomControls } from './seatmap.js';
import { SeatFeed } from './live.js';
import { openPayment, STILL_CONFIRMING } from './checkout.js';
import { h, money, longDate, plural, announce, flash } from './util.js';
import { waitForAdmission } from './queue.js';
import { bestAvailableForm } from './best-available.js';

export const MAX_SEATS = 8;

/** Orders just paid for, so the confirmation page renders without another round trip. */
export const recentOrders = new Map();

/**
 * @param {HTMLElement} main
 * @param {{id: string}} params
 * @param {{session: {user: any}, navigate: (hash: string) => void, setTitle: (t: string) => void}} app
 * @returns {() => void} cleanup
 */
export function eventPage(main, params, app) {
  const eventId = params.id;
  const selectionKey = `boxoffice.selection.${eventId}`;
  let map = null;
  let feed = null;
  /** "Find me N seats", once the map (and so the categories) is known. */
  let best = null;
  let payment = null;
  /** Seat ids the buyer picked on the map (not yet held). */
  const selected = new Set();
  /** Seats of the hold this page created, while it is active. */
  let heldByMe = new Set();
  let holding = false;
  let gone = false;
  /** A reason the sale is closed (not open yet, or over), shown instead of the hold button. */
  let blocked = null;
  let saleTimer = 0;

  const status = h('span', { class: 'live-status', 'data-status': 'connecting', role: 'status' }, 'Connecting…');
  const hover = h('p', { class: 'seat-hover', 'aria-hidden': 'true' }, '\u00a0');
  const basketList = h('ul', { class: 'basket-lines' });
  const basketEmpty = h('p', { class: 'muted basket-empty', text: `Pick up to ${MAX_SEATS} seats on the map.` });
  const totalAmount = h('strong', { class: 'amount', text: '—' });
  const basketCount = h('span', { class: 'count', text: '0' });
  const holdButton = h('button', { type: 'button', class: 'btn primary wide', 'data-testid': 'hold-button', disabled: true, onclick: () => holdSeats() }, 'Hold seats & pay');
  const notice = h('div', { class: 'basket-notice', role: 'alert' });
  const saleNote = h('p', { class: 'sale-note', hidden: true });
  const viewport = h('div', { class: 'map-viewport', tabindex: '-1' });

  main.replaceChildren(h('p', { class: 'loading', text: 'Loading the seat map…' }));

  // The layout and prices come from their content-addressed URL, which the browser caches for
  // good: only the small live part of the event is fetched on every visit.
  api(`/events/${encodeURIComponent(eventId)}?layout=url`)
    .then(async ({ event }) => {
      if (gone) return;
      await waitForAdmission(main, event, app, () => gone);
      if (gone) return;
      if (!event.layout && event.layout_url) {
        const fixed = await fetchImmutable(event.layout_url);
        event = { ...event, layout: fixed.layout, categories: fixed.categories };
      }
      if (gone) return;
      build(event);
    })
    .catch((err) => {
      if (gone) return;
      main.replaceChildren(
        h('h1', { tabindex: '-1', text: err.status === 404 ? 'Event not found' : 'The seat map could not be loaded' }),
        h('p', { text: err.message }),
        h('p', {}, h('a', { href: '#/', text: 'Back to all events' })),
      );
      app.ready();
    });

  /** Why this event can't be bought right now, or null. Re-checked when the sale opens. */
  function saleBlock(event) {
    const opens = Date.parse(event.sale_opens_at);
    if (event.status === 'ended') return 'This event has started; tickets are no longer on sale.';
    if (opens > serverNow()) {
      const wait = opens - serverNow();
      if (wait < 2 ** 31) saleTimer = setTimeout(() => { blocked = null; renderBasket(); }, wait + 500);
      return `Tickets go on sale ${longDate(event.sale_opens_at)}. You can pick seats now and hold them then.`;
    }
    return null;
  }

  function build(event) {
    app.setTitle(event.name);
    blocked = saleBlock(event);
    map = new SeatMap(event, { onActivate: toggle, onHover: showHover, onZoomed: () => { hover.textContent = 'Zoomed in: tap a seat to select it, or Fit to see the whole hall.'; } });
    viewport.append(map.svg);
    restoreSelection();
    best = bestAvailableForm({ categories: map.categories, max: MAX_SEATS, onFind: findSeats });

    const venue = event.venue?.name;
    main.replaceChildren(
      h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/', text: 'Events' }), h('span', { 'aria-hidden': 'true', text: ' / ' }), h('span', { 'aria-current': 'page', text: event.name })),
      h('header', { class: 'event-head' },
        h('div', {},
          h('h1', { tabindex: '-1', text: event.name }),
          h('p', { class: 'event-meta' }, [venue, longDate(event.starts_at)].filter(Boolean).join(' · ')),
        ),
        status,
      ),
      h('div', { class: 'event-layout' },
        h('section', { class: 'map-panel', 'aria-labelledby': 'map-title' },
          h('div', { class: 'map-toolbar' },
            h('h2', { id: 'map-title', class: 'sr-only', text: 'Choose your seats' }),
            h('p', { id: 'seatmap-help', class: 'help' }, 'Click or tap a seat to select it; + and − zoom. Keyboard: Tab into the map, arrow keys to move, Enter or Space to select.'),
            zoomControls(map, viewport),
          ),
          viewport,
          hover,
          legend(map),
        ),
        h('aside', { class: 'basket', 'aria-label': 'Your seats' },
          best.element,
          h('h2', { id: 'basket-title', class: 'basket-title' }, 'Your seats ', basketCount),
          basketEmpty,
          basketList,
          h('p', { class: 'basket-total' }, h('span', { text: 'Total' }), totalAmount),
          h('p', { class: 'fine', text: 'Prices include all fees. The final amount is confirmed at payment.' }),
          saleNote,
          holdButton,
          notice,
        ),
      ),
    );

    feed = new SeatFeed(eventId, layoutOrder(event.layout), !!app.session.user, {
      onReset: () => repaintAll(),
      onChanges: (ids) => changed(ids),
      onStatus: (s) => {
        status.dataset.status = s;
        status.textContent = s === 'live' ? 'Live' : s === 'connecting' ? 'Connecting…' : 'Reconnecting…';
        status.title = s === 'live' ? 'Seat availability updates as it happens' : 'Seat availability may be out of date';
      },
    });
    feed.start();
    repaintAll();
    renderBasket();
    app.ready();
  }

  function isMine(id, st) {
    return st?.state === 'held' && (st.mine === true || heldByMe.has(id));
  }

  function displayOf(id) {
    const st = feed?.seats.get(id);
    if (selected.has(id)) return ['mine', 'selected'];
    if (!st) return ['available', 'available'];
    if (st.state === 'held') return isMine(id, st) ? ['mine', 'mine'] : ['held', 'held'];
    if (st.state === 'sold' && st.mine) return ['sold', 'yours'];
    return [st.state, st.state];
  }

  function repaint(id) {
    const [display, detail] = displayOf(id);
    map.paint(id, display, detail);
  }

  function repaintAll() {
    if (!map) return;
    for (const id of map.seats.keys()) repaint(id);
    dropTaken([...selected]);
  }

  function changed(ids) {
    for (const id of ids) repaint(id);
    dropTaken(ids);
  }

  /** Seats in the selection that someone else just took are removed, and the buyer is told which. */
  function dropTaken(ids) {
    if (holding) return;
    const lost = ids.filter((id) => selected.has(id) && feed.seats.get(id) && feed.seats.get(id).state !== 'available');
    if (!lost.length) return;
    for (const id of lost) {
      selected.delete(id);
      repaint(id);
    }
    const names = lost.map((id) => map.seats.get(id)?.label).join(', ');
    const text = `${names} ${lost.length === 1 ? 'was' : 'were'} just taken by someone else and removed from your selection.`;
    say(text, 'warn');
    announce(text);
    renderBasket();
  }

  function toggle(id) {
    if (holding || payment) return;
    const seat = map.seats.get(id);
    const st = feed?.seats.get(id);
    if (selected.has(id)) {
      selected.delete(id);
      repaint(id);
      say('');
      announce(`${seat.label} removed. ${summary()}`);
      renderBasket();
      return;
    }
    if (st && st.state !== 'available') {
      const why = st.state === 'sold' ? 'is sold' : isMine(id, st) ? 'is already held for you' : 'is held by another buyer';
      say(`${seat.label} ${why}.`, 'info');
      announce(`${seat.label} ${why}.`);
      return;
    }
    if (selected.size >= MAX_SEATS) {
      const text = `You can select up to ${MAX_SEATS} seats per order. Remove one to pick another.`;
      say(text, 'warn');
      announce(text);
      return;
    }
    selected.add(id);
    repaint(id);
    say('');
    announce(`${seat.label} selected. ${summary()}`);
    renderBasket();
  }

  function summary() {
    const t = totalOf([...selected]);
    return selected.size ? `${plural(selected.size, 'seat', 'seats')}, total ${money(t.cents, t.currency)}.` : 'No seats selected.';
  }

  function totalOf(ids) {
    let cents = 0;
    let currency = 'EUR';
    for (const id of ids) {
      const c = map.seats.get(id)?.category;
      if (!c) continue;
      cents += c.price_cents;
      currency = c.currency;
    }
    return { cents, currency };
  }

  function lineFor(id) {
    const seat = map.seats.get(id);
    const c = seat?.category;
    return { id, label: seat?.label ?? id, category: c?.name ?? '', price_cents: c?.price_cents ?? 0, currency: c?.currency ?? 'EUR' };
  }

  function renderBasket() {
    const ids = [...selected].sort((a, b) => {
      const sa = map.seats.get(a);
      const sb = map.seats.get(b);
      return sa.row - sb.row || sa.col - sb.col;
    });
    basketList.replaceChildren(
      ...ids.map((id) => {
        const l = lineFor(id);
        return h('li', {},
          h('span', { class: 'line-seat' }, h('strong', { text: l.label }), h('span', { class: 'muted', text: l.category })),
          h('span', { class: 'amount', text: money(l.price_cents, l.currency) }),
          h('button', { type: 'button', class: 'remove', 'aria-label': `Remove ${l.label}`, title: 'Remove', onclick: () => { toggle(id); } }, '×'),
        );
      }),
    );
    basketEmpty.hidden = ids.length > 0;
    basketCount.textContent = String(ids.length);
    const t = totalOf(ids);
    totalAmount.textContent = ids.length ? money(t.cents, t.currency) : '—';
    holdButton.disabled = !ids.length || holding || !!blocked;
    best?.render({ busy: holding, blocked: !!blocked || !!payment });
    saleNote.textContent = blocked || '';
    saleNote.hidden = !blocked;
    holdButton.textContent = holding ? 'Holding your seats…' : ids.length ? `Hold ${plural(ids.length, 'seat', 'seats')} & pay` : 'Hold seats & pay';
    saveSelection();
  }

  function say(text, kind = 'info') {
    notice.className = `basket-notice ${text ? kind : ''}`;
    notice.textContent = text;
  }

  function showHover(id) {
    hover.textContent = id ? `${map.describe(id)} · ${map.seats.get(id).el.getAttribute('aria-label').split(', ').pop()}` : '\u00a0';
  }

  function holdSeats() {
    if (holding || !selected.size || payment) return;
    startHold({ seat_ids: [...selected] }, () => holdButton);
  }

  /** "Find me N seats": the server picks the block; the rest is as for a pick. */
  function findSeats(count, categoryId) {
    if (holding || payment) return;
    const ask = categoryId ? { count, category_id: categoryId } : { count };
    startHold({ best_available: ask }, () => best.element.querySelector('button'));
  }

  /** Holds what `body` asks for, then runs the payment window; `returnFocus` says where keyboard focus goes after. */
  async function startHold(body, returnFocus) {
    if (!app.session.user) {
      saveSelection();
      flash(body.seat_ids ? 'Sign in or create an account to hold your seats. Your selection is kept.' : 'Sign in or create an account, and we will find your seats.');
      app.navigate(`#/login?next=${encodeURIComponent(`#/events/${eventId}`)}`);
      return;
    }
    holding = true;
    renderBasket();
    say('');
    let hold;
    try {
      ({ hold } = await api(`/events/${encodeURIComponent(eventId)}/holds`, { method: 'POST', body }));
    } catch (err) {
      holding = false;
      if (gone) return;
      holdFailed(err, body);
      renderBasket();
      return;
    }
    if (gone) {
      api(`/holds/${encodeURIComponent(hold.id)}`, { method: 'DELETE' }).catch(() => {});
      return;
    }
    heldByMe = new Set(hold.seat_ids);
    // A pick holds exactly the selection; the best seats may include some of it.
    for (const id of hold.seat_ids) selected.delete(id);
    holding = false;
    for (const id of hold.seat_ids) repaint(id);
    renderBasket();
    const names = hold.seat_ids.map((id) => map.seats.get(id)?.label || id).join(', ');
    announce(`${plural(hold.seat_ids.length, 'seat', 'seats')} held for you: ${names}. Complete payment in the dialog.`);

    const lines = hold.seat_ids.map(lineFor);
    payment = openPayment({ hold, lines, total: totalOf(hold.seat_ids) });
    renderBasket();
    const result = await payment.done;
    payment = null;
    const mySeats = heldByMe;
    heldByMe = new Set();
    if (gone) return;
    for (const id of mySeats) repaint(id);
    renderBasket();
    // Give keyboard users their place back (the button may be disabled now, then on the map).
    const back = returnFocus();
    if (back && !back.disabled) back.focus();
    else if (mySeats.size) map.focusSeat([...mySeats][0]);

    switch (result.outcome) {
      case 'paid':
        recentOrders.set(result.order.id, result.order);
        app.navigate(`#/orders/${encodeURIComponent(result.order.id)}`);
        break;
      case 'cancelled':
        say('Your seats were released.', 'info');
        announce('Hold cancelled. Your seats were released.');
        break;
      case 'expired':
      case 'refunded':
      case 'pending': {
        const text = {
          expired: 'Your hold has expired; the seats were released.',
          refunded: 'Refunded: the seats were no longer available. Your payment arrived after your hold ended and some of the seats had been taken by then, so the charge was refunded in full. Please choose other seats.',
          pending: STILL_CONFIRMING,
        }[result.outcome];
        flash(text, result.outcome === 'pending' ? 'info' : 'warn');
        announce(text);
        break;
      }
      case 'signin':
        app.navigate(`#/login?next=${encodeURIComponent(`#/events/${eventId}`)}`);
        break;
      default:
        break;
    }
  }

  function holdFailed(err, body) {
    if (err.status === 401) {
      app.session.user = null;
      app.refreshHeader();
      flash('Your session ended. Please sign in again to hold your seats.');
      app.navigate(`#/login?next=${encodeURIComponent(`#/events/${eventId}`)}`);
      return;
    }
    if (err.code === 'admission_required' || err.code === 'invalid_admission') {
      // The turn lapsed (or the room was just turned on): back into the line.
      saveSelection();
      flash(err.message);
      app.navigate(`#/events/${eventId}`);
      return;
    }
    if (err.status === 409 && err.code === 'seat_unavailable') {
      const taken = (err.details?.seat_ids || []).filter((id) => selected.has(id));
      for (const id of taken) {
        selected.delete(id);
        repaint(id);
      }
      const names = taken.map((id) => map.seats.get(id)?.label || id).join(', ');
      const text = taken.length
        ? `Sorry — ${names} ${taken.length === 1 ? 'was' : 'were'} just taken by someone else. ${taken.length === 1 ? 'It has' : 'They have'} been removed from your selection${selected.size ? '; your other seats are still selected' : ''}.`
        : 'Some of those seats were just taken. Please choose again.';
      say(text, 'error');
      announce(text);
      return;
    }
    if (err.status === 409 && err.code === 'no_seats_together' && body.best_available) {
      const { count, category_id: categoryId } = body.best_available;
      const where = categoryId ? ` at ${map.categories.get(categoryId)?.name ?? 'that price'}` : '';
      const what = count === 1 ? 'there is no seat left' : `there are no ${count} seats together`;
      const text = `Sorry — ${what}${where} right now. Try fewer seats${map.categories.size > 1 ? ' or another price' : ''}, or pick seats on the map.`;
      say(text, 'warn');
      announce(text);
      return;
    }
    say(err.message, 'error');
    announce(err.message);
  }

  function saveSelection() {
    try {
      if (selected.size) sessionStorage.setItem(selectionKey, JSON.stringify([...selected]));
      else sessionStorage.removeItem(selectionKey);
    } catch {
      // Private mode without storage: the selection just isn't kept across sign-in.
    }
  }

  function restoreSelection() {
    try {
      const ids = JSON.parse(sessionStorage.getItem(selectionKey) || '[]');
      for (const id of ids.slice(0, MAX_SEATS)) if (map.seats.has(id)) selected.add(id);
    } catch {
      // Ignore a corrupt entry.
    }
  }

  /** Seat ids as the layout lists them: the order of the compact seat states. */
  function layoutOrder(layout) {
    const ids = [];
    for (const section of layout.sections || []) for (const row of section.rows || []) for (const seat of row.seats || []) ids.push(seat.id);
    return ids;
  }

  return () => {
    gone = true;
    clearTimeout(saleTimer);
    payment?.close();
    feed?.stop();
  };
}

