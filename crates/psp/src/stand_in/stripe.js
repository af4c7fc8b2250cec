// A stand-in for Stripe.js, served by `boxoffice sandbox-psp` at /v3/. Same entry points and result
// shapes as Stripe documents: Stripe(key), stripe.elements({mode, amount, currency} | {clientSecret}),
// elements.create('payment').mount(node), elements.submit(), stripe.confirmPayment({elements,
// clientSecret, confirmParams, redirect}), stripe.handleNextAction({clientSecret}) and
// stripe.retrievePaymentIntent(clientSecret), each resolving to {paymentIntent} or {error}.
// Card details live in a frame of the sandbox's origin, which talks to the sandbox API itself.
(() => {
  const ORIGIN = new URL(document.currentScript.src).origin;
  let sequence = 0;

  /** An iframe of the sandbox's origin, and a promise that it has said it is ready. */
  function sandboxFrame(path, title) {
    const frame = document.createElement('iframe');
    frame.src = `${ORIGIN}${path}`;
    frame.title = title;
    frame.setAttribute('frameborder', '0');
    frame.style.border = '0';
    frame.style.width = '100%';
    frame.style.display = 'block';
    frame.ready = new Promise((resolve) => {
      const onReady = (e) => {
        if (e.origin === ORIGIN && e.source === frame.contentWindow && e.data?.kind === 'ready') {
          window.removeEventListener('message', onReady);
          resolve();
        }
      };
      window.addEventListener('message', onReady);
    });
    return frame;
  }

  /** Asks a sandbox frame to do something, and resolves with its answer. */
  async function ask(frame, message) {
    await frame.ready;
    // Unmounted meanwhile: nothing is there to answer.
    if (!frame.contentWindow) return { error: integrationError('The payment element is no longer mounted.') };
    return new Promise((resolve) => {
      const id = `m${++sequence}`;
      const onAnswer = (e) => {
        if (e.origin !== ORIGIN || e.source !== frame.contentWindow || e.data?.reply !== id) return;
        window.removeEventListener('message', onAnswer);
        resolve(e.data.result);
      };
      window.addEventListener('message', onAnswer);
      frame.contentWindow.postMessage({ ...message, id }, ORIGIN);
    });
  }

  const integrationError = (message) => ({ type: 'invalid_request_error', code: 'integration_error', message });

  class PaymentElement {
    constructor(elements) {
      this.elements = elements;
      this.handlers = {};
    }

    mount(target) {
      const node = typeof target === 'string' ? document.querySelector(target) : target;
      if (!node) throw new Error(`IntegrationError: no element matches ${target}`);
      const key = encodeURIComponent(this.elements.stripe.key);
      const frame = sandboxFrame(`/sandbox/element?key=${key}`, 'Secure card payment input frame');
      frame.name = `__sandboxPaymentElement${++sequence}`;
      frame.style.height = '9.5rem';
      node.append(frame);
      this.frame = frame;
      this.node = node;
      this.elements.mounted = this;
      this.listener = (e) => {
        if (e.origin !== ORIGIN || e.source !== frame.contentWindow) return;
        if (e.data?.kind === 'change') this.emit('change', { elementType: 'payment', complete: e.data.complete, empty: e.data.empty });
      };
      window.addEventListener('message', this.listener);
      frame.ready.then(() => this.emit('ready', { elementType: 'payment' }));
      return this;
    }

    on(event, handler) {
      (this.handlers[event] ||= []).push(handler);
      return this;
    }

    emit(event, payload) {
      for (const handler of this.handlers[event] || []) handler(payload);
    }

    focus() {
      if (this.frame) ask(this.frame, { kind: 'focus' });
    }

    /** Read-only while a payment is being confirmed (Stripe: `update({readOnly})`). */
    update(options = {}) {
      if (this.frame && 'readOnly' in options) ask(this.frame, { kind: 'readOnly', on: Boolean(options.readOnly) });
    }

    unmount() {
      window.removeEventListener('message', this.listener);
      this.frame?.remove();
      this.frame = null;
      if (this.elements.mounted === this) this.elements.mounted = null;
    }

    destroy() {
      this.unmount();
    }
  }

  class Elements {
    constructor(stripe, options) {
      this.stripe = stripe;
      this.options = options;
      this.mounted = null;
    }

    create(type) {
      if (type !== 'payment') throw new Error(`IntegrationError: the sandbox has the payment element only, not ${type}`);
      return new PaymentElement(this);
    }

    getElement(type) {
      return type === 'payment' ? this.mounted : null;
    }

    /** Validates what the buyer typed, before the merchant creates the intent (deferred intents). */
    async submit() {
      if (!this.mounted?.frame) return { error: integrationError('elements.submit() needs a mounted payment element.') };
      const result = await ask(this.mounted.frame, { kind: 'validate' });
      return result.error ? { error: result.error } : {};
    }
  }

  function Stripe(key) {
    if (!(this instanceof Stripe)) return new Stripe(key);
    if (typeof key !== 'string' || !/^pk_test_./.test(key)) throw new Error('IntegrationError: the sandbox takes a pk_test_… publishable key.');
    this.key = key;
    let helper = null;
    /** A hidden frame for calls made without a mounted element. */
    const helperFrame = () => {
      if (!helper) {
        helper = sandboxFrame(`/sandbox/element?key=${encodeURIComponent(key)}&hidden=1`, 'Payment helper frame');
        helper.style.display = 'none';
        document.body.append(helper);
      }
      return helper;
    };

    this.elements = (options = {}) => new Elements(this, options);

    this.retrievePaymentIntent = async (clientSecret) => ask(helperFrame(), { kind: 'retrieve', clientSecret });

    /** 3-D Secure: the challenge frame opens where the element is (inside a modal dialog too). */
    const challenge = (paymentIntent, clientSecret, near) => new Promise((resolve) => {
      const params = new URLSearchParams({ payment_intent: paymentIntent.id, client_secret: clientSecret, key });
      const frame = sandboxFrame(`/sandbox/3ds?${params}`, '3D Secure authentication');
      frame.name = '__sandboxChallengeFrame';
      frame.style.height = '13rem';
      const onDone = (e) => {
        if (e.origin !== ORIGIN || e.source !== frame.contentWindow || e.data?.kind !== '3ds-done') return;
        window.removeEventListener('message', onDone);
        frame.remove();
        resolve();
      };
      window.addEventListener('message', onDone);
      (near || document.body).append(frame);
    });

    this.handleNextAction = async ({ clientSecret } = {}, near = null) => {
      let { paymentIntent, error } = await this.retrievePaymentIntent(clientSecret);
      if (error) return { error };
      if (paymentIntent.status === 'requires_action') {
        await challenge(paymentIntent, clientSecret, near);
        ({ paymentIntent, error } = await this.retrievePaymentIntent(clientSecret));
        if (error) return { error };
      }
      if (paymentIntent.status === 'requires_payment_method' && paymentIntent.last_payment_error) {
        return {
          error: {
            type: 'card_error',
            code: 'payment_intent_authentication_failure',
            message: paymentIntent.last_payment_error.message,
            payment_intent: paymentIntent,
          },
        };
      }
      return { paymentIntent };
    };

    this.confirmPayment = async ({ elements, clientSecret, confirmParams = {}, redirect = 'always' } = {}) => {
      const secret = clientSecret || elements?.options?.clientSecret;
      const element = elements?.mounted;
      if (!element?.frame) return { error: integrationError('confirmPayment needs elements with a mounted payment element.') };
      if (!secret) return { error: integrationError('confirmPayment needs the PaymentIntent\'s client secret.') };
      if (redirect !== 'if_required' && !confirmParams.return_url) return { error: integrationError('confirmParams.return_url is required unless redirect is "if_required".') };
      const result = await ask(element.frame, { kind: 'confirm', clientSecret: secret });
      if (result.error) return { error: result.error };
      if (result.paymentIntent.status === 'requires_action') return this.handleNextAction({ clientSecret: secret }, element.node);
      return { paymentIntent: result.paymentIntent };
    };
  }

  window.Stripe = Stripe;
})();
