// Browser test of the cacheable map: the first visit fetches the layout from its content-addressed URL and the
// compact seat states; a second visit in the same browser gets the layout (and the hashed scripts) from the
// browser's cache, with no bytes from the server, and the map still draws every seat with its live state.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, tid, register, openDemoEvent, pickTwoSeats, selectAndHold, waitForStates, seatSel } from './harness.mjs';

const h = new Harness('map-cache-');
let page;
let other;

before(async () => {
  await h.start();
  page = await h.browser('map-cache-A');
  other = await h.browser('map-cache-B');
});

after(() => h.stop());

/** Every request of `page` as Chromium's network stack saw it: url, status, served from cache, bytes on the wire. */
async function watchNetwork(target) {
  const cdp = await target.context().newCDPSession(target);
  await cdp.send('Network.enable');
  const byId = new Map();
  const entry = (id) => byId.get(id) || byId.set(id, { url: '', status: 0, fromCache: false, bytes: 0 }).get(id);
  cdp.on('Network.requestWillBeSent', (e) => { entry(e.requestId).url = e.request.url; });
  cdp.on('Network.requestServedFromCache', (e) => { entry(e.requestId).fromCache = true; });
  cdp.on('Network.responseReceived', (e) => {
    const x = entry(e.requestId);
    x.status = e.response.status;
    if (e.response.fromDiskCache || e.response.fromPrefetchCache) x.fromCache = true;
  });
  cdp.on('Network.loadingFinished', (e) => { entry(e.requestId).bytes = e.encodedDataLength; });
  return { all: () => [...byId.values()], stop: () => cdp.detach().catch(() => {}) };
}

const layoutRequests = (net) => net.all().filter((r) => /\/api\/v1\/events\/[^/]+\/layout\/[0-9a-f]+$/.test(r.url));

test('the second visit loads the layout from the browser cache and the map still draws live', async () => {
  const stamp = Date.now().toString(36);
  await register(page, h.baseUrl, 'Cora Cache', `cora-${stamp}@example.com`, 'cached maps are quick');

  const first = await watchNetwork(page);
  await openDemoEvent(page, h.baseUrl);
  assert.equal(await page.locator(`${tid('seat-map')} [data-seat-id]`).count(), 512);
  const firstLayout = layoutRequests(first);
  assert.equal(firstLayout.length, 1, JSON.stringify(first.all(), null, 1));
  assert.equal(firstLayout[0].status, 200);
  assert.equal(firstLayout[0].fromCache, false, 'the first visit fetches it');
  assert.ok(firstLayout[0].bytes > 1000 && firstLayout[0].bytes < 40_000, `layout on the wire: ${firstLayout[0].bytes} bytes`);
  const urls = first.all().map((r) => r.url);
  assert.ok(urls.some((u) => u.endsWith('?layout=url')), 'the event without its inline layout');
  assert.ok(urls.some((u) => u.endsWith('/seats?format=compact')), 'the compact seat states');
  assert.ok(urls.some((u) => u.endsWith('/stream?format=compact')), 'the compact stream');
  await first.stop();

  // Someone else holds two seats meanwhile: the second visit must show them from the compact states.
  await register(other, h.baseUrl, 'Olly Other', `olly-${stamp}@example.com`, 'another browser here');
  await openDemoEvent(other, h.baseUrl);
  const taken = await pickTwoSeats(other, 3);
  await selectAndHold(other, taken);

  // A second visit: a new tab of the same browser.
  const again = await page.context().newPage();
  const second = await watchNetwork(again);
  await openDemoEvent(again, h.baseUrl);
  const secondLayout = layoutRequests(second);
  assert.equal(secondLayout.length, 1, JSON.stringify(second.all(), null, 1));
  assert.equal(secondLayout[0].fromCache, true, `the layout comes from the cache: ${JSON.stringify(secondLayout[0])}`);
  assert.equal(secondLayout[0].bytes, 0, 'no layout bytes from the server');
  const scripts = second.all().filter((r) => r.url.endsWith('.js'));
  assert.ok(scripts.some((r) => /\/assets\/js\/app\.[0-9a-f]{20}\.js$/.test(r.url)), `hashed scripts: ${JSON.stringify(scripts)}`);
  assert.ok(scripts.every((r) => /\/assets\/js\/[a-z-]+\.[0-9a-f]{20}\.js$/.test(r.url) && r.fromCache), `every script hashed and from the cache: ${JSON.stringify(scripts)}`);
  assert.equal(await again.locator(`${tid('seat-map')} [data-seat-id]`).count(), 512);
  await waitForStates(again, taken, 'held');
  assert.match(await again.locator(seatSel(taken[0])).getAttribute('aria-label'), /held by another buyer/);
  assert.match(await again.locator('.legend').textContent(), /Premium/);
  await h.shot(again, 'second-visit-held-by-other');

  // And it stays live: the other buyer cancels, the seats come back.
  await other.locator(tid('cancel')).click();
  await waitForStates(again, taken, 'available');
  await waitForStates(page, taken, 'available');
  await h.shot(again, 'second-visit-released');
  await second.stop();
  assert.deepEqual(h.consoleErrors, []);
});
