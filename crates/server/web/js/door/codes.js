// Ticket codes at the door: taking a code apart, and checking a BO2 code's Ed25519 signature with the
// event's public key through WebCrypto, so that a phone with no network still tells a genuine ticket from a forgery.

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** base64url without padding → bytes; null unless it is the one canonical spelling (as the server insists). */
export function fromBase64Url(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  const bytes = [];
  let bits = 0;
  let value = 0;
  for (const c of text) {
    value = ((value << 6) | ALPHABET.indexOf(c)) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((value >> bits) & 0xff);
    }
  }
  // Leftover bits must be zero: otherwise two spellings would decode to one signature.
  if (value & ((1 << bits) - 1)) return null;
  return new Uint8Array(bytes);
}

/**
 * What a code says about itself, not yet verified: `{format: 'BO2', ticketId, eventId, seatId, message, signature}`,
 * `{format: 'BO1', ticketId}` for the older codes only the server can check, or null for anything else.
 */
export function parseCode(raw) {
  const code = String(raw || '').trim();
  if (code.startsWith('BO1.')) {
    const parts = code.split('.');
    return parts.length === 3 && parts[1] ? { format: 'BO1', code, ticketId: parts[1] } : null;
  }
  if (!code.startsWith('BO2.')) return null;
  const last = code.lastIndexOf('.');
  const message = code.slice(0, last);
  const fields = message.slice(4);
  const first = fields.indexOf('.');
  const second = fields.indexOf('.', first + 1);
  if (first <= 0 || second <= first + 1 || second === fields.length - 1) return null;
  const signature = fromBase64Url(code.slice(last + 1));
  if (!signature || signature.length !== 64) return null;
  return {
    format: 'BO2',
    code,
    ticketId: fields.slice(0, first),
    eventId: fields.slice(first + 1, second),
    seatId: fields.slice(second + 1),
    message,
    signature,
  };
}

/** Whether this browser can check signatures itself (WebCrypto exists only on https or localhost). */
export const canVerifyOffline = () => Boolean(globalThis.crypto?.subtle);

/** The event's key as WebCrypto wants it, from the door-key endpoint's `public_key`. */
export async function importDoorKey(publicKey) {
  const raw = fromBase64Url(publicKey);
  if (!raw || raw.length !== 32) throw new Error('The door key is malformed.');
  return crypto.subtle.importKey('raw', raw, { name: 'Ed25519' }, false, ['verify']);
}

/**
 * Check a parsed BO2 code offline: 'valid', 'other_event' (a genuine-looking code of another event) or 'forged'.
 * @param {ReturnType<typeof parseCode>} parsed
 * @param {CryptoKey} key the event's public key
 * @param {string} eventId the event this door admits to
 */
export async function verifyOffline(parsed, key, eventId) {
  if (parsed.eventId !== eventId) return 'other_event';
  try {
    const ok = await crypto.subtle.verify({ name: 'Ed25519' }, key, parsed.signature, new TextEncoder().encode(parsed.message));
    return ok ? 'valid' : 'forged';
  } catch {
    return 'forged';
  }
}
