// Live seat states for one event: Server-Sent Events plus version checks so stale or repeated changes are harmless.
import { api } from './api.js';

/**
 * @typedef {{state: 'available'|'held'|'sold', version: number, mine: boolean|null}} SeatState
 * `mine` is null when the server did not say (stream changes are broadcast to everyone).
 */

export class SeatFeed {
  /**
   * @param {string} eventId
   * @param {{onReset: () => void, onChanges: (ids: string[]) => void, onStatus: (s: 'connecting'|'live'|'reconnecting') => void}} handlers
   */
  constructor(eventId, handlers) {
    this.eventId = eventId;
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
    api(`/events/${encodeURIComponent(this.eventId)}/seats`)
      .then((body) => {
        if (!this.stopped && body) this.#merge(body.seats || [], true);
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
    const es = new EventSource(`/api/v1/events/${encodeURIComponent(this.eventId)}/stream`, { withCredentials: true });
    this.source = es;
    es.addEventListener('open', () => {
      this.failures = 0;
      this.handlers.onStatus('live');
    });
    es.addEventListener('snapshot', (e) => {
      const body = parse(e.data);
      if (body) this.#replace(body.seats || []);
      this.handlers.onStatus('live');
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
