// Seat map: draws an event layout as accessible inline SVG and handles pointer and keyboard input.
import { s, h, money } from './util.js';

// Okabe–Ito colours: distinguishable with the common colour-vision deficiencies.
const CATEGORY_COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9'];
export const categoryColour = (index) => CATEGORY_COLOURS[index % CATEGORY_COLOURS.length];

const MARKS = {
  mine: 'M-4 0.2 L-1.3 3 L4.2 -3.2',
  sold: 'M-3.6 -3.6 L3.6 3.6 M3.6 -3.6 L-3.6 3.6',
};

const STATE_WORDS = {
  available: 'available',
  selected: 'selected',
  mine: 'held for you',
  held: 'held by another buyer',
  sold: 'sold',
  yours: 'sold to you',
};

/** The shape of one seat, so the legend and the map draw identical symbols. */
export function seatShape(accessible) {
  return accessible
    ? s('rect', { class: 'dot', x: -7.5, y: -7.5, width: 15, height: 15, rx: 3.5 })
    : s('circle', { class: 'dot', r: 8 });
}

/** A small standalone SVG swatch for the legend. */
export function swatch(state, colour, accessible = false) {
  const g = s('g', { class: 'seat', 'data-state': state, transform: 'translate(11 11)', style: colour ? { '--seat': colour } : undefined },
    seatShape(accessible),
    s('path', { class: 'mark', d: MARKS[state] || '' }),
  );
  return s('svg', { class: 'swatch', viewBox: '0 0 22 22', width: 22, height: 22, 'aria-hidden': 'true', focusable: 'false' }, g);
}

/**
 * Buyer-facing names for every seat of a layout: "Row C seat 14", prefixed with the section only
 * when the same row label occurs in more than one section.
 * @returns {Map<string, string>}
 */
export function seatNames(layout) {
  const sections = layout?.sections || [];
  const sectionsOfRow = new Map();
  for (const section of sections) {
    for (const row of section.rows || []) sectionsOfRow.set(row.label, (sectionsOfRow.get(row.label) || 0) + 1);
  }
  const names = new Map();
  for (const section of sections) {
    for (const row of section.rows || []) {
      const prefix = sectionsOfRow.get(row.label) > 1 ? `${section.name}, ` : '';
      for (const seat of row.seats || []) names.set(seat.id, `${prefix}Row ${row.label} seat ${seat.label}`);
    }
  }
  return names;
}

export class SeatMap {
  /**
   * @param {{name: string, layout: any, categories: any[]}} event
   * @param {{onActivate: (id: string) => void, onHover?: (id: string|null) => void}} handlers
   */
  constructor(event, handlers) {
    this.handlers = handlers;
    /** @type {Map<string, {id, label, category, accessible, el: SVGGElement, row: number, col: number}>} */
    this.seats = new Map();
    this.rows = [];
    this.categories = new Map(event.categories.map((c, i) => [c.id, { ...c, colour: categoryColour(i) }]));
    this.svg = this.#draw(event);
    this.zoom = 1;
  }

  #draw(event) {
    const layout = event.layout;
    const sections = layout.sections || [];
    const names = seatNames(layout);
    const bounds = { x0: 0, y0: 0, x1: layout.width || 0, y1: layout.height || 0 };
    const grow = (x, y, pad) => {
      bounds.x0 = Math.min(bounds.x0, x - pad);
      bounds.y0 = Math.min(bounds.y0, y - pad);
      bounds.x1 = Math.max(bounds.x1, x + pad);
      bounds.y1 = Math.max(bounds.y1, y + pad);
    };

    const seatLayer = s('g', { class: 'seats' });
    const labelLayer = s('g', { class: 'row-labels', 'aria-hidden': 'true' });
    const rowsByY = [];

