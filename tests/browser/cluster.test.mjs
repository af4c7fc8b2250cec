// Two browsers through HAProxy, each pinned by HAProxy's cookie to a different instance of a
// two-instance cluster on one PostgreSQL database and one Redis: what one buyer does on instance 1
// shows up live on instance 2, and when instance 2 drains, its buyer lands on instance 1 and resyncs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import {
  Harness, ROOT, GOOD_CARD, tid, seatSel, waitForStates, pickTwoSeats, selectAndHold, register, openDemoEvent,
  cardField, startPaymentSandbox, stripeThroughSandbox,
} from './harness.mjs';

const PG_ADMIN = ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-qAtc'];
const REDIS_URL = process.env.BOXOFFICE_TEST_REDIS_URL || 'redis://127.0.0.1:6379';

/** A port nobody listens on right now (HAProxy needs one before it starts). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** The cluster: instances are Harness servers sharing one database; HAProxy runs in front of them. */
class Cluster {
  constructor() {
    this.db = `bo_test_${randomUUID().replaceAll('-', '')}`;
    this.instances = [new Harness('cluster-'), new Harness('cluster-')];
    this.screens = this.instances[0];
    this.haproxy = null;
    this.haproxyLog = [];
    this.baseUrl = '';
    this.statsUrl = '';
  }

