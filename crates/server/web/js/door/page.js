// #/door: the phone page door staff scan tickets with. Online, every scan asks the server; when the network is
// gone, the code's signature is checked here with the event's public key, a second scan on this phone is amber,
// and the scans wait on the phone until they can be sent in one batch for the server to settle.
import { api } from '../api.js';
import { h, clockTime, plural, announce } from '../util.js';
import { seatNames } from '../seatmap.js';
import { parseCode, importDoorKey, verifyOffline, canVerifyOffline } from './codes.js';
import { prefs, savePrefs, savedKey, saveKey, entryOf, rememberEntry, pendingScans, queueScan, sendPending } from './scans.js';
import { cameraScanning, startCamera } from './camera.js';
import { useDoorStyles } from './style.js';

const DOOR_ROLES = ['staff', 'admin'];
const GATE = /^[\p{L}\p{N} _.#-]{1,40}$/u;

export function doorPage(main, params, app) {
  app.setTitle('Door');
  useDoorStyles();
  const user = app.session.user;
  if (!user || !DOOR_ROLES.includes(user.role)) {
    main.replaceChildren(notForYou(user));
    app.ready();
    return null;
  }
  return new Door(main, app).cleanup;
}

function notForYou(user) {
  return h('section', { class: 'card door-away', 'data-testid': 'door-not-for-you' },
    h('h1', { tabindex: '-1', text: 'This page is for door staff' }),
    user
      ? h('p', { text: 'Checking tickets in at the door is for the venue’s staff. If you work the door tonight, ask the organiser to give your account the staff role.' })
      : h('p', {}, 'Door staff: ', h('a', { href: '#/login?next=%23%2Fdoor', text: 'sign in' }), ' with your staff account to check tickets in.'),
    h('p', {}, h('a', { href: '#/', text: 'See all events' })),
  );
}

/** The nodes among `children` (replaceChildren would print a null as "null"). */
const present = (...children) => children.filter(Boolean);

class Door {
  constructor(main, app) {
    this.main = main;
    this.app = app;
    this.key = null;
    this.labels = new Map();
    this.counts = null;
    this.online = navigator.onLine;
    this.timers = [];
    this.stopCamera = null;
    this.gone = false;
    this.render();
    const onOnline = () => this.wentOnline();
    const onOffline = () => this.setOnline(false);
    window.addEventListener('online', onOnline);
    window.addEventListener('offline', onOffline);
    this.timers.push(setInterval(() => this.tick(), 5000));
    this.cleanup = () => {
      this.gone = true;
      window.removeEventListener('online', onOnline);
      window.removeEventListener('offline', onOffline);
      this.timers.forEach(clearInterval);
      this.stopCamera?.();
    };
    this.loadEvents();
  }

  render() {
    const { gate } = prefs();
    this.eventSelect = h('select', { id: 'door-event', 'data-testid': 'door-event', onchange: () => this.chooseEvent(this.eventSelect.value) },
      h('option', { value: '', text: 'Loading events…' }));
    this.gateInput = h('input', { id: 'door-gate', type: 'text', value: gate, autocomplete: 'off', maxlength: '40', 'data-testid': 'door-gate', onchange: () => this.chooseGate() });
    this.network = h('span', { class: 'door-net', 'data-testid': 'door-network' });
    this.offlineReady = h('span', { class: 'muted', 'data-testid': 'door-offline-ready' });
    this.pending = h('span', { 'data-testid': 'door-pending' });
    this.sendButton = h('button', { type: 'button', class: 'btn secondary small', hidden: true, 'data-testid': 'door-send', onclick: () => this.sync(true) }, 'Send now');
    this.result = h('div', { class: 'door-result', 'data-testid': 'door-result', 'data-result': 'idle', role: 'status', 'aria-live': 'assertive', 'aria-atomic': 'true' },
      h('p', { class: 'door-verdict', text: 'Ready to scan' }),
      h('p', { class: 'door-detail', text: 'Point the camera at a ticket, or type its code.' }));
    this.codeInput = h('input', { id: 'door-code', type: 'text', autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false', enterkeyhint: 'go', placeholder: 'Ticket code', 'data-testid': 'door-code' });
    const manual = h('form', { class: 'door-manual', onsubmit: (e) => { e.preventDefault(); this.checkTyped(); } },
      h('div', { class: 'field' }, h('label', { for: 'door-code', text: 'Ticket code' }), this.codeInput),
      h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'door-check' }, 'Check'));
    this.video = h('video', { hidden: true, 'aria-label': 'Camera view' });
    this.cameraButton = h('button', { type: 'button', class: 'btn secondary wide', 'data-testid': 'door-camera', onclick: () => this.toggleCamera() }, 'Scan with the camera');
    const camera = cameraScanning()
      ? h('div', { class: 'door-camera' }, this.cameraButton, this.video)
      : h('p', { class: 'hint door-camera', text: 'This browser cannot read QR codes from the camera: type or paste the code instead.' });
    this.countsBox = h('section', { class: 'card door-counts', 'data-testid': 'door-counts', 'aria-labelledby': 'door-counts-title' });
    this.syncBox = h('section', { class: 'card door-sync', 'data-testid': 'door-sync', hidden: true, 'aria-labelledby': 'door-sync-title' });
    this.main.replaceChildren(h('div', { class: 'door' },
      h('h1', { tabindex: '-1', text: 'Door' }),
      h('div', { class: 'card door-setup' },
        h('div', { class: 'field' }, h('label', { for: 'door-event', text: 'Event' }), this.eventSelect),
        h('div', { class: 'field' }, h('label', { for: 'door-gate', text: 'Gate' }), this.gateInput)),
      h('p', { class: 'door-status' }, this.network, this.offlineReady, this.pending, this.sendButton),
      this.result, manual, camera, this.countsBox, this.syncBox));
    this.setOnline(this.online);
    this.showPending();
    this.showCounts();
  }

  get eventId() {
    return this.eventSelect.value;
  }

  get gate() {
    return prefs().gate || 'main';
  }

  async loadEvents() {
    let events = [];
    try {
      ({ events } = await api('/events'));
    } catch (err) {
      if (err.transient) this.setOnline(false);
    }
    if (this.gone) return;
    const chosen = prefs().eventId;
    // Offline at the start, the event chosen before still works: its key is on this phone.
    if (chosen && !events.some((e) => e.id === chosen)) events.push({ id: chosen, name: 'The event chosen before' });
    this.eventSelect.replaceChildren(...(events.length ? [] : [h('option', { value: '', text: 'No events' })]),
      ...events.map((e) => h('option', { value: e.id, text: e.name })));
    const pick = events.find((e) => e.id === chosen) || events[0];
    if (pick) {
      this.eventSelect.value = pick.id;
      await this.chooseEvent(pick.id);
    }
    this.app.ready();
  }

  async chooseEvent(eventId) {
    savePrefs({ ...prefs(), eventId });
    this.key = null;
    this.labels = new Map();
    this.counts = null;
    const saved = savedKey(eventId);
    if (saved && canVerifyOffline()) this.key = await importDoorKey(saved.public_key).catch(() => null);
    this.showKey();
    try {
      const key = await api(`/events/${encodeURIComponent(eventId)}/door-key`);
      saveKey(eventId, key);
      if (canVerifyOffline()) this.key = await importDoorKey(key.public_key);
      this.setOnline(true);
    } catch (err) {
      if (err.transient) this.setOnline(false);
    }
    this.showKey();
    api(`/events/${encodeURIComponent(eventId)}?layout=inline`).then(({ event }) => {
      if (eventId === this.eventId) this.labels = seatNames(event.layout);
    }, () => {});
    await this.refreshCounts();
  }

  chooseGate() {
    const gate = this.gateInput.value.trim();
    if (!GATE.test(gate)) {
      this.gateInput.setAttribute('aria-invalid', 'true');
      this.show('invalid', 'Gate name not accepted', 'Use 1 to 40 letters, digits, spaces or - _ . #');
      return;
    }
    this.gateInput.removeAttribute('aria-invalid');
    this.gateInput.value = gate;
    savePrefs({ ...prefs(), gate });
  }

  // ---------------------------------------------------------------- scanning

  checkTyped() {
    const code = this.codeInput.value.trim();
    this.codeInput.value = '';
    this.codeInput.focus();
    if (code) this.check(code);
  }

  async check(code) {
    const eventId = this.eventId;
    if (!eventId) return this.show('invalid', 'Pick the event first');
    const gate = this.gate;
    const parsed = parseCode(code);
    if (!parsed) return this.show('invalid', 'Not valid', 'This is not a ticket code.');
    if (parsed.format === 'BO2' && parsed.eventId !== eventId) return this.show('invalid', 'Wrong event', 'This ticket is for another event.');
    if (navigator.onLine) {
      try {
        const { ticket } = await api('/checkin', { method: 'POST', body: { code, gate } });
        this.setOnline(true);
        rememberEntry(eventId, ticket.id, Date.now(), gate);
        this.show('admitted', 'Admitted', ticket.seat_label);
        this.refreshCounts();
        this.sync();
        return;
      } catch (err) {
        if (err.status === 409) {
          const at = Date.parse(err.details.checked_in_at);
          this.setOnline(true);
          rememberEntry(eventId, parsed.ticketId, Number.isNaN(at) ? Date.now() : at, err.details.gate || 'main');
          const seat = parsed.format === 'BO2' ? `${this.labels.get(parsed.seatId) || `Seat ${parsed.seatId}`}: first` : 'First';
          return this.show('already', 'Already in', `${seat} scanned at ${err.details.gate || 'main'}${Number.isNaN(at) ? '' : `, ${clockTime(at)}`}.`);
        }
        if (err.status === 404) {
          this.setOnline(true);
          return this.show('invalid', 'Not valid', 'This ticket is forged, refunded or unknown.');
        }
        if (!err.transient) return this.show('invalid', 'Could not check', err.message);
      }
    }
    await this.checkOffline(parsed, eventId, gate);
  }

  /** No network: the signature is checked here, and the scan waits on this phone. */
  async checkOffline(parsed, eventId, gate) {
    this.setOnline(false);
    if (parsed.format === 'BO1') {
      return this.show('unverified', 'Cannot check offline', 'An older ticket code: only the server can check it. Scan it again once online.');
    }
    if (!this.key) {
      return this.show('unverified', 'Cannot check offline', 'This phone has no key for this event: open the door page once online first.');
    }
    const verdict = await verifyOffline(parsed, this.key, eventId);
    if (verdict !== 'valid') return this.show('invalid', 'Not valid', 'The signature does not match: this code is forged or damaged.');
    const seat = this.labels.get(parsed.seatId) || `Seat ${parsed.seatId}`;
    const before = entryOf(eventId, parsed.ticketId);
    if (before) {
      return this.show('already', 'Already in', `${seat}: scanned on this phone at ${before.gate}, ${clockTime(before.at)}.`);
    }
    const now = Date.now();
    rememberEntry(eventId, parsed.ticketId, now, gate);
    queueScan({ code: parsed.code, gate, scanned_at: new Date(now).toISOString(), event_id: eventId, seat_id: parsed.seatId });
    this.showPending();
    this.showCounts();
    this.show('admitted', 'Admitted', seat, 'Checked on this phone, offline: it will be sent when the network is back.');
  }

  show(kind, verdict, detail = '', note = '') {
    this.result.dataset.result = kind;
    this.result.replaceChildren(...present(
      h('p', { class: 'door-verdict', text: verdict }),
      detail && h('p', { class: 'door-detail', text: detail }),
      note && h('p', { class: 'door-note', text: note }),
    ));
    if (kind !== 'idle') navigator.vibrate?.(kind === 'admitted' ? 80 : [60, 60, 60]);
  }

  async toggleCamera() {
    if (this.stopCamera) {
      this.stopCamera();
      this.stopCamera = null;
      this.video.hidden = true;
      this.cameraButton.textContent = 'Scan with the camera';
      return;
    }
    try {
      this.video.hidden = false;
      this.stopCamera = await startCamera(this.video, (code) => this.check(code));
      if (this.gone) this.stopCamera();
      this.cameraButton.textContent = 'Stop the camera';
    } catch (err) {
      this.video.hidden = true;
      this.show('unverified', 'No camera', err?.message || 'The camera could not be opened: type the code instead.');
    }
  }

  // ---------------------------------------------------------------- the network and the server's counts

  setOnline(online) {
    this.online = online;
    this.network.dataset.online = String(online);
    this.network.textContent = online ? 'Online' : 'Offline';
  }

  showKey() {
    const ready = Boolean(this.key);
    this.offlineReady.dataset.ready = String(ready);
    this.offlineReady.textContent = ready ? 'Offline checks ready' : canVerifyOffline() ? 'No offline key yet' : 'Offline checks need https';
  }

  showPending() {
    const n = pendingScans().length;
    this.pending.textContent = n ? `${plural(n, 'scan', 'scans')} waiting to be sent` : '';
    this.sendButton.hidden = n === 0;
  }

  wentOnline() {
    this.setOnline(true);
    this.sync();
    this.refreshCounts();
  }

  tick() {
    if (!navigator.onLine) return this.setOnline(false);
    if (pendingScans().length) this.sync();
    else this.refreshCounts();
  }

  async refreshCounts() {
    const eventId = this.eventId;
    if (!eventId || !navigator.onLine) return this.showCounts();
    try {
      const counts = await api(`/events/${encodeURIComponent(eventId)}/checkins`);
      if (eventId === this.eventId) this.counts = counts;
    } catch (err) {
      if (err.transient) this.setOnline(false);
    }
    this.showCounts();
  }

  showCounts() {
    const waiting = pendingScans().filter((s) => s.event_id === this.eventId).length;
    const c = this.counts;
    this.countsBox.replaceChildren(...present(
      h('h2', { id: 'door-counts-title', text: 'Who is in' }),
      c
        ? h('p', { class: 'door-total', 'data-testid': 'door-total' }, h('strong', { text: String(c.total) }), ` of ${plural(c.tickets, 'ticket', 'tickets')} checked in`)
        : h('p', { class: 'muted', text: 'Counts appear when the server answers.' }),
      c && c.gates.length
        ? h('ul', { class: 'door-gates' }, c.gates.map((g) => h('li', { 'data-gate': g.gate }, h('span', { text: g.gate }), h('strong', { text: String(g.checked_in) }))))
        : null,
      waiting ? h('p', { class: 'hint', text: `And ${plural(waiting, 'scan', 'scans')} made offline on this phone, not counted yet.` }) : null,
    ));
  }

  /** Send the scans made offline; show what the server made of them (`loud`: also say when it cannot). */
  async sync(loud = false) {
    if (!pendingScans().length) return;
    let settled;
    try {
      settled = await sendPending();
    } catch (err) {
      if (err.transient) this.setOnline(false);
      if (loud) this.show('unverified', 'Not sent', err.message);
      this.showPending();
      return;
    }
    if (this.gone || !settled.length) return;
    this.setOnline(true);
    this.showPending();
    this.showSettlement(settled);
    await this.refreshCounts();
  }

  showSettlement(settled) {
    const by = (kind) => settled.filter((s) => s.result.result === kind);
    const admitted = by('checked_in');
    const twice = by('already_checked_in');
    const invalid = by('invalid_ticket');
    const seat = (s) => this.labels.get(s.scan.seat_id) || s.result.ticket?.seat_label || `Seat ${s.scan.seat_id}`;
    const summary = `The server settled ${plural(settled.length, 'offline scan', 'offline scans')}: ${admitted.length} first entry, ${twice.length} already in before, ${invalid.length} not valid.`;
    this.syncBox.hidden = false;
    this.syncBox.dataset.problems = String(twice.length + invalid.length > 0);
    this.syncBox.replaceChildren(...present(
      h('h2', { id: 'door-sync-title', text: 'Offline scans sent' }),
      h('p', { 'data-testid': 'door-sync-summary', text: summary }),
      twice.length || invalid.length
        ? h('ul', {},
          twice.map((s) => h('li', { text: `${seat(s)}: already in (first at ${s.result.gate}, ${clockTime(Date.parse(s.result.checked_in_at))}).` })),
          invalid.map((s) => h('li', { text: `${seat(s)}: not valid (refunded or forged).` })))
        : null,
    ));
    announce(summary);
  }
}
