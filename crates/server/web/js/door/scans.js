// What this device remembers at the door, in localStorage so that a reload or a flat battery loses nothing:
// the chosen event and gate, each event's public key, the tickets it has let in (so a second scan is amber even
// with no network), and the scans made offline, waiting to be sent to the server in one batch.
import { api } from '../api.js';

const PREFIX = 'boxoffice.door.';
/** The server's limit per batch. */
const BATCH = 500;

function read(name, fallback) {
  try {
    const raw = localStorage.getItem(PREFIX + name);
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

function write(name, value) {
  try {
    localStorage.setItem(PREFIX + name, JSON.stringify(value));
  } catch {
    // Storage full or disabled: the door still works for this session, from memory.
  }
}

const memory = new Map();
function cached(name, fallback) {
  if (!memory.has(name)) memory.set(name, read(name, fallback));
  return memory.get(name);
}
function store(name, value) {
  memory.set(name, value);
  write(name, value);
}

/** `{eventId, gate}` as last chosen on this device. */
export const prefs = () => cached('prefs', { eventId: '', gate: 'main' });
export const savePrefs = (value) => store('prefs', value);

/** The event's door key as the server gave it (`{public_key, algorithm}`), kept for the day the network goes. */
export const savedKey = (eventId) => cached(`key.${eventId}`, null);
export const saveKey = (eventId, key) => store(`key.${eventId}`, { public_key: key.public_key, algorithm: key.algorithm });

/** When and where this device let the ticket in, or null. */
export const entryOf = (eventId, ticketId) => cached(`seen.${eventId}`, {})[ticketId] || null;

export function rememberEntry(eventId, ticketId, at, gate) {
  const seen = { ...cached(`seen.${eventId}`, {}) };
  if (!seen[ticketId]) seen[ticketId] = { at, gate };
  store(`seen.${eventId}`, seen);
}

/** Scans made offline and not yet settled by the server, oldest first. */
export const pendingScans = () => cached('pending', []);

/** Keep a scan made offline: `{code, gate, scanned_at, event_id, seat_id}`. */
export function queueScan(scan) {
  store('pending', [...pendingScans(), scan]);
}

let sending = null;

/**
 * Send the waiting scans in batches. Resolves with `[{scan, result}]` for what the server settled (empty when
 * nothing waited); rejects, keeping the scans, when the server cannot be reached.
 */
export function sendPending() {
  if (!sending) {
    sending = (async () => {
      const settled = [];
      while (pendingScans().length) {
        const batch = pendingScans().slice(0, BATCH);
        const body = { scans: batch.map(({ code, gate, scanned_at }) => ({ code, gate, scanned_at })) };
        let results;
        try {
          ({ results } = await api('/checkin/batch', { method: 'POST', body }));
        } catch (err) {
          // A scan the server refuses outright would block every later one: drop that one alone.
          if (err.status === 422 && Number.isInteger(err.details?.index)) {
            store('pending', pendingScans().filter((s) => s !== batch[err.details.index]));
            continue;
          }
          throw err;
        }
        for (const r of results) settled.push({ scan: batch[r.index], result: r });
        // Scans made while this batch was on its way stay queued for the next.
        store('pending', pendingScans().filter((s) => !batch.includes(s)));
      }
      return settled;
    })().finally(() => {
      sending = null;
    });
  }
  return sending;
}