  async start() {
    execFileSync('psql', [...PG_ADMIN, `CREATE DATABASE ${this.db}`]);
    const env = {
      DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${this.db}`,
      REDIS_URL,
      // Long enough for HAProxy's 1 s health check to take a draining instance out of rotation.
      BOXOFFICE_DRAIN_DELAY_MS: '2500',
      BOXOFFICE_PAYMENT_RECONCILE_INTERVAL_MS: '300',
    };
    // One payment sandbox for the whole cluster, as one Stripe account serves every instance; without
    // webhooks (an instance's port is not known before it starts), the instances' reconcilers settle.
    this.psp = await startPaymentSandbox();
    Object.assign(env, stripeThroughSandbox(this.psp.url));
    this.addresses = await Promise.all(this.instances.map((h) => h.startServer(env)));

    const [port, statsPort] = [await freePort(), await freePort()];
    const servers = this.addresses
      .map((url, i) => `    server app${i + 1} ${url.replace('http://', '')} cookie app${i + 1}\n`)
      .join('');
    let inserted = false;
    const config = (await readFile(path.join(ROOT, 'deploy/haproxy/haproxy.cfg'), 'utf8'))
      .split('\n')
      .flatMap((line) => {
        if (line.startsWith('    server app')) {
          if (inserted) return [];
          inserted = true;
          return [servers.trimEnd()];
        }
        if (line.startsWith('    bind 127.0.0.1:8080')) return [`    bind 127.0.0.1:${port}`];
        if (line.startsWith('    bind 127.0.0.1:8404')) return [`    bind 127.0.0.1:${statsPort}`];
        return [line];
      })
      .join('\n');
    this.configPath = path.join(this.instances[0].tmp[0], 'haproxy.cfg');
    await writeFile(this.configPath, config);
    this.haproxy = spawn('haproxy', ['-db', '-f', this.configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.haproxy.stdout.on('data', (c) => this.haproxyLog.push(c.toString()));
    this.haproxy.stderr.on('data', (c) => this.haproxyLog.push(c.toString()));
    process.once('exit', () => this.haproxy?.kill('SIGKILL'));
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.statsUrl = `http://127.0.0.1:${statsPort}/;csv`;
    await this.waitForServers({ app1: 'UP', app2: 'UP' });
    return this.baseUrl;
  }

  /** HAProxy's view of each server (UP, DOWN, …), from its statistics page. */
  async serverStates() {
    const csv = await (await fetch(this.statsUrl)).text();
    const states = {};
    for (const row of csv.split('\n')) {
      const cols = row.split(',');
      if (cols[0] === 'instances' && cols[1].startsWith('app')) states[cols[1]] = cols[17];
    }
    return states;
  }

  async waitForServers(expected, timeout = 15_000) {
    const deadline = Date.now() + timeout;
    let states = {};
    while (Date.now() < deadline) {
      states = await this.serverStates().catch(() => ({}));
      if (Object.entries(expected).every(([name, s]) => (states[name] || '').startsWith(s))) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.fail(`HAProxy did not see ${JSON.stringify(expected)} within ${timeout} ms: ${JSON.stringify(states)}\n${this.haproxyLog.join('').slice(-2000)}`);
  }

  /** Open live streams on one instance, read from its own /metrics (not through HAProxy). */
  async openStreams(index) {
    const text = await (await fetch(`${this.addresses[index]}/metrics`)).text();
    const m = text.match(/^boxoffice_open_streams (\d+)/m);
    return m ? Number(m[1]) : 0;
  }

  async stop() {
    let problem = null;
    for (const h of this.instances) {
      try {
        await h.stop();
      } catch (e) {
        problem ??= e;
      }
    }
    this.psp?.stop();
    if (this.haproxy && this.haproxy.exitCode === null) {
      this.haproxy.kill('SIGTERM');
      await new Promise((r) => { this.haproxy.once('exit', r); setTimeout(r, 5_000); });
    }
    try {
      execFileSync('psql', [...PG_ADMIN, `DROP DATABASE IF EXISTS ${this.db} WITH (FORCE)`]);
    } catch {
      // scripts/test drops leftover bo_test_ databases.
    }
    if (problem) throw problem;
  }
}

const cluster = new Cluster();
const state = {};
const stamp = Date.now().toString(36);
const shot = (page, name) => cluster.screens.shot(page, name);

/** A browser whose requests HAProxy sends to one instance, as its cookie would after a first visit. */
async function pinnedBrowser(label, server) {
  const page = await cluster.screens.browser(label);
  await page.context().addCookies([{ name: 'BOXOFFICE_INSTANCE', value: server, url: cluster.baseUrl }]);
  return page;
}

async function eventually(what, check, timeout = 5_000) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last === true) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${what} (last: ${JSON.stringify(last)})`);
}

before(async () => {
  await cluster.start();
  state.pageA = await pinnedBrowser('A', 'app1');
  state.pageB = await pinnedBrowser('B', 'app2');
});

after(() => cluster.stop());

test('two buyers pinned to different instances see each other live through HAProxy', async () => {
  const { pageA, pageB } = state;
  await register(pageA, cluster.baseUrl, 'Ada Cluster', `ada-${stamp}@example.com`, 'correct horse battery');
  await register(pageB, cluster.baseUrl, 'Ben Cluster', `ben-${stamp}@example.com`, 'battery staple horse');
  await cluster.waitForServers({ app1: 'UP', app2: 'UP' });
  await openDemoEvent(pageA, cluster.baseUrl);
  await openDemoEvent(pageB, cluster.baseUrl);
  // Each instance holds exactly one of the two live maps: the browsers really are on different
  // instances. One health check missed on a busy machine takes an instance out of rotation for two
  // seconds (fall 1, rise 2), and HAProxy redispatches a pinned browser's new stream to the other
  // instance, where it stays: then, once both are back up, the misplaced browser opens its map
  // again.
  await eventually('one open stream on each instance', async () => {
    const counts = [await cluster.openStreams(0), await cluster.openStreams(1)];
    if (counts[0] === 1 && counts[1] === 1) return true;
    // HAProxy also rewrote the misplaced browser's cookie to the instance it was sent to: pin it
    // back first.
    const [misplaced, server] =
      counts[1] === 0 && counts[0] >= 2 ? [pageB, 'app2'] : counts[0] === 0 && counts[1] >= 2 ? [pageA, 'app1'] : [];
    if (misplaced) {
      await cluster.waitForServers({ app1: 'UP', app2: 'UP' });
      await misplaced.context().addCookies([{ name: 'BOXOFFICE_INSTANCE', value: server, url: cluster.baseUrl }]);
      await openDemoEvent(misplaced, cluster.baseUrl);
    }
    return counts;
    // The misplaced browser's old stream counts until its instance writes the next keep-alive
    // (15 s) and finds it closed.
  }, 45_000);

  const ids = await pickTwoSeats(pageA, 4);
  const dialog = await selectAndHold(pageA, ids);
  await waitForStates(pageB, ids, 'held');
  await shot(pageB, 'B-on-app2-sees-hold-from-app1');

  await pageA.locator(tid('cancel')).click();
  await dialog.waitFor({ state: 'detached' });
  await waitForStates(pageB, ids, 'available');
  // A's own map must show the release too before A clicks the seats again (a click on a seat
  // still shown as selected would unselect it).
  await waitForStates(pageA, ids, 'available');

  await selectAndHold(pageA, ids);
  await waitForStates(pageB, ids, 'held');
  await cardField(pageA).fill(GOOD_CARD);
  await pageA.locator(tid('proceed')).click();
  await pageA.locator(tid('confirmation')).waitFor({ timeout: 15_000 });
  await waitForStates(pageB, ids, 'sold');
  await shot(pageB, 'B-on-app2-sees-sale-on-app1');
  await openDemoEvent(pageA, cluster.baseUrl);

  // And the other way round.
  const [mine] = await pickTwoSeats(pageB, 7);
  await selectAndHold(pageB, [mine]);
  await waitForStates(pageA, [mine], 'held');
  await pageB.locator(tid('cancel')).click();
  await waitForStates(pageA, [mine], 'available');
  state.sold = ids;
});

test("when B's instance drains, B's map moves to the other instance and misses nothing", async () => {
  const { pageA, pageB } = state;
  const draining = cluster.instances[1];
  draining.server.kill('SIGTERM');
  await cluster.waitForServers({ app2: 'DOWN' }, 10_000);
  // The drained instance tells its stream to reconnect; HAProxy sends the reconnect to app1.
  await eventually('both live maps served by instance 1', async () => {
    const n = await cluster.openStreams(0);
    return n === 2 ? true : n;
  }, 15_000);
  await pageB.locator('.live-status[data-status="live"]').waitFor({ timeout: 10_000 });

  const ids = await pickTwoSeats(pageA, 10);
  await selectAndHold(pageA, ids);
  await waitForStates(pageB, ids, 'held');
  await waitForStates(pageB, state.sold, 'sold', 1_000);
  await shot(pageB, 'B-after-drain-sees-hold');
  const outcome = await Promise.race([draining.exited, new Promise((r) => setTimeout(() => r('timeout'), 15_000))]);
  assert.deepEqual(outcome, { code: 0, signal: null }, 'the drained instance exits cleanly');
});
