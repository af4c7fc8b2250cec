// The card frame of the sandbox's Stripe.js stand-in: card details stay in this frame, which makes the
// payment method and confirms the intent against the sandbox API with the publishable key.
(() => {
  const params = new URLSearchParams(location.search);
  const key = params.get('key') || '';
  const number = document.getElementById('number');
  const error = document.getElementById('number-error');
  const digits = () => number.value.replace(/[\s-]/g, '');

  function luhn(d) {
    let sum = 0;
    for (let i = 0; i < d.length; i++) {
      let n = Number(d[d.length - 1 - i]);
      if (i % 2 === 1) { n *= 2; if (n > 9) n -= 9; }
      sum += n;
    }
    return d.length >= 12 && d.length <= 19 && /^\d+$/.test(d) && sum % 10 === 0;
  }

  async function call(method, path, form) {
    const r = await fetch(path, {
      method,
      headers: { Authorization: `Bearer ${key}`, ...(form ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}) },
      body: form ? new URLSearchParams(form).toString() : undefined,
    });
    const body = await r.json().catch(() => ({ error: { type: 'api_error', message: 'The sandbox answered something unreadable.' } }));
    return r.ok ? { ok: body } : { error: body.error || { type: 'api_error', message: `HTTP ${r.status}` } };
  }

  const intentOf = (secret) => String(secret || '').split('_secret_')[0];

  function validate() {
    if (luhn(digits())) {
      number.removeAttribute('aria-invalid');
      error.textContent = '';
      return {};
    }
    number.setAttribute('aria-invalid', 'true');
    const message = digits() ? 'Your card number is invalid.' : 'Your card number is incomplete.';
    error.textContent = message;
    return { error: { type: 'validation_error', code: digits() ? 'invalid_number' : 'incomplete_number', message } };
  }

  async function confirm(clientSecret) {
    const checked = validate();
    if (checked.error) return checked;
    const pm = await call('POST', '/v1/payment_methods', { type: 'card', 'card[number]': digits() });
    if (pm.error) return { error: pm.error };
    const confirmed = await call('POST', `/v1/payment_intents/${encodeURIComponent(intentOf(clientSecret))}/confirm`, {
      client_secret: clientSecret,
      payment_method: pm.ok.id,
    });
    return confirmed.error ? { error: confirmed.error } : { paymentIntent: confirmed.ok };
  }

  async function retrieve(clientSecret) {
    const q = new URLSearchParams({ client_secret: clientSecret });
    const r = await call('GET', `/v1/payment_intents/${encodeURIComponent(intentOf(clientSecret))}?${q}`);
    return r.error ? { error: r.error } : { paymentIntent: r.ok };
  }

  window.addEventListener('message', async (e) => {
    if (e.source !== window.parent || !e.data?.id) return;
    const { kind, id, clientSecret } = e.data;
    let result = {};
    if (kind === 'validate') result = validate();
    else if (kind === 'confirm') result = await confirm(clientSecret);
    else if (kind === 'retrieve') result = await retrieve(clientSecret);
    else if (kind === 'focus') number.focus();
    else if (kind === 'readOnly') for (const input of document.querySelectorAll('input')) input.readOnly = e.data.on;
    window.parent.postMessage({ reply: id, result }, e.origin);
  });
  document.getElementById('card').addEventListener('submit', (e) => e.preventDefault());
  number.addEventListener('input', () => {
    window.parent.postMessage({ kind: 'change', complete: luhn(digits()), empty: digits() === '' }, '*');
  });
  window.parent.postMessage({ kind: 'ready' }, '*');
})();
