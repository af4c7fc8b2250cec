// The organiser's seat map: the buyers' SeatMap, plus picking seats by dragging a box, by row or
// by section, and the messages the organiser's forms share.
import { h, s } from '../util.js';
import { SeatMap } from '../seatmap.js';
import { detailMessages } from '../api.js';

/**
 * Draws `layout` with the buyers' map code. `pick(ids)` gets the seats the organiser picked: one
 * clicked (or pressed with Enter), or every seat inside a dragged box; `mode()` widens a click to
 * the seat's row or section.
 */
export function editableMap(layout, { name = 'the venue', categories = [], pick, mode = () => 'seat' }) {
  const map = new SeatMap({ name, layout, categories }, {
    onActivate: (id) => {
      if (dragged) {
        dragged = false;
        return;
      }
      pick(widen(layout, id, mode()));
    },
  });
  const svg = map.svg;
  svg.classList.add('editable');
  // The buyers' page names each seat as it paints its state; here every seat is named at once.
  for (const seat of map.seats.values()) {
    seat.el.setAttribute('aria-label', `${seat.label}${seat.accessible ? ', wheelchair place' : ''}`);
  }
  let start = null;
  let box = null;
  let dragged = false;
  const point = (e) => {
    const p = svg.createSVGPoint();
    p.x = e.clientX;
    p.y = e.clientY;
    return p.matrixTransform(svg.getScreenCTM().inverse());
  };
  svg.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return;
    dragged = false;
    start = point(e);
    box = null;
  });
  svg.addEventListener('pointermove', (e) => {
    if (!start) return;
    const p = point(e);
    if (!box) {
      if (Math.hypot(p.x - start.x, p.y - start.y) < 6) return;
      box = s('rect', { class: 'select-box', 'data-testid': 'select-box' });
      svg.append(box);
      // Captured only once it is a drag: a capture from the start would retarget a plain
      // click to the map, away from the seat clicked.
      svg.setPointerCapture(e.pointerId);
    }
    box.setAttribute('x', Math.min(p.x, start.x));
    box.setAttribute('y', Math.min(p.y, start.y));
    box.setAttribute('width', Math.abs(p.x - start.x));
    box.setAttribute('height', Math.abs(p.y - start.y));
  });
  const finish = (e) => {
    if (!start) return;
    const from = start;
    start = null;
    if (!box) return;
    box.remove();
    box = null;
    dragged = true;
    // The click that ends a drag lands on whatever is under the pointer: ignore it once.
    setTimeout(() => (dragged = false), 0);
    const p = point(e);
    const [x0, x1] = [Math.min(p.x, from.x), Math.max(p.x, from.x)];
    const [y0, y1] = [Math.min(p.y, from.y), Math.max(p.y, from.y)];
    const ids = [...map.seats.values()].filter((seat) => seat.x >= x0 && seat.x <= x1 && seat.y >= y0 && seat.y <= y1).map((seat) => seat.id);
    if (ids.length) pick(ids);
  };
  svg.addEventListener('pointerup', finish);
  svg.addEventListener('pointercancel', () => {
    start = null;
    box?.remove();
    box = null;
  });
  return map;
}

/** The seat alone, its row, or its section. */
function widen(layout, id, mode) {
  for (const section of layout.sections) {
    for (const row of section.rows) {
      if (!row.seats.some((seat) => seat.id === id)) continue;
      if (mode === 'row') return row.seats.map((seat) => seat.id);
      if (mode === 'section') return section.rows.flatMap((r) => r.seats.map((seat) => seat.id));
      return [id];
    }
  }
  return [id];
}

/** Marks companion seats, which the buyers' map draws like any other seat. */
export function markCompanions(map, layout) {
  for (const section of layout.sections) {
    for (const row of section.rows) {
      for (const seat of row.seats) {
        if (seat.companion) map.seats.get(seat.id)?.el.classList.add('companion');
      }
    }
  }
}

/** A radio group as a row of toggle buttons. */
export function choice(name, legend, options, value, onChange) {
  return h('fieldset', { class: 'choice' },
    h('legend', { text: legend }),
    options.map(([key, label]) => h('label', {},
      h('input', { type: 'radio', name, value: key, checked: key === value, 'data-testid': `${name}-${key}`, onchange: () => onChange(key) }),
      h('span', { text: label }),
    )),
  );
}

/** The error box of a form: the server's message and whatever its details name. */
export function showError(box, err) {
  const extra = detailMessages(err.details);
  box.replaceChildren(h('p', { text: err.message }), extra.length ? h('ul', {}, extra.map((m) => h('li', { text: m }))) : null);
}

export const field = (label, input, hint) => h('label', { class: 'field' }, h('span', { class: 'field-label', text: label }), input, hint ? h('span', { class: 'hint', text: hint }) : null);
