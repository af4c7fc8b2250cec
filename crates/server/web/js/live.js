// Live seat states for one event: Server-Sent Events plus version checks so stale or repeated changes are harmless.
// The compact form throughout: one character per seat (shared by every buyer, about 2 KB for a
// 2,000-seat hall), the buyer's own seats sent apart.
import { api } from './api.js';

/**
 * @typedef {{state: 'available'|'held'|'sold', version: number, mine: boolean|null}} SeatState
 * `mine` is null when the server did not say (stream changes are broadcast to everyone).
 */

/**
 * The seats of a compact snapshot, in `order` (the layout's seat ids as it lists them), or null
 * when the body does not fit that order. `A`–`Z` available, `a`–`z` held, `0`–`9` sold; the
 * character's place in its range is the version above `version_base`, unless `versions` names it.
 */
export function decodeCompact(body, order) {
  const states = body?.states;
  if (typeof states !== 'string' || states.length !== order.length) return null;
  const base = Number(body.version_base) || 0;
  const versions = body.versions || {};
  const seats = [];
  for (let i = 0; i < states.length; i += 1) {
    const c = states.charCodeAt(i);
    let state;
    let offset;
    if (c >= 65 && c <= 90) [state, offset] = ['available', c - 65];
    else if (c >= 97 && c <= 122) [state, offset] = ['held', c - 97];
    else if (c >= 48 && c <= 57) [state, offset] = ['sold', c - 48];
    else return null;
    const exact = versions[i];
    seats.push({ id: order[i], state, version: exact === undefined ? base + offset : Number(exact), mine: false });
  }
  return seats;
}

export class SeatFeed {
  /**
   * @param {string} eventId
   * @param {string[]} order the layout's seat ids, in the order the compact states follow
   * @param {boolean} signedIn whether to ask for the buyer's own seats
   * @param {{onReset: () => void, onChanges: (ids: string[]) => void, onStatus: (s: 'connecting'|'live'|'reconnecting') => void}} handlers
   */
  constructor(eventId, order, signedIn, handlers) {
    this.eventId = eventId;
    this.order = order;
    this.signedIn = signedIn;
    this.handlers = handlers;
    /** @type {Map<string, SeatState>} */
    this.seats = new Map();
    this.source = null;
    this.retryTimer = 0;
    this.failures = 0;
    this.stopped = false;
  }

  start() {
    this.handlers.onStatus('connecting');
    this.#open();
    // The stream's snapshot normally arrives first; this read paints the map sooner if the stream is slow.
    const path = `/events/${encodeURIComponent(this.eventId)}/seats`;
    api(`${path}?format=compact`)
      .then(async (body) => {
        if (this.stopped || !body) return;
        const seats = decodeCompact(body, this.order);
        if (!seats) return;
        this.#merge(seats, true);
        if (this.signedIn) {
          const mine = await api(`${path}/mine`);
          if (!this.stopped && mine) this.#markMine(mine.seats || []);
        }
      })
      .catch(() => {});
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.source?.close();
    this.source = null;
  }

  #open() {
    if (this.stopped) return;
    const es = new EventSource(`/api/v1/events/${encodeURIComponent(this.eventId)}/stream?format=compact`, { withCredentials: true });
    this.source = es;
    es.addEventListener('open', () => {
      this.failures = 0;
      this.handlers.onStatus('live');
    });
    es.addEventListener('snapshot', (e) => {
      const body = parse(e.data);
      const seats = body && (body.format === 'compact' ? decodeCompact(body, this.order) : body.seats || []);
      if (seats) this.#replace(seats);
      this.handlers.onStatus('live');
    });
    // Follows a compact snapshot, which marks nobody's seats: these are this buyer's.
    es.addEventListener('mine', (e) => {
      const body = parse(e.data);
      if (body) this.#markMine(body.seats || []);
    });
    es.addEventListener('seats', (e) => {
      const body = parse(e.data);
      if (body) this.#merge(body.changes || [], false);
    });
    // The instance is draining: go elsewhere now rather than wait for the connection to drop.
    es.addEventListener('reconnect', (e) => {
      const hint = Number(parse(e.data)?.retry_ms);
      const base = Number.isFinite(hint) && hint > 0 ? Math.min(hint, 30_000) : 1000;
      // Jitter so a drained instance's whole crowd doesn't land on the next one in the same instant.
      this.#reopen(base * (0.5 + Math.random()));
    });
    es.addEventListener('error', () => {
      if (this.stopped) return;
      this.handlers.onStatus('reconnecting');
      // CONNECTING means the browser retries by itself; CLOSED (e.g. a 503) needs our own backoff.
      if (es.readyState === EventSource.CLOSED) {
        this.failures += 1;
        const delay = Math.min(10_000, 500 * 2 ** Math.min(this.failures, 5)) * (0.5 + Math.random());
        this.#reopen(delay);
      }
    });
  }

  #reopen(delay) {
    this.source?.close();
    this.source = null;
    clearTimeout(this.retryTimer);
    if (!this.stopped) this.handlers.onStatus('reconnecting');
    this.retryTimer = setTimeout(() => this.#open(), delay);
  }

  #replace(list) {
    this.seats.clear();
    for (const seat of list) this.seats.set(seat.id, toState(seat));
    this.handlers.onReset();
  }

  /** The buyer's own seats, as of versions at least as new as what the map has. */
  #markMine(list) {
    const changed = [];
    for (const seat of list) {
      const known = this.seats.get(seat.id);
      if (known && seat.version < known.version) continue;
      this.seats.set(seat.id, { state: seat.state, version: Number(seat.version) || 0, mine: true });
      changed.push(seat.id);
    }
    if (changed.length) this.handlers.onChanges(changed);
  }

  #merge(list, fromRead) {
    const changed = [];
    for (const seat of list) {
      const known = this.seats.get(seat.id);
      if (known && !(seat.version > known.version)) continue;
      const next = toState(seat);
      // A full read knows "mine" for sure; a broadcast change may not say.
      if (!fromRead && next.mine === null && known && known.state === next.state) next.mine = known.mine;
      this.seats.set(seat.id, next);
      changed.push(seat.id);
    }
    if (changed.length) this.handlers.onChanges(changed);
  }
}

function toState(seat) {
  let mine = null;
  if (typeof seat.mine === 'boolean') mine = seat.mine;
  else if (seat.state !== 'held') mine = false;
  return { state: seat.state, version: Number(seat.version) || 0, mine };
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
