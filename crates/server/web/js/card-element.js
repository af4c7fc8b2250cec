// The card field of the payment window: the payment provider's own Payment Element, loaded with its
// script (Stripe.js, or the sandbox's stand-in for it). Card details are typed into the provider's
// frame and go from the browser to the provider: this page and our server never see them.
import { api } from './api.js';

/** Stripe's documented test cards, shown with a test key. */
const STRIPE_TEST_CARDS = [
  ['4242 4242 4242 4242', 'pays'],
  ['4000 0000 0000 0002', 'is declined'],
  ['4000 0027 6000 3184', 'asks your bank to confirm it is you (3-D Secure)'],
];
/** The sandbox service's own behaviours, shown only with its stand-in for Stripe.js. */
const STAND_IN_CARDS = [
  ['4000 0000 0000 3063', 'pays after a bank check'],
  ['4000 0000 0000 0259', 'is declined after a bank check'],
];
/** The in-process sandbox's cards (no money moves, and no provider runs anywhere). */
const IN_PROCESS_CARDS = [
  ['4242 4242 4242 4242', 'pays'],
  ['4000 0000 0000 0002', 'is declined'],
  ['4000 0000 0000 3063', 'pays after a bank check'],
  ['4000 0000 0000 0259', 'is declined after a bank check'],
  ['4000 0000 0000 0119', 'pays, but the first answer is lost'],
];

let provider = null;
/** The provider as the server describes it: {name, browser: {publishable_key, stripe_js_url} | null}. */
export function paymentProvider() {
  provider ||= api('/payments/provider').then((r) => r.payment_provider).catch((e) => { provider = null; throw e; });
  return provider;
}

const scripts = new Map();
function loadScript(src) {
  if (!scripts.has(src)) {
    scripts.set(src, new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = src;
      s.onload = () => (window.Stripe ? resolve(window.Stripe) : reject(new Error('Stripe.js did not load')));
      s.onerror = () => { scripts.delete(src); reject(new Error('Stripe.js could not be loaded')); };
      document.head.append(s);
    }));
  }
  return scripts.get(src);
}

/**
 * Mounts the Payment Element for `total` into `node` (Stripe's "collect details before creating the
 * intent" flow) and returns what the payment window needs: validate, confirm with an intent's client
 * secret, focus and read-only. Rejects when the server's provider takes no payments in the browser.
 */
export async function mountCardElement(node, total) {
  const p = await paymentProvider();
  if (!p.browser) return mountSandboxField(node);
  const Stripe = await loadScript(p.browser.stripe_js_url);
  const stripe = Stripe(p.browser.publishable_key);
  // The server creates the intent for cards (payment_method_types[0]=card): the element must match it.
  const elements = stripe.elements({
    mode: 'payment', amount: total.cents, currency: total.currency.toLowerCase(), paymentMethodTypes: ['card'],
  });
  const element = elements.create('payment');
  await new Promise((resolve) => {
    element.on('ready', resolve);
    element.mount(node);
  });
  const testMode = p.browser.publishable_key.startsWith('pk_test_');
  const standIn = !/^https:\/\/js\.stripe\.com\//.test(p.browser.stripe_js_url);
  return {
    testCards: testMode ? (standIn ? [...STRIPE_TEST_CARDS, ...STAND_IN_CARDS] : STRIPE_TEST_CARDS) : null,
    /** Card data stays in the provider's frame: the checkout request carries none. */
    paymentFields: () => ({}),
    /** `{error}` when what the buyer typed is incomplete. */
    validate: () => elements.submit(),
    /** Confirms the intent with the card in the element; 3-D Secure is handled by the provider's script. */
    confirm: (clientSecret) => stripe.confirmPayment({
      elements, clientSecret, redirect: 'if_required', confirmParams: { return_url: location.href },
    }),
    focus: () => element.focus(),
    readOnly: (on) => element.update({ readOnly: on }),
    destroy: () => element.destroy(),
  };
}

/**
 * The in-process sandbox (a server with no payment provider set up, as the demo runs): there is no
 * provider's frame, so the test card number is typed here and sent with the checkout, which API.md
 * allows for this provider only. The payment window treats it as it treats the Payment Element.
 */
function mountSandboxField(node) {
  const input = document.createElement('input');
  Object.assign(input, {
    id: 'card-number', name: 'card_number', type: 'text', inputMode: 'numeric', autocomplete: 'cc-number',
    spellcheck: false, required: true, value: '4242 4242 4242 4242',
  });
  input.dataset.testid = 'card-number';
  input.setAttribute('aria-labelledby', 'card-label');
  input.setAttribute('aria-describedby', 'card-hint');
  node.replaceChildren(input);
  const digits = () => input.value.replace(/[\s-]/g, '');
  return {
    testCards: IN_PROCESS_CARDS,
    paymentFields: () => ({ card_number: digits() }),
    validate: async () => {
      const ok = /^\d{12,19}$/.test(digits());
      input.toggleAttribute('aria-invalid', !ok);
      return ok ? {} : { error: { message: 'Enter the card number: 12 to 19 digits.' } };
    },
    /** The server confirms with the card it was sent: nothing is left for the browser to confirm. */
    confirm: async () => ({ error: { type: 'api_error', message: 'The sandbox confirms on the server.' } }),
    focus: () => { input.focus(); input.select(); },
    readOnly: (on) => { input.readOnly = on; },
    destroy: () => input.remove(),
  };
}
