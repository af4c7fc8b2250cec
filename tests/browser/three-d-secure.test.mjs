// Paying with the card that needs 3-D Secure, through the Payment Element of the sandbox's Stripe.js
// stand-in, on each database backend the browser suite uses (SQLite, and PostgreSQL as the cluster
// does): the card is typed in the provider's frame, the bank's challenge opens, failing it keeps the
// seats held for another try, completing it pays and the tickets appear. The page's own requests never
// carry the card number.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  Harness, THREE_D_SECURE_CARD, tid, cardField, challengeFrame, pickTwoSeats, selectAndHold, register, openDemoEvent,
  accessibilityViolations,
} from './harness.mjs';

const PG_ADMIN = ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-qAtc'];

const backends = {
  sqlite: { env: () => ({}), drop: () => {} },
  postgres: {
    env: (name) => {
      execFileSync('psql', [...PG_ADMIN, `CREATE DATABASE ${name}`]);
      return { DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${name}` };
    },
    drop: (name) => execFileSync('psql', [...PG_ADMIN, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]),
  },
};

const cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

for (const [backend, { env, drop }] of Object.entries(backends)) {
  test(`a buyer on ${backend} passes 3-D Secure in the provider's frame and gets the tickets, after one failed try`, async () => {
    const h = new Harness(`3ds-${backend}-`);
    const db = `bo_test_${randomUUID().replaceAll('-', '')}`;
    cleanups.push(async () => { await h.stop(); drop(db); });
    await h.start(env(db));
    const page = await h.browser(`buyer-${backend}`);
    const bodies = [];
    page.on('request', (r) => { if (r.url().startsWith(h.baseUrl) && r.postData()) bodies.push(r.postData()); });
    await register(page, h.baseUrl, 'Sam Secure', `sam-${backend}-${Date.now().toString(36)}@example.com`, 'three d secure please');
    await openDemoEvent(page, h.baseUrl);
    const seats = await pickTwoSeats(page, 2);
    await selectAndHold(page, seats);

    await cardField(page).fill(THREE_D_SECURE_CARD);
    await h.shot(page, 'card-in-the-providers-frame');
    await page.locator(tid('proceed')).click();
    const challenge = challengeFrame(page);
    await challenge.locator(tid('3ds-fail')).waitFor({ timeout: 15_000 });
    await h.shot(page, 'bank-challenge');
    const violations = await accessibilityViolations(page);
    assert.deepEqual(violations, [], violations.join('\n'));
    await challenge.locator(tid('3ds-fail')).click();
    await page.locator(tid('pay-message')).filter({ hasText: 'Your bank could not confirm it is you.' }).waitFor({ timeout: 10_000 });
    await h.shot(page, 'authentication-failed');
    assert.equal(await page.locator(tid('proceed')).isEnabled(), true, 'another try is possible');

    await page.locator(tid('proceed')).click();
    await challenge.locator(tid('3ds-complete')).click({ timeout: 15_000 });
    await page.locator(tid('payment-dialog')).waitFor({ state: 'detached', timeout: 20_000 });
    await page.locator(tid('order-confirmation')).waitFor({ timeout: 10_000 }).catch(() => {});
    await h.shot(page, 'paid');
    const { orders } = await page.evaluate(async () => (await fetch('/api/v1/orders')).json());
    assert.equal(orders.length, 1, 'one order');
    assert.equal(orders[0].tickets.length, 2);
    for (const body of bodies) assert.ok(!body.includes(THREE_D_SECURE_CARD), `the card number reached our server: ${body}`);
    assert.deepEqual(h.consoleErrors, []);
  });
}