    for (const section of sections) {
      const sectionGroup = s('g', { role: 'group', 'aria-label': section.name || 'Seats' });
      for (const row of section.rows || []) {
        const ordered = [...(row.seats || [])].sort((a, b) => a.x - b.x);
        if (!ordered.length) continue;
        const rowGroup = s('g', { role: 'group', 'aria-label': `Row ${row.label}` });
        const rowSeats = [];
        for (const seat of ordered) {
          const category = this.categories.get(seat.category_id);
          const label = names.get(seat.id);
          const el = s('g', {
            class: 'seat',
            role: 'checkbox',
            tabindex: -1,
            'aria-checked': 'false',
            'data-seat-id': seat.id,
            'data-state': 'available',
            transform: `translate(${seat.x} ${seat.y})`,
            style: { '--seat': category ? category.colour : '#6b7280' },
          },
          s('circle', { class: 'ring', r: 11.5 }),
          seatShape(seat.accessible),
          s('path', { class: 'mark', d: '' }));
          rowGroup.append(el);
          const record = { id: seat.id, label, category, accessible: !!seat.accessible, el, x: seat.x, y: seat.y, row: 0, col: rowSeats.length };
          rowSeats.push(record);
          this.seats.set(seat.id, record);
          grow(seat.x, seat.y, 12);
        }
        sectionGroup.append(rowGroup);
        const first = ordered[0];
        const last = ordered[ordered.length - 1];
        labelLayer.append(
          s('text', { x: first.x - 17, y: first.y, class: 'row-label', 'text-anchor': 'end', 'dominant-baseline': 'central' }, row.label),
          s('text', { x: last.x + 17, y: last.y, class: 'row-label', 'text-anchor': 'start', 'dominant-baseline': 'central' }, row.label),
        );
        // Curved rows drift far from their end labels; repeat the label in each aisle so the
        // middle of the hall can be read too.
        const gaps = ordered.slice(1).map((seat, i) => Math.hypot(seat.x - ordered[i].x, seat.y - ordered[i].y));
        const usual = [...gaps].sort((a, b) => a - b)[Math.floor(gaps.length / 2)] || 0;
        gaps.forEach((gap, i) => {
          if (usual && gap > usual * 1.6) {
            const a = ordered[i];
            const b = ordered[i + 1];
            labelLayer.append(s('text', { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2, class: 'row-label aisle', 'text-anchor': 'middle', 'dominant-baseline': 'central' }, row.label));
          }
        });
        grow(first.x - 34, first.y, 0);
        grow(last.x + 34, last.y, 0);
        const meanY = rowSeats.reduce((sum, r) => sum + r.y, 0) / rowSeats.length;
        rowsByY.push({ seats: rowSeats, y: meanY });
      }
      seatLayer.append(sectionGroup);
    }

    // Up/Down follow what the eye sees: rows ordered by their vertical position.
    rowsByY.sort((a, b) => a.y - b.y);
    this.rows = rowsByY.map((r) => r.seats);
    this.rows.forEach((seats, i) => seats.forEach((seat) => (seat.row = i)));

    let stage = null;
    if (layout.stage) {
      const st = layout.stage;
      stage = s('g', { class: 'stage' },
        s('rect', { x: st.x, y: st.y, width: st.width, height: st.height, rx: Math.min(12, st.height / 2) }),
        s('text', { x: st.x + st.width / 2, y: st.y + st.height / 2, 'text-anchor': 'middle', 'dominant-baseline': 'central' }, st.label || 'Stage'),
      );
      grow(st.x, st.y, 6);
      grow(st.x + st.width, st.y + st.height, 6);
    }

    const vb = [bounds.x0, bounds.y0, bounds.x1 - bounds.x0, bounds.y1 - bounds.y0].map((n) => Math.round(n * 10) / 10);
    const svg = s('svg', {
      class: 'seat-map',
      'data-testid': 'seat-map',
      viewBox: vb.join(' '),
      role: 'group',
      'aria-label': `Seat map for ${event.name}`,
      'aria-describedby': 'seatmap-help',
      preserveAspectRatio: 'xMidYMin meet',
    }, stage, labelLayer, seatLayer);
    svg.style.aspectRatio = `${vb[2]} / ${vb[3]}`;

