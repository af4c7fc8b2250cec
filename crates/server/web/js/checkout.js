// Payment window: a modal over an active hold with its countdown, the provider's card field (its Payment
// Element: card data never reaches this page or our server), Proceed (idempotent) and Cancel.
// Every outcome is explained in plain words: paid, declined, failed, provider down (503, retry with the same
// key), confirming (the bank has not decided; poll until it has) and refunded (paid too late).
// One path for every provider: the server creates the intent, the provider's script confirms it (3-D Secure
// included), and the server settles it from the provider's webhook or by asking.
import { api, ApiError, newIdempotencyKey, releaseHoldOnExit, serverNow } from './api.js';
import { h, money, mmss, announce, flash } from './util.js';
import { mountCardElement } from './card-element.js';

const MAX_AUTOMATIC_RETRIES = 3;
/** Ask about a confirming payment every second, for about a minute and a half, then let the buyer decide. */
const POLL_MS = 1000;
const MAX_POLLS = 90;
export const STILL_CONFIRMING = 'We are still confirming your payment with your bank. If it goes through, your tickets will appear in My tickets; if not, nothing is charged.';

/**
 * Open the payment window for a hold. Resolves once it is closed, with how it ended:
 * `paid` (with the order), `cancelled`, `expired`, `refunded` (paid after the hold ended, seats gone, money returned),
 * `pending` (closed while the bank still had not decided; the hold is kept), `signin` (session lost) or `left` (closed by the app).
 * @param {{hold: any, lines: {id: string, label: string, category: string, price_cents: number, currency: string}[], total: {cents: number, currency: string}}} args
 * @returns {{done: Promise<{outcome: string, order?: any}>, close: () => void}}
 */
