// Shared harness for the browser tests: starts the real server binary, launches Debian's Chromium, takes screenshots.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, readdir, rm } from 'node:fs/promises';
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '..', '..');
export const ARTIFACTS = path.join(HERE, 'artifacts');
const BIN = path.resolve(ROOT, process.env.BOXOFFICE_BIN || 'target/debug/boxoffice');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const LIVE_TIMEOUT = 5_000;
export const DECLINED_CARD = '4000000000000002';
export const GOOD_CARD = '4242424242424242';
// Chrome logs every non-2xx fetch as a console error; these statuses are expected answers in these flows,
// and the connection reset is the one the payment test injects on purpose.
const EXPECTED_HTTP_NOISE = /Failed to load resource: (the server responded with a status of (401|402|409)|net::ERR_CONNECTION_RESET)/;

export const THREE_D_SECURE_CARD = '4000002760003184';

export const tid = (id) => `[data-testid="${id}"]`;
/** The card number field: inside the payment provider's frame (its Payment Element), never the page itself. */
export const cardField = (page) => page.frameLocator(`${tid('payment-element')} iframe`).locator(tid('card-number'));
/** The provider's 3-D Secure challenge, opened by its script next to the card field. */
export const challengeFrame = (page) => page.frameLocator('iframe[name="__sandboxChallengeFrame"]');