    // One tab stop for the whole map (roving tabindex); start near the front centre.
    const front = this.rows[0];
    if (front) this.#setTabStop(front[Math.floor(front.length / 2)]);

    svg.addEventListener('click', (e) => {
      const seat = this.#seatFromEvent(e);
      if (!seat) return;
      if (e.pointerType === 'touch' && this.zoom === 1 && this.zoomAround && this.seatPixels() < 14) {
        this.zoomAround(e.clientX, e.clientY);
        this.handlers.onZoomed?.();
        return;
      }
      this.#setTabStop(seat);
      this.handlers.onActivate(seat.id);
    });
    svg.addEventListener('keydown', (e) => this.#onKey(e));
    svg.addEventListener('pointerover', (e) => this.handlers.onHover?.(this.#seatFromEvent(e)?.id ?? null));
    svg.addEventListener('pointerleave', () => this.handlers.onHover?.(null));
    svg.addEventListener('focusin', (e) => this.handlers.onHover?.(this.#seatFromEvent(e)?.id ?? null));
    return svg;
  }

  #seatFromEvent(e) {
    const el = e.target instanceof Element ? e.target.closest('[data-seat-id]') : null;
    return el ? this.seats.get(el.getAttribute('data-seat-id')) : undefined;
  }

  #setTabStop(seat) {
    if (this.tabStop === seat) return;
    if (this.tabStop) this.tabStop.el.setAttribute('tabindex', '-1');
    seat.el.setAttribute('tabindex', '0');
    this.tabStop = seat;
  }

  /** Move keyboard focus to a seat and keep it visible inside a zoomed viewport. */
  focusSeat(id) {
    const seat = this.seats.get(id);
    if (!seat) return;
    this.#setTabStop(seat);
    seat.el.focus({ preventScroll: true });
    seat.el.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  }

  #onKey(e) {
    const current = this.#seatFromEvent(e);
    if (!current) return;
    const row = this.rows[current.row];
    let target = null;
    switch (e.key) {
      case 'ArrowLeft': target = row[current.col - 1]; break;
      case 'ArrowRight': target = row[current.col + 1]; break;
      case 'Home': target = row[0]; break;
      case 'End': target = row[row.length - 1]; break;
      case 'ArrowUp': target = this.#nearestIn(this.rows[current.row - 1], current.x); break;
      case 'ArrowDown': target = this.#nearestIn(this.rows[current.row + 1], current.x); break;
      case 'Enter':
      case ' ':
        e.preventDefault();
        if (!e.repeat) this.handlers.onActivate(current.id);
        return;
      default: return;
    }
    e.preventDefault();
    if (target) this.focusSeat(target.id);
  }

  #nearestIn(row, x) {
    if (!row) return null;
    return row.reduce((best, seat) => (Math.abs(seat.x - x) < Math.abs(best.x - x) ? seat : best), row[0]);
  }

  /**
   * Show a seat's state. `display` is what the buyer sees; `detail` refines the spoken words
   * ("selected" vs "held for you") without changing the colour.
   */
  paint(id, display, detail = display) {
    const seat = this.seats.get(id);
    if (!seat) return;
    const el = seat.el;
    if (el.getAttribute('data-state') !== display) {
      el.setAttribute('data-state', display);
      el.lastChild.setAttribute('d', MARKS[display] || '');
    }
    el.setAttribute('aria-checked', display === 'mine' ? 'true' : 'false');
    el.setAttribute('aria-disabled', display === 'held' || display === 'sold' ? 'true' : 'false');
    el.setAttribute('aria-label', `${this.describe(id)}, ${STATE_WORDS[detail] || detail}`);
  }

