// The card field of the payment window: the payment provider's own Payment Element, loaded with its
// script (Stripe.js, or the sandbox's stand-in for it). Card details are typed into the provider's
// frame and go from the browser to the provider: this page and our server never see them.
import { api } from './api.js';

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
  if (!p.browser) throw new Error('Paying by card is not available here: this server takes payments over its API only.');
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
  return {
    testMode: p.browser.publishable_key.startsWith('pk_test_'),
    sandbox: !/^https:\/\/js\.stripe\.com\//.test(p.browser.stripe_js_url),
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
