// Payment window: a modal over an active hold with its countdown, sandbox card, Proceed (idempotent) and Cancel.
import { api, ApiError, newIdempotencyKey, releaseHoldOnExit, serverNow } from './api.js';
import { h, money, mmss, announce } from './util.js';

export const SANDBOX_CARD = '4242424242424242';
const MAX_AUTOMATIC_RETRIES = 3;

/**
 * Open the payment window for a hold. Resolves once it is closed, with how it ended:
 * `paid` (with the order), `cancelled`, `expired` (with `refunded` when a late charge was paid back), `signin` (session lost) or `left` (closed by the app).
 * @param {{hold: any, lines: {id: string, label: string, category: string, price_cents: number, currency: string}[], total: {cents: number, currency: string}}} args
 * @returns {{done: Promise<{outcome: string, order?: any}>, close: () => void}}
 */
export function openPayment({ hold, lines, total }) {
  const expiresAt = Date.parse(hold.expires_at);
  const holdUrl = `/holds/${encodeURIComponent(hold.id)}`;
  let finish;
  const done = new Promise((resolve) => (finish = resolve));
  let busy = false;
  let closed = false;
  /** One payment attempt = one idempotency key, reused for retries of that same attempt. */
  let attempt = null;
  const warned = new Set();

  const countdown = h('span', { class: 'countdown', 'data-testid': 'countdown', role: 'timer', 'aria-live': 'off', text: mmss(expiresAt - serverNow()) });
  const bar = h('span', { class: 'timer-bar-fill' });
  const card = h('input', {
    id: 'card-number', 'data-testid': 'card-number', name: 'card_number', type: 'text', inputmode: 'numeric',
    autocomplete: 'cc-number', spellcheck: 'false', value: SANDBOX_CARD, 'aria-describedby': 'card-hint', required: true,
  });
  const message = h('div', { class: 'pay-message', role: 'alert', id: 'pay-message' });
  const proceed = h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'proceed' }, 'Proceed');
  const cancel = h('button', { type: 'button', class: 'btn secondary', 'data-testid': 'cancel', onclick: () => cancelHold() }, 'Cancel');
  const seatWord = lines.length === 1 ? 'seat' : 'seats';

  const form = h('form', { class: 'pay-form', novalidate: true, onsubmit: (e) => { e.preventDefault(); pay(); } },
    h('header', { class: 'pay-head' },
      h('h2', { id: 'pay-title', text: 'Complete your purchase' }),
      h('p', { class: 'pay-timer', id: 'pay-desc' }, `Your ${seatWord} ${lines.length === 1 ? 'is' : 'are'} held for `, countdown),
      h('span', { class: 'timer-bar', 'aria-hidden': 'true' }, bar),
    ),
    h('ul', { class: 'pay-lines', 'aria-label': `Held ${seatWord}` },
      lines.map((l) => h('li', {}, h('span', { class: 'pay-seat' }, h('strong', { text: l.label }), h('span', { class: 'muted', text: l.category })), h('span', { class: 'amount', text: money(l.price_cents, l.currency) }))),
    ),
    h('p', { class: 'pay-total' }, h('span', { text: 'Total' }), h('strong', { class: 'amount', text: money(total.cents, total.currency) })),
    h('div', { class: 'field' },
      h('label', { for: 'card-number', text: 'Card number' }),
      card,
      h('p', { class: 'hint', id: 'card-hint' }, h('strong', { text: 'Sandbox: ' }), '4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined. No real money moves.'),
    ),
    message,
    h('div', { class: 'pay-actions' }, cancel, proceed),
  );
  const dialog = h('dialog', { class: 'pay-dialog', 'data-testid': 'payment-dialog', 'aria-labelledby': 'pay-title', 'aria-describedby': 'pay-desc' }, form);

  // Escape means Cancel (release the seats), except while a payment is being processed.
  dialog.addEventListener('cancel', (e) => {
    e.preventDefault();
    cancelHold();
  });
  // Chrome may close a modal without a cancelable event (e.g. a second Escape or the Android back
  // gesture): treat that as Cancel, but never abandon a payment that is being processed.
  dialog.addEventListener('close', () => {
    if (closed) return;
    if (busy) {
      dialog.showModal();
      return;
    }
    api(holdUrl, { method: 'DELETE' }).catch(() => {});
    end({ outcome: 'cancelled' });
  });
  // showModal() makes the page inert; wrapping Tab also keeps focus off the browser chrome.
  dialog.addEventListener('keydown', (e) => {
    if (e.key !== 'Tab') return;
    const focusable = [...dialog.querySelectorAll('input, button')].filter((el) => !el.disabled);
    if (!focusable.length) return;
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
    else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
  });

  const onPageHide = () => {
    if (!closed && !busy) releaseHoldOnExit(hold.id);
  };
  window.addEventListener('pagehide', onPageHide);

  const ttl = Math.max(1, expiresAt - serverNow());
  const tick = () => {
    const left = expiresAt - serverNow();
    const text = mmss(left);
    countdown.textContent = text;
    for (const el of message.querySelectorAll('.live-countdown')) el.textContent = text;
    bar.style.transform = `scaleX(${Math.max(0, Math.min(1, left / ttl))})`;
    dialog.classList.toggle('urgent', left <= 60_000);
    for (const mark of [120, 60, 30]) {
      if (left <= mark * 1000 && left > (mark - 5) * 1000 && !warned.has(mark)) {
        warned.add(mark);
        announce(`${mark >= 60 ? `${mark / 60} minute${mark > 60 ? 's' : ''}` : `${mark} seconds`} left to pay.`);
      }
    }
    // While a payment is in flight the server decides; otherwise the hold is gone at zero.
    if (left <= 0 && !busy) {
      api(holdUrl, { method: 'DELETE' }).catch(() => {});
      end({ outcome: 'expired' });
    }
  };
  const timer = setInterval(tick, 250);

  document.body.append(dialog);
  dialog.showModal();
  tick();
  proceed.focus();

  function end(result) {
    if (closed) return;
    closed = true;
    clearInterval(timer);
    window.removeEventListener('pagehide', onPageHide);
    if (dialog.open) dialog.close();
    dialog.remove();
    finish(result);
  }

  function setBusy(on, label = 'Processing payment…') {
    busy = on;
    proceed.disabled = on;
    cancel.disabled = on;
    card.readOnly = on;
    proceed.textContent = on ? label : 'Proceed';
    form.setAttribute('aria-busy', on ? 'true' : 'false');
  }

  function say(kind, ...parts) {
    message.className = `pay-message ${kind}`;
    message.replaceChildren(...parts);
  }

  async function cancelHold() {
    if (busy || closed) return;
    setBusy(true, 'Proceed');
    cancel.textContent = 'Releasing…';
    try {
      await api(holdUrl, { method: 'DELETE' });
    } catch {
      // The hold expires on its own; the buyer asked to leave, so don't trap them here.
    }
    end({ outcome: 'cancelled' });
  }

  async function pay() {
    if (busy || closed) return;
    const digits = card.value.replace(/[\s-]/g, '');
    if (!/^\d{12,19}$/.test(digits)) {
      say('error', 'Enter the card number: 12 to 19 digits.');
      card.setAttribute('aria-invalid', 'true');
      card.focus();
      return;
    }
    card.removeAttribute('aria-invalid');
    // A different card is a new request and must not reuse the previous attempt's key.
    if (!attempt || attempt.card !== digits) attempt = { key: newIdempotencyKey(), card: digits };
    setBusy(true);
    say('progress', 'Processing payment…');

    for (let tries = 0; ; tries++) {
      try {
        const body = await api(`${holdUrl}/checkout`, {
          method: 'POST',
          headers: { 'Idempotency-Key': attempt.key },
          body: { payment: { method: 'sandbox', card_number: attempt.card } },
        });
        setBusy(false);
        end({ outcome: 'paid', order: body.order });
        return;
      } catch (caught) {
        const err = caught instanceof ApiError ? caught : new ApiError(0, 'network_error', 'The connection was interrupted.');
        // Retrying with the same key is safe: the server replays the first answer and never charges twice.
        // request_in_progress means an earlier send of this very attempt is still running: wait for its answer.
        const inProgress = err.code === 'request_in_progress';
        const retryable = inProgress || err.transient || err.status === 429;
        const maxTries = inProgress ? MAX_AUTOMATIC_RETRIES * 10 : MAX_AUTOMATIC_RETRIES;
        if (retryable && tries < maxTries && (inProgress || expiresAt - serverNow() > 3000)) {
          say('progress', inProgress ? 'Still processing your payment…' : 'Connection problem — retrying your payment safely…');
          await sleep(err.retryAfter ? err.retryAfter * 1000 : 1000 * 2 ** Math.min(tries, 3));
          continue;
        }
        setBusy(false);
        await failed(err);
        return;
      }
    }
  }

  async function failed(err) {
    if (err.status === 402) {
      attempt = null;
      say('error',
        h('strong', { text: 'Your card was declined.' }),
        ' Your seats are still held for ', h('span', { class: 'live-countdown', text: mmss(expiresAt - serverNow()) }),
        ' — try another card.');
      card.focus();
      card.select();
      return;
    }
    if (err.status === 409 && err.code === 'hold_not_active') {
      // Another tab (or a replayed request) may already have turned this hold into an order.
      const order = await findOrderForHold();
      if (order) return end({ outcome: 'paid', order });
      return end({ outcome: 'expired', refunded: err.details?.refunded === true });
    }
    if (err.status === 401) return end({ outcome: 'signin' });
    if (err.transient || err.status >= 500 || err.status === 429 || err.code === 'request_in_progress') {
      // Keep the attempt (and its key): pressing Proceed again repeats the same request.
      say('error', `${err.message} Press Proceed to try again — you will not be charged twice.`);
      return;
    }
    attempt = null;
    say('error', err.message);
    card.focus();
  }

  async function findOrderForHold() {
    try {
      const { hold: current } = await api(holdUrl);
      if (current.status !== 'converted') return null;
      const { orders } = await api('/orders');
      return orders.find((o) => o.hold_id === hold.id) || null;
    } catch {
      return null;
    }
  }

  return {
    done,
    /** Close because the buyer navigated away inside the app: release the seats like Cancel. */
    close() {
      if (closed) return;
      if (!busy) releaseHoldOnExit(hold.id);
      end({ outcome: 'left' });
    },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