  /** "Row C seat 14, Premium €89.00" — also used in lists outside the map. */
  describe(id) {
    const seat = this.seats.get(id);
    if (!seat) return 'Unknown seat';
    const c = seat.category;
    const price = c ? `${c.name} ${money(c.price_cents, c.currency)}` : 'price unavailable';
    return `${seat.label}, ${price}${seat.accessible ? ', wheelchair accessible' : ''}`;
  }

  /** Current on-screen diameter of a seat in CSS pixels. */
  seatPixels() {
    const vb = this.svg.viewBox.baseVal;
    return vb && vb.width ? (this.svg.getBoundingClientRect().width / vb.width) * 16 : 16;
  }

  setZoom(zoom) {
    this.zoom = Math.min(4, Math.max(1, zoom));
    this.svg.style.width = `${this.zoom * 100}%`;
    return this.zoom;
  }
}

/** Zoom buttons for a map inside a scrollable viewport; pinch-zoom of the page still works too. */
export function zoomControls(map, viewport) {
  /** Zoom to `z`, keeping the content point (fractions fx, fy) under the same spot of the viewport. */
  const zoomTo = (z, fx, fy, px = 0.5, py = 0.5) => {
    z = map.setZoom(z);
    viewport.classList.toggle('zoomed', z > 1);
    viewport.scrollLeft = fx * viewport.scrollWidth - viewport.clientWidth * px;
    viewport.scrollTop = fy * viewport.scrollHeight - viewport.clientHeight * py;
    zoomOut.disabled = z <= 1;
    fit.disabled = z <= 1;
    zoomIn.disabled = z >= 4;
  };
  const zoomBy = (factor) => {
    const fx = (viewport.scrollLeft + viewport.clientWidth / 2) / viewport.scrollWidth;
    const fy = (viewport.scrollTop + viewport.clientHeight / 2) / viewport.scrollHeight;
    zoomTo(factor === 0 ? 1 : map.zoom * factor, fx, fy);
  };
  // On a phone the whole hall makes seats too small to tap: the first tap zooms in around it.
  map.zoomAround = (clientX, clientY) => {
    const box = viewport.getBoundingClientRect();
    const svg = map.svg.getBoundingClientRect();
    const fx = (clientX - svg.left) / svg.width;
    const fy = (clientY - svg.top) / svg.height;
    const z = Math.min(4, Math.max(2, 22 / map.seatPixels()));
    zoomTo(z, fx, fy, (clientX - box.left) / box.width, (clientY - box.top) / box.height);
  };
  const zoomIn = h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Zoom in', onclick: () => zoomBy(1.5) }, '+');
  const zoomOut = h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Zoom out', disabled: true, onclick: () => zoomBy(1 / 1.5) }, '−');
  const fit = h('button', { type: 'button', class: 'text-btn', disabled: true, onclick: () => zoomBy(0) }, 'Fit');
  return h('div', { class: 'zoom', role: 'group', 'aria-label': 'Zoom the seat map' }, zoomOut, zoomIn, fit);
}

/** Legend: one swatch per price category with its price, then the seat states. */
export function legend(map) {
  const items = [];
  for (const c of map.categories.values()) {
    items.push(h('li', {}, swatch('available', c.colour), h('span', {}, h('span', { class: 'legend-name', text: c.name }), ' ', h('span', { class: 'legend-price', text: money(c.price_cents, c.currency) }))));
  }
  const states = [
    ['mine', 'Your selection'],
    ['held', 'Held by others'],
    ['sold', 'Sold'],
  ];
  for (const [state, text] of states) items.push(h('li', {}, swatch(state), h('span', { text })));
  if ([...map.seats.values()].some((seat) => seat.accessible)) {
    items.push(h('li', {}, swatch('available', '#6b7280', true), h('span', { text: 'Wheelchair accessible' })));
  }
  return h('ul', { class: 'legend', 'aria-label': 'Legend' }, items);
}