/** A TCP port that is free now, so the payment sandbox can be told where the server's webhooks go. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Starts `boxoffice sandbox-psp` (Stripe's wire format and its Stripe.js stand-in); resolves with its base URL. */
export async function startPaymentSandbox(args = []) {
  const child = spawn(BIN, ['sandbox-psp', '--listen', '127.0.0.1:0', ...args], {
    cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const guard = () => { if (child.exitCode === null) child.kill('SIGKILL'); };
  process.once('exit', guard);
  let log = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sandbox-psp did not start within 30 s:\n${log}`)), 30_000);
    const read = (chunk) => {
      log += chunk.toString();
      const m = log.match(/sandbox-psp listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`sandbox-psp exited (${code}):\n${log}`)); });
  });
  return { url, stop: () => { process.off('exit', guard); if (child.exitCode === null) child.kill('SIGTERM'); } };
}

/**
 * The environment that makes the server take payments as in production, through the Stripe provider, with
 * the sandbox service standing in for Stripe and its stand-in for Stripe.js.
 */
export function stripeThroughSandbox(pspUrl) {
  return {
    BOXOFFICE_PAYMENT_PROVIDER: 'stripe',
    STRIPE_API_KEY: 'sk_test_browser_suite',
    STRIPE_PUBLISHABLE_KEY: 'pk_test_browser_suite',
    STRIPE_API_BASE: pspUrl,
    STRIPE_JS_URL: `${pspUrl}/v3/`,
    BOXOFFICE_WEBHOOK_SECRET: 'whsec_browser_suite',
  };
}
export const seatSel = (id) => `[data-testid="seat-map"] [data-seat-id="${id}"]`;

/** One server, its browsers and its screenshots; `prefix` keeps artifact names apart between test files. */
export class Harness {
  constructor(prefix = '') {
    this.prefix = prefix;
    this.server = null;
    this.serverLog = [];
    this.baseUrl = '';
    this.tmp = [];
    this.browsers = [];
    this.consoleErrors = [];
    this.allowedNoise = [];
    this.shotNo = 0;
  }

  /** Also accept console errors matching `pattern` (e.g. a status a test injects on purpose). */
  allowConsoleNoise(pattern) {
    this.allowedNoise.push(pattern);
  }

  /**
   * Start the server on a free port with a fresh SQLite database, taking payments through the Stripe
   * provider against a fresh `boxoffice sandbox-psp` (which sends it webhooks); resolves with its base URL.
   */
  async start(extraEnv = {}) {
    const port = await freePort();
    this.psp = await startPaymentSandbox([
      '--webhook-url', `http://127.0.0.1:${port}/api/v1/payments/webhook`,
      '--webhook-secret', 'whsec_browser_suite',
      ...(this.pspArgs || []),
    ]);
    return this.startServer({ BOXOFFICE_LISTEN: `127.0.0.1:${port}`, ...stripeThroughSandbox(this.psp.url), ...extraEnv });
  }

  /** Start the server alone with `extraEnv` (the caller chooses its payment provider). */
  async startServer(extraEnv = {}) {
    await mkdir(ARTIFACTS, { recursive: true });
    const own = new RegExp(`^${this.prefix}\\d\\d-.*\\.png$`);
    for (const f of await readdir(ARTIFACTS)) if (own.test(f)) await rm(path.join(ARTIFACTS, f), { force: true });

    assert.ok(existsSync(BIN), `server binary not found at ${BIN} (run cargo build, or set BOXOFFICE_BIN)`);
    const dir = await mkdtemp(path.join(tmpdir(), 'boxoffice-e2e-db-'));
    this.tmp.push(dir);
    const child = spawn(BIN, [], {
      cwd: ROOT,
      env: {
        ...process.env,
        BOXOFFICE_LISTEN: '127.0.0.1:0',
        DATABASE_URL: `sqlite://${dir}/bo.db`,
        BOXOFFICE_DEMO: 'true',
        NO_COLOR: '1',
        // The suite's whole crowd is this machine: lift the abuse limits (config::CROWD_FROM_ONE_ADDRESS).
        BOXOFFICE_LIMIT_SIGN_IN_PER_ADDRESS: 'off',
        BOXOFFICE_LIMIT_REGISTER_PER_ADDRESS: 'off',
        BOXOFFICE_LIMIT_HOLDS_PER_ADDRESS: 'off',
        BOXOFFICE_LIMIT_CHECKOUT_PER_ADDRESS: 'off',
        BOXOFFICE_LIMIT_SIGN_IN_PER_ACCOUNT: 'off',
        BOXOFFICE_LIMIT_HOLDS_PER_ACCOUNT: 'off',
        BOXOFFICE_MAX_SEATS_HELD_TOTAL: '1000000',
        BOXOFFICE_HOLD_COOLDOWN_SECS: '0',
        BOXOFFICE_MAX_HOLDS_PER_EVENT_PER_HOUR: '1000000',
        ...extraEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.server = child;
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    // If this test process dies before stop() runs, don't leave a server behind.
    const orphanGuard = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      for (const d of this.tmp) rmSync(d, { recursive: true, force: true });
    };
    process.once('exit', orphanGuard);
    this.exited.then(() => process.off('exit', orphanGuard));

    this.baseUrl = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not print "listening on" within 90 s:\n${this.log()}`)), 90_000);
      let buffered = '';
      child.stdout.on('data', (chunk) => {
        const text = chunk.toString();
        this.serverLog.push(text);
        buffered += text;
        // eslint-disable-next-line no-control-regex
        const m = buffered.replace(/\x1b\[[0-9;]*m/g, '').match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.stderr.on('data', (chunk) => this.serverLog.push(chunk.toString()));
      this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`server exited early (code ${code}, signal ${signal}):\n${this.log()}`));
      });
    });
    return this.baseUrl;
  }

  log() {
    return this.serverLog.join('').slice(-4000);
  }

  /** A separate browser (own profile directory), like a separate person's computer. */
  async browser(label, options = {}) {
    const dir = await mkdtemp(path.join(tmpdir(), `boxoffice-e2e-${label}-`));
    this.tmp.push(dir);
    const context = await chromium.launchPersistentContext(dir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
      viewport: { width: 1280, height: 900 },
      locale: 'en-IE',
      timezoneId: 'Europe/Dublin',
      ...options,
    });
    this.browsers.push(context);
    const page = context.pages()[0] || (await context.newPage());
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !EXPECTED_HTTP_NOISE.test(msg.text()) && !this.allowedNoise.some((p) => p.test(msg.text()))) this.consoleErrors.push(`[${label}] ${msg.text()}`);
    });
    page.on('pageerror', (err) => this.consoleErrors.push(`[${label}] uncaught: ${err.message}`));
    return page;
  }

  /** Numbered, readable screenshot name: artifacts/<prefix>NN-<name>.png. */
  file(name) {
    this.shotNo += 1;
    return path.join(ARTIFACTS, `${this.prefix}${String(this.shotNo).padStart(2, '0')}-${name}.png`);
  }

  async shot(page, name, { fullPage = true } = {}) {
    await page.screenshot({ path: this.file(name), fullPage, animations: 'disabled' });
  }

  /** Close the browsers, SIGTERM the server and insist that it exits. */
  async stop() {
    for (const context of this.browsers) await context.close().catch(() => {});
    let problem = null;
    if (this.server && this.server.exitCode === null && this.server.signalCode === null) {
      this.server.kill('SIGTERM');
      const outcome = await Promise.race([this.exited, new Promise((r) => setTimeout(() => r('timeout'), 15_000))]);
      if (outcome === 'timeout') {
        this.server.kill('SIGKILL');
        problem = `server did not exit within 15 s of SIGTERM\n${this.log()}`;
      } else if (outcome.code !== 0) {
        problem = `server exited with code ${outcome.code} (signal ${outcome.signal}) after SIGTERM\n${this.log()}`;
      }
    }
    this.psp?.stop();
    for (const dir of this.tmp) await rm(dir, { recursive: true, force: true }).catch(() => {});
    if (problem) assert.fail(problem);
  }
}

// ---------------------------------------------------------------- page helpers

export async function register(page, baseUrl, name, email, password) {
  await page.goto(`${baseUrl}/#/login`);
  await page.locator(tid('register-name')).fill(name);
  await page.locator(tid('register-email')).fill(email);
  await page.locator(tid('register-password')).fill(password);
  await page.locator(tid('register-submit')).click();
  await page.locator(tid('signed-in-user')).waitFor({ state: 'attached', timeout: 15_000 });
  assert.equal(await page.locator(tid('signed-in-user')).textContent(), name);
}

export async function openDemoEvent(page, baseUrl) {
  await page.goto(`${baseUrl}/#/`);
  const link = page.locator(tid('event-link')).first();
  await link.waitFor({ timeout: 10_000 });
  await link.click();
  await page.locator(`${tid('seat-map')} [data-seat-id]`).first().waitFor({ timeout: 10_000 });
  // The stream's snapshot has arrived once the live badge says so.
  await page.locator('.live-status[data-status="live"]').waitFor({ timeout: 10_000 });
}

export async function waitForStates(page, ids, expected, timeout = LIVE_TIMEOUT) {
  try {
    await page.waitForFunction(
      ({ ids, expected }) => ids.every((id) => document.querySelector(`[data-testid="seat-map"] [data-seat-id="${id}"]`)?.getAttribute('data-state') === expected),
      { ids, expected },
      { timeout, polling: 50 },
    );
  } catch {
    const actual = await page.evaluate((ids) => ids.map((id) => document.querySelector(`[data-seat-id="${id}"]`)?.getAttribute('data-state')), ids);
    assert.fail(`seats ${ids.join(', ')} expected "${expected}" within ${timeout} ms, got ${JSON.stringify(actual)}`);
  }
}

export async function assertNoHorizontalScroll(page) {
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth }));
  assert.ok(scrollWidth <= innerWidth, `no horizontal page scroll (${scrollWidth} > ${innerWidth})`);
}

