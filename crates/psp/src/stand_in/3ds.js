// The sandbox's 3D Secure challenge: the buyer's answer goes to the sandbox, then the page that opened
// this frame (the Stripe.js stand-in) is told it is over.
(() => {
  const params = new URLSearchParams(location.search);
  const answer = async (outcome) => {
    for (const b of document.querySelectorAll('button')) b.disabled = true;
    document.getElementById('status').textContent = 'Checking…';
    await fetch(`/sandbox/3ds/${encodeURIComponent(params.get('payment_intent') || '')}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${params.get('key')}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_secret: params.get('client_secret') || '', outcome }).toString(),
    }).catch(() => {});
    window.parent.postMessage({ kind: '3ds-done', outcome }, '*');
  };
  document.getElementById('complete').addEventListener('click', () => answer('succeed'));
  document.getElementById('fail').addEventListener('click', () => answer('fail'));
  window.parent.postMessage({ kind: 'ready' }, '*');
})();
