// Stripe's own Node library checks our Stripe wire format both ways: webhook signatures made by its
// signer (stripe.webhooks.generateTestHeaderString) must pass our verifier and its tampered variants
// must not, and its API client, pointed at `boxoffice sandbox-psp`, must create, confirm, retrieve,
// cancel and refund intents without a parse error.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Stripe from 'stripe';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.resolve(ROOT, process.env.BOXOFFICE_BIN || 'target/debug/boxoffice');
const SECRET_KEY = 'sk_test_official_library';
const WEBHOOK_SECRET = 'whsec_official_library';

const children = [];
let dbDir;
let psp;
let app;
let stripe;

/** Starts the binary with `args` and resolves with the URL it prints after `marker`. */
function serve(args, env, marker) {
  const child = spawn(BIN, args, { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let log = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${marker}" within 60 s:\n${log}`)), 60_000);
    const read = (chunk) => {
      log += chunk.toString();
      // eslint-disable-next-line no-control-regex
      const m = log.replace(/\x1b\[[0-9;]*m/g, '').match(new RegExp(`${marker} (http://127\\.0\\.0\\.1:\\d+)`));
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.once('exit', (code) => reject(new Error(`exited with ${code}:\n${log}`)));
  });
}

before(async () => {
  psp = await serve(['sandbox-psp', '--listen', '127.0.0.1:0', '--settle-delay-ms', '100'], {}, 'sandbox-psp listening on');
  dbDir = await mkdtemp(path.join(tmpdir(), 'boxoffice-stripe-official-'));
  app = await serve([], {
    BOXOFFICE_LISTEN: '127.0.0.1:0',
    DATABASE_URL: `sqlite://${dbDir}/bo.db`,
    BOXOFFICE_PAYMENT_PROVIDER: 'stripe',
    STRIPE_API_KEY: SECRET_KEY,
    STRIPE_API_BASE: psp,
    BOXOFFICE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    BOXOFFICE_LIMIT_SIGN_IN_PER_ADDRESS: 'off',
    BOXOFFICE_LIMIT_REGISTER_PER_ADDRESS: 'off',
    BOXOFFICE_LIMIT_HOLDS_PER_ADDRESS: 'off',
    BOXOFFICE_LIMIT_CHECKOUT_PER_ADDRESS: 'off',
    BOXOFFICE_LIMIT_SIGN_IN_PER_ACCOUNT: 'off',
    BOXOFFICE_LIMIT_HOLDS_PER_ACCOUNT: 'off',
    BOXOFFICE_MAX_SEATS_HELD_TOTAL: '1000000',
    BOXOFFICE_HOLD_COOLDOWN_SECS: '0',
    BOXOFFICE_MAX_HOLDS_PER_EVENT_PER_HOUR: '1000000',
  }, 'listening on');
  const url = new URL(psp);
  stripe = new Stripe(SECRET_KEY, { host: url.hostname, port: Number(url.port), protocol: 'http', maxNetworkRetries: 0 });
});

after(async () => {
  for (const child of children) {
    if (child.exitCode === null) child.kill('SIGTERM');
  }
  if (dbDir) await rm(dbDir, { recursive: true, force: true });
});

// ------------------------------------------------------------------ webhooks

const event = (id) => JSON.stringify({
  id, object: 'event', type: 'payment_intent.succeeded',
  data: { object: { id: 'pi_unknown_to_us', object: 'payment_intent', status: 'succeeded' } },
});

async function deliver(payload, header) {
  const r = await fetch(`${app}/api/v1/payments/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': header },
    body: payload,
  });
  return { status: r.status, body: await r.text() };
}

test('a webhook signed by the official signer is accepted by our verifier', async () => {
  const payload = event('evt_official_ok');
  const header = stripe.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET });
  const r = await deliver(payload, header);
  assert.equal(r.status, 200, r.body);
});

test('the official signer\'s tampered cases are refused by our verifier', async () => {
  const payload = event('evt_official_tampered');
  const good = stripe.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET });
  const cases = {
    'a changed body': [payload.replace('succeeded', 'canceled'), good],
    'another secret': [payload, stripe.webhooks.generateTestHeaderString({ payload, secret: 'whsec_someone_else' })],
    'a timestamp outside the tolerance': [payload, stripe.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET, timestamp: Math.floor(Date.now() / 1000) - 3600 })],
    'another scheme only': [payload, good.replace('v1=', 'v0=')],
    'no signature at all': [payload, `t=${Math.floor(Date.now() / 1000)}`],
  };
  for (const [what, [body, header]] of Object.entries(cases)) {
    // The official library refuses each of these too: the two verifiers agree.
    assert.throws(() => stripe.webhooks.constructEvent(body, header, WEBHOOK_SECRET), `${what}: the library accepts it`);
    const r = await deliver(body, header);
    assert.equal(r.status, 400, `${what}: ${r.status} ${r.body}`);
  }
});

// ------------------------------------------------------------------ the API client against the sandbox

const create = (extra = {}) => stripe.paymentIntents.create({ amount: 2500, currency: 'eur', payment_method_types: ['card'], ...extra });

test('the official client creates, confirms, retrieves and refunds an intent', async () => {
  const created = await create({ metadata: { order: 'o-1' } });
  assert.equal(created.object, 'payment_intent');
  assert.equal(created.status, 'requires_payment_method');
  assert.match(created.client_secret, new RegExp(`^${created.id}_secret_`));
  const confirmed = await stripe.paymentIntents.confirm(created.id, { payment_method: 'pm_card_visa' });
  assert.equal(confirmed.status, 'succeeded');
  const retrieved = await stripe.paymentIntents.retrieve(created.id);
  assert.equal(retrieved.status, 'succeeded');
  assert.equal(retrieved.amount_received, 2500);
  assert.equal(retrieved.metadata.order, 'o-1');
  const refund = await stripe.refunds.create({ payment_intent: created.id, amount: 1000 });
  assert.equal(refund.object, 'refund');
  assert.equal(refund.status, 'succeeded');
  const again = await stripe.refunds.retrieve(refund.id);
  assert.equal(again.amount, 1000);
  assert.equal((await stripe.paymentIntents.retrieve(created.id)).amount_refunded, 1000);
});

test('the official client cancels an unconfirmed intent, which then cannot be confirmed', async () => {
  const created = await create();
  const canceled = await stripe.paymentIntents.cancel(created.id);
  assert.equal(canceled.status, 'canceled');
  await assert.rejects(stripe.paymentIntents.confirm(created.id, { payment_method: 'pm_card_visa' }), (e) => {
    assert.equal(e.type, 'StripeInvalidRequestError');
    assert.equal(e.code, 'payment_intent_unexpected_state');
    return true;
  });
});

test('declines and 3-D Secure come back in the shapes the official client reads', async () => {
  const declined = await create();
  await assert.rejects(stripe.paymentIntents.confirm(declined.id, { payment_method: 'pm_card_chargeDeclined' }), (e) => {
    assert.equal(e.type, 'StripeCardError');
    assert.equal(e.decline_code, 'generic_decline');
    assert.equal(e.payment_intent.status, 'requires_payment_method');
    return true;
  });
  const secure = await create();
  const waiting = await stripe.paymentIntents.confirm(secure.id, { payment_method: 'pm_card_authenticationRequired' });
  assert.equal(waiting.status, 'requires_action');
  assert.equal(waiting.next_action.type, 'use_stripe_sdk');
});

test('the sandbox is as strict as Stripe: raw card numbers, unknown test cards and amounts out of range are refused', async () => {
  const intent = await create();
  const refused = async (promise, code) => assert.rejects(promise, (e) => {
    assert.equal(e.type, 'StripeInvalidRequestError', e.message);
    assert.equal(e.code, code, e.message);
    return true;
  });
  await refused(stripe.paymentIntents.confirm(intent.id, { payment_method_data: { type: 'card', card: { number: '4242424242424242' } } }), 'raw_card_data_not_allowed');
  await refused(stripe.paymentIntents.confirm(intent.id, { payment_method: 'pm_card_inventedByUs' }), 'resource_missing');
  await refused(create({ amount: 100_000_000 }), 'amount_too_large');
  await refused(create({ amount: 49 }), 'amount_too_small');
});