export function openPayment({ hold, lines, total }) {
  const expiresAt = Date.parse(hold.expires_at);
  const holdUrl = `/holds/${encodeURIComponent(hold.id)}`;
  let finish;
  const done = new Promise((resolve) => (finish = resolve));
  /** A request is in flight or a payment is being confirmed: nothing may release the hold. */
  let busy = false;
  let closed = false;
  /** One payment attempt = one idempotency key, reused for retries of that same attempt. */
  let attempt = null;
  /** The payment the bank has not decided on yet (202 confirming): its id, poll count, timer and fetch. */
  let confirming = null;
  /** Money may still be moving: the hold must survive Cancel, Escape, the countdown and leaving the page. */
  const locked = () => busy || confirming !== null;
  const warned = new Set();

  const countdown = h('span', { class: 'countdown', 'data-testid': 'countdown', role: 'timer', 'aria-live': 'off', text: mmss(expiresAt - serverNow()) });
  const bar = h('span', { class: 'timer-bar-fill' });
  const free = total.cents === 0;
  /** Where the provider's Payment Element goes, and the element once mounted. */
  const cardSlot = h('div', { class: 'card-element', id: 'card-element', 'data-testid': 'payment-element' });
  const cardHint = h('div', { class: 'hint', id: 'card-hint' });
  let card = null;
  // Problems go to an assertive alert, progress (processing, confirming) to a polite status region.
  const message = h('div', { class: 'pay-message', role: 'alert', id: 'pay-message', 'data-testid': 'pay-message' });
  const status = h('div', { class: 'pay-message', role: 'status', id: 'pay-status', 'data-testid': 'pay-status' });
  const proceed = h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'proceed' }, 'Proceed');
  const cancel = h('button', { type: 'button', class: 'btn secondary', 'data-testid': 'cancel', onclick: () => dismiss() }, 'Cancel');
  const seatWord = lines.length === 1 ? 'seat' : 'seats';

  const form = h('form', { class: 'pay-form', novalidate: true, onsubmit: (e) => { e.preventDefault(); if (confirming) checkAgain(); else pay(); } },
    h('header', { class: 'pay-head' },
      h('h2', { id: 'pay-title', text: 'Complete your purchase' }),
      h('p', { class: 'pay-timer', id: 'pay-desc' }, `Your ${seatWord} ${lines.length === 1 ? 'is' : 'are'} held for `, countdown),
      h('span', { class: 'timer-bar', 'aria-hidden': 'true' }, bar),
    ),
    h('ul', { class: 'pay-lines', 'aria-label': `Held ${seatWord}` },
      lines.map((l) => h('li', {}, h('span', { class: 'pay-seat' }, h('strong', { text: l.label }), h('span', { class: 'muted', text: l.category })), h('span', { class: 'amount', text: money(l.price_cents, l.currency) }))),
    ),
    h('p', { class: 'pay-total' }, h('span', { text: 'Total' }), h('strong', { class: 'amount', text: money(total.cents, total.currency) })),
    free ? h('p', { class: 'hint', text: 'These seats are free: nothing is charged.' }) : h('div', { class: 'field' },
      h('span', { class: 'label', id: 'card-label', text: 'Card details' }),
      cardSlot,
      cardHint,
    ),
    status,
    message,
    h('div', { class: 'pay-actions' }, cancel, proceed),
  );
  // Focusable, so that a keyboard can scroll it when the provider's frames make it taller than the screen.
  const dialog = h('dialog', { class: 'pay-dialog', 'data-testid': 'payment-dialog', 'aria-labelledby': 'pay-title', 'aria-describedby': 'pay-desc', tabindex: '0' }, form);

  // Escape means Cancel (release the seats), except while a payment is being processed.
  dialog.addEventListener('cancel', (e) => {
    e.preventDefault();
    dismiss();
  });
  // Chrome may close a modal without a cancelable event (e.g. a second Escape or the Android back
  // gesture): treat that as Cancel, but never abandon a payment that is being processed.
  dialog.addEventListener('close', () => {
    if (closed) return;
    if (busy) {
      dialog.showModal();
      return;
    }
    if (confirming) return end({ outcome: 'pending' });
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
    if (!closed && !locked()) releaseHoldOnExit(hold.id);
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
    // While a payment is in flight or confirming the server decides; otherwise the hold is gone at zero.
    if (left <= 0 && !locked()) {
      api(holdUrl, { method: 'DELETE' }).catch(() => {});
      end({ outcome: 'expired' });
    }
  };
  const timer = setInterval(tick, 250);

  document.body.append(dialog);
  dialog.showModal();
  tick();
  proceed.focus();
  if (!free) mountCard();

  async function mountCard() {
    proceed.disabled = true;
    try {
      card = await mountCardElement(cardSlot, total);
    } catch (err) {
      if (closed) return;
      say('error', err instanceof ApiError ? err.message : String(err.message || err));
      return;
    }
    if (closed) return card.destroy();
    if (card.testCards) {
      cardHint.replaceChildren(
        h('p', {}, h('strong', { text: 'Test cards' }), ' (no real money moves):'),
        h('ul', { class: 'test-cards' }, card.testCards.map(([number, what]) => h('li', {}, h('span', { class: 'mono', text: number }), ` ${what}`))),
      );
    }
    if (!busy) proceed.disabled = false;
  }

  function end(result) {
    if (closed) return;
    closed = true;
    card?.destroy();
    stopPolling();
    clearInterval(timer);
    window.removeEventListener('pagehide', onPageHide);
    if (dialog.open) dialog.close();
    dialog.remove();
    finish(result);
  }

  function setBusy(on, label = 'Processing payment…') {
    busy = on;
    proceed.disabled = on || (!free && !card);
    cancel.disabled = on;
    card?.readOnly(on);
    proceed.textContent = on ? label : 'Proceed';
    // No aria-busy on the form: it would hold back the live regions inside it, which say what is going on.
  }

  /** Show one message: `progress` in the polite status region, anything else in the alert. */
  function say(kind, ...parts) {
    const [target, other] = kind === 'progress' ? [status, message] : [message, status];
    other.replaceChildren();
    target.className = `pay-message ${kind}`;
    target.replaceChildren(...parts);
  }

  /** Cancel, Escape: release the hold, unless money may be moving. */
  function dismiss() {
    if (closed || busy) return;
    // The bank is slow and the buyer chose to stop waiting: keep the hold, the server settles the payment.
    if (confirming) return end({ outcome: 'pending' });
    cancelHold();
  }

  async function cancelHold() {
    if (locked() || closed) return;
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
    if (busy || closed || (!free && !card)) return;
    if (!free) {
      const { error } = await card.validate();
      if (error) {
        say('error', error.message);
        card.focus();
        return;
      }
    }
    // One attempt, one key: a retry (or another card after a decline) confirms the same intent. Where
    // the card travels with the request (the in-process sandbox), another card is another request and
    // must not reuse the key.
    const payment = { method: 'card', ...(card ? card.paymentFields() : {}) };
    const request = JSON.stringify(payment);
    if (!attempt || attempt.request !== request) attempt = { key: newIdempotencyKey(), request };
    setBusy(true);
    say('progress', h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Processing payment…');

    for (let tries = 0; ; tries++) {
      try {
        const body = await api(`${holdUrl}/checkout`, {
          method: 'POST',
          headers: { 'Idempotency-Key': attempt.key },
          body: { payment },
        });
        if (closed) return;
        // 202: the intent exists; the provider's script confirms it with the card in its element.
        if (body?.payment?.client_secret) return confirmWithProvider(body.payment);
        if (body?.payment) return outcomeOf(body.payment);
        setBusy(false);
        end({ outcome: 'paid', order: body.order });
        return;
      } catch (caught) {
        if (closed) return;
        const err = caught instanceof ApiError ? caught : new ApiError(0, 'network_error', 'The connection was interrupted.');
        // Retrying with the same key is safe: the server replays the first answer and never charges twice.
        // request_in_progress means an earlier send of this very attempt is still running: wait for its answer.
        // A 503 is the server's own answer (the provider is not answering, nothing was charged): the buyer retries.
        const inProgress = err.code === 'request_in_progress';
        const retryable = inProgress || (err.transient && err.status !== 503) || err.status === 429;
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

  /** The provider's script confirms (and authenticates) the card; then the server settles it. */
  async function confirmWithProvider(payment) {
    const { error } = await card.confirm(payment.client_secret);
    if (closed) return;
    if (error) {
      setBusy(false);
      // Declined, failed 3-D Secure or a card the provider refused: the same intent takes another card.
      if (error.type === 'card_error' || error.type === 'validation_error') return declined(error);
      say('error', error.message || 'The payment provider could not take the payment. Nothing was charged.');
      return;
    }
    return outcomeOf({ ...payment, status: 'confirming' });
  }

  async function failed(err) {
    if (err.status === 402 && err.code === 'payment_failed') return notCharged();
    if (err.status === 402) return declined();
    if (err.status === 409 && err.code === 'hold_not_active') {
      if (err.details?.refunded === true) return end({ outcome: 'refunded' });
      // Another tab (or a replayed request) may already have turned this hold into an order.
      const order = await findOrderForHold();
      if (order) return end({ outcome: 'paid', order });
      return end({ outcome: 'expired' });
    }
    if (err.status === 401) return end({ outcome: 'signin' });
    // Keep the attempt (and its key): Try again repeats the same request, which never charges twice.
    if (err.status === 503) {
      retryLater(h('strong', { text: 'The payment provider is not answering. Nothing was charged.' }), ' Try again in a moment: you will not be charged twice.');
      return;
    }
    if (err.transient || err.status >= 500 || err.status === 429 || err.code === 'request_in_progress') {
      retryLater(`${err.message} Try again: you will not be charged twice.`);
      return;
    }
    attempt = null;
    say('error', err.message);
    card?.focus();
  }

  function retryLater(...parts) {
    say('error', ...parts);
    proceed.textContent = 'Try again';
    proceed.focus();
  }

  /** The card was declined (or not authenticated): the hold stays, and the same attempt takes another card. */
  function declined(error) {
    const authentication = error?.code === 'payment_intent_authentication_failure';
    say('error',
      h('strong', { text: authentication ? 'Your bank could not confirm it is you.' : 'Your card was declined.' }),
      ' Your seats are still held for ', h('span', { class: 'live-countdown', text: mmss(expiresAt - serverNow()) }),
      ' — try another card.');
    card?.focus();
  }

  /** The provider gave up on the payment without charging: the buyer may simply try again (a new attempt). */
  function notCharged() {
    attempt = null;
    say('error',
      h('strong', { text: 'The payment did not go through. Nothing was charged.' }),
      ' Your seats are still held for ', h('span', { class: 'live-countdown', text: mmss(expiresAt - serverNow()) }),
      ' — press Proceed to try again.');
    proceed.focus();
  }

  // ------------------------------------------------------------ confirming (202) and its outcome

  /** Act on a payment's status, from a 202 or from polling GET /payments/{id}. */
  async function outcomeOf(payment) {
    if (closed) return;
    switch (payment.status) {
      case 'confirming':
        return waitForBank(payment);
      case 'paid': {
        const order = await orderOf(payment);
        if (closed) return;
        if (order) {
          stopPolling();
          setBusy(false);
          return end({ outcome: 'paid', order });
        }
        // Paid, but the order did not load: keep asking (bounded like any confirming payment).
        return waitForBank(payment);
      }
      case 'refunded':
        stopPolling();
        setBusy(false);
        return end({ outcome: 'refunded' });
      case 'declined':
        stopPolling();
        setBusy(false);
        return declined();
      default:
        stopPolling();
        setBusy(false);
        return notCharged();
    }
  }

  /** Show "Confirming your payment…" once and poll the payment until it is final or the polls run out. */
  function waitForBank(payment) {
    if (!confirming || confirming.id !== payment.id) {
      stopPolling();
      confirming = { id: payment.id, polls: 0, timer: 0, ctrl: null };
      setBusy(true, 'Confirming…');
      say('progress',
        h('span', { class: 'spinner', 'aria-hidden': 'true' }),
        h('strong', { text: 'Confirming your payment…' }),
        ' Your bank has not answered yet. This window updates by itself: please keep it open. You will not be charged twice.');
    }
    if (confirming.polls >= MAX_POLLS) return bankIsSlow();
    confirming.timer = setTimeout(poll, POLL_MS);
  }

  async function poll() {
    if (closed || !confirming) return;
    const current = confirming;
    current.polls += 1;
    current.ctrl = new AbortController();
    let payment;
    try {
      ({ payment } = await api(`/payments/${encodeURIComponent(current.id)}`, { signal: current.ctrl.signal }));
    } catch (err) {
      if (closed || confirming !== current) return;
      if (err instanceof ApiError && err.status === 401) return end({ outcome: 'signin' });
      // A network blip or a busy server: ask again at the next tick.
      return waitForBank({ id: current.id });
    }
    if (closed || confirming !== current) return;
    await outcomeOf(payment);
  }

  /** Still no answer after the bounded polls: say so, let the buyer check again or close (the hold is kept). */
  function bankIsSlow() {
    setBusy(false);
    card?.readOnly(true);
    proceed.textContent = 'Check again';
    cancel.textContent = 'Close';
    say('progress', h('strong', { text: 'Your bank is taking longer than usual.' }), ` ${STILL_CONFIRMING}`);
    proceed.focus();
  }

  function checkAgain() {
    if (busy || closed || !confirming) return;
    confirming.polls = 0;
    setBusy(true, 'Confirming…');
    cancel.textContent = 'Cancel';
    say('progress', h('span', { class: 'spinner', 'aria-hidden': 'true' }), h('strong', { text: 'Confirming your payment…' }), ' Checking with your bank again.');
    confirming.timer = setTimeout(poll, 0);
  }

  function stopPolling() {
    if (!confirming) return;
    clearTimeout(confirming.timer);
    confirming.ctrl?.abort();
    confirming = null;
    cancel.textContent = 'Cancel';
  }

  async function orderOf(payment) {
    if (payment.order_id) {
      try {
        return (await api(`/orders/${encodeURIComponent(payment.order_id)}`)).order;
      } catch {
        return null;
      }
    }
    return findOrderForHold();
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
      if (!locked()) releaseHoldOnExit(hold.id);
      // Leaving while the bank decides: the hold stays, and the buyer is told where the tickets will be.
      else if (confirming) flash(STILL_CONFIRMING, 'info');
      end({ outcome: 'left' });
    },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
