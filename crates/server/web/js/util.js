// Small shared helpers: DOM building, money/date/countdown formatting, the screen-reader announcer.

/**
 * Build an element. Attributes starting with "on" become listeners; `text` sets textContent.
 * Never uses innerHTML so server strings can't inject markup.
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {...(Node|string|null|undefined|false|Array<any>)} children
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') el.textContent = v;
    else if (k === 'class') el.className = v;
    else if (k === 'style') setStyle(el, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c);
  }
}

// Styles go through the CSSOM, which a Content-Security-Policy without 'unsafe-inline' still allows.
function setStyle(el, props) {
  for (const [name, value] of Object.entries(props)) el.style.setProperty(name, String(value));
}

const SVG_NS = 'http://www.w3.org/2000/svg';
/** Like h() for SVG elements (attributes only, plus a `style` object). */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'style') setStyle(el, v);
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

const moneyFormats = new Map();
function moneyFormat(currency) {
  if (!moneyFormats.has(currency)) {
    moneyFormats.set(currency, new Intl.NumberFormat(undefined, { style: 'currency', currency }));
  }
  return moneyFormats.get(currency);
}

/** Minor units to a localized amount; honours currencies without cents (JPY) or with three digits. */
export function money(minor, currency) {
  try {
    const f = moneyFormat(currency);
    const digits = f.resolvedOptions().maximumFractionDigits;
    return f.format(minor / 10 ** digits);
  } catch {
    return `${(minor / 100).toFixed(2)} ${currency}`;
  }
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' });
const shortDate = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
export const longDate = (iso) => (iso ? dateFormat.format(new Date(iso)) : '');
export const mediumDate = (iso) => (iso ? shortDate.format(new Date(iso)) : '');
export const clockTime = (ms) => clock.format(new Date(ms));

/** Milliseconds to "mm:ss" (never negative). */
export function mmss(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const m = Math.floor(total / 60);
  const sec = total % 60;
  return `${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
}

export const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

/** Polite announcement for screen readers; re-setting the text makes repeated messages audible. */
export function announce(message) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  // A fresh task lets assistive tech notice the change even for identical text.
  setTimeout(() => {
    region.textContent = message;
  }, 30);
}

let flashedAt = 0;

/** Visible page-level notice (e.g. "your hold expired") that survives the next view change. */
export function flash(message, kind = 'info') {
  const box = document.getElementById('flash');
  if (!box) return;
  flashedAt = Date.now();
  box.replaceChildren(
    h('p', { class: `flash flash-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
      h('span', { text: message }),
      h('button', { type: 'button', class: 'flash-close', 'aria-label': 'Dismiss message', onclick: () => box.replaceChildren() }, '×'),
    ),
  );
}
/** Called on every view change: a notice outlives the navigation that caused it, then goes. */
export function viewChanged() {
  if (Date.now() - flashedAt > 1500) document.getElementById('flash')?.replaceChildren();
  flashedAt = 0;
}
