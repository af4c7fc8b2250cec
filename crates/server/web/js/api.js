// JSON client for the boxoffice API: same-origin session cookie, one error shape, server clock offset.

/** An API failure carrying the server's `{error: {code, message, details}}` or a network problem. */
export class ApiError extends Error {
  constructor(status, code, message, details = {}, retryAfter = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details || {};
    this.retryAfter = retryAfter;
  }
  /** True when the request may not have reached the server or the server was briefly unable to answer. */
  get transient() {
    return this.status === 0 || this.status === 502 || this.status === 503 || this.status === 504;
  }
}

const FALLBACK_MESSAGES = {
  0: "We can't reach the box office right now. Check your connection and try again.",
  401: 'Please sign in first.',
  403: "You don't have access to that.",
  404: "We couldn't find that. It may have been removed.",
  413: 'That request was too large.',
  429: 'Lots of people are buying right now. Please wait a moment and try again.',
  500: 'Something went wrong on our side. Please try again.',
  503: 'The box office is very busy. Please try again in a few seconds.',
};

// Countdowns compare the server's expires_at with the local clock, which may be minutes off.
let clockOffsetMs = 0;
/** Milliseconds to add to Date.now() to get the server's time (0 unless the skew is clearly real). */
export const serverNow = () => Date.now() + clockOffsetMs;

function learnClock(res) {
  const header = res.headers.get('Date');
  if (!header) return;
  const server = Date.parse(header);
  if (Number.isNaN(server)) return;
  const offset = server - Date.now();
  // The Date header has one-second resolution, so only trust it for larger skews.
  clockOffsetMs = Math.abs(offset) > 2000 ? offset : 0;
}

/**
 * Call `/api/v1{path}`. Resolves with the parsed body (null for 204), rejects with ApiError.
 * @param {string} path
 * @param {{method?: string, body?: unknown, headers?: Record<string,string>, signal?: AbortSignal, keepalive?: boolean}} [opts]
 */
export async function api(path, { method = 'GET', body, headers = {}, signal, keepalive } = {}) {
  let res;
  try {
    res = await fetch(`/api/v1${path}`, {
      method,
      credentials: 'same-origin',
      headers: { Accept: 'application/json', 'Content-Type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      keepalive,
      cache: 'no-store',
    });
  } catch (err) {
    if (err?.name === 'AbortError') throw err;
    throw new ApiError(0, 'network_error', FALLBACK_MESSAGES[0]);
  }
  learnClock(res);
  if (res.status === 204) return null;
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    const e = data && data.error;
    const retry = Number(res.headers.get('Retry-After'));
    throw new ApiError(
      res.status,
      e?.code || `http_${res.status}`,
      e?.message || FALLBACK_MESSAGES[res.status] || FALLBACK_MESSAGES[res.status >= 500 ? 500 : 0],
      e?.details,
      Number.isFinite(retry) && retry > 0 ? retry : null,
    );
  }
  return data;
}

/**
 * GET a body the server marks immutable (a content-addressed URL such as an event's layout_url):
 * unlike `api`, the browser's cache may answer, so a second visit costs no bytes at all.
 * @param {string} url an absolute path, e.g. `/api/v1/events/…/layout/…`
 */
export async function fetchImmutable(url) {
  let res;
  try {
    res = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  } catch {
    throw new ApiError(0, 'network_error', FALLBACK_MESSAGES[0]);
  }
  if (!res.ok) throw new ApiError(res.status, `http_${res.status}`, FALLBACK_MESSAGES[res.status] || FALLBACK_MESSAGES[500]);
  return res.json();
}

/** A v4 UUID; crypto.randomUUID only exists in secure contexts, a plain-http deployment still needs keys. */
export function newIdempotencyKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Release a hold even while the page is going away: keepalive lets the request outlive the document.
 * @param {string} holdId
 */
export function releaseHoldOnExit(holdId) {
  try {
    fetch(`/api/v1/holds/${encodeURIComponent(holdId)}`, {
      method: 'DELETE',
      keepalive: true,
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
    }).catch(() => {});
  } catch {
    // Nothing more can be done while unloading; the hold expires on its own.
  }
}

/** The field-level messages a 422 may carry, as plain "field: message" strings. */
export function detailMessages(details) {
  if (!details || typeof details !== 'object') return [];
  const source = details.fields && typeof details.fields === 'object' ? details.fields : details;
  const out = [];
  for (const [key, value] of Object.entries(source)) {
    const text = Array.isArray(value) ? value.filter((v) => typeof v === 'string').join(', ') : value;
    if (typeof text === 'string' && text && !/^[0-9a-f-]{8,}$/i.test(text)) {
      out.push(`${key.replace(/_/g, ' ')}: ${text}`);
    }
  }
  return out;
}