/** Two adjacent available seats in the middle of a row (0 = front row), like a real couple would pick. */
export async function pickTwoSeats(page, rowIndex) {
  return page.evaluate((rowIndex) => {
    const rows = [...document.querySelectorAll('[data-testid="seat-map"] g[role="group"] > g[role="group"]')];
    const seats = [...rows[rowIndex].querySelectorAll('[data-seat-id]')];
    const mid = Math.floor(seats.length / 2);
    for (let i = mid; i < seats.length - 1; i++) {
      if (seats[i].dataset.state === 'available' && seats[i + 1].dataset.state === 'available') return [seats[i].dataset.seatId, seats[i + 1].dataset.seatId];
    }
    throw new Error('no two adjacent available seats');
  }, rowIndex);
}

export async function selectAndHold(page, ids) {
  for (const id of ids) await page.locator(seatSel(id)).click();
  await waitForStates(page, ids, 'mine', 2_000);
  await page.locator(tid('hold-button')).click();
  const dialog = page.locator(tid('payment-dialog'));
  await dialog.waitFor({ state: 'visible', timeout: 10_000 });
  return dialog;
}

// ---------------------------------------------------------------- accessibility

let axeSource = null;

/**
 * Run axe-core (WCAG 2.1 A/AA rules) on the current page and return its violations as short strings.
 * page.evaluate is not subject to the site's Content-Security-Policy, so the site needs no exception.
 */
export async function accessibilityViolations(page) {
  if (!axeSource) {
    const { createRequire } = await import('node:module');
    const { readFile } = await import('node:fs/promises');
    const require = createRequire(import.meta.url);
    axeSource = await readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
  }
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const result = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }, resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ') + (n.failureSummary ? ` — ${n.failureSummary.split('\n').slice(1).join(' ')}` : '')) }));
  });
  return violations.map((v) => `${v.impact} ${v.id}: ${v.help}\n    ${v.nodes.join('\n    ')}`);
}
