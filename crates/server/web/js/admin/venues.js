// Venues: the list, one venue's map, and the editor that generates or imports a layout, lets the
// organiser remove seats, mark wheelchair and companion seats and relabel, and saves it.
import { api } from '../api.js';
import { h, mediumDate, flash, plural } from '../util.js';
import { zoomControls } from '../seatmap.js';
import { generateHall, parseAisles, layoutFromCsv, layoutFromJson, seatsOf, seatCount } from './generate.js';
import { editableMap, markCompanions, choice, showError, field } from './mapedit.js';

export function venuesView(body, params, app) {
  const [id] = params.path;
  if (id === 'new') return venueEditor(body, params, app);
  if (id) return venuePage(body, id, app);
  return venueList(body, app);
}

async function venueList(body, app) {
  app.setTitle('Venues');
  try {
    const { venues } = await api('/admin/venues');
    body.replaceChildren(
      h('div', { class: 'admin-head' },
        h('h1', { tabindex: '-1', text: 'Venues' }),
        h('a', { class: 'btn primary', href: '#/admin/venues/new', 'data-testid': 'new-venue', text: 'New venue' }),
      ),
      venues.length
        ? h('table', { class: 'admin-table' },
          h('thead', {}, h('tr', {}, h('th', { text: 'Venue' }), h('th', { text: 'Events' }), h('th', { text: 'Created' }))),
          h('tbody', {}, venues.map((v) => h('tr', {},
            h('td', {}, h('a', { href: `#/admin/venues/${encodeURIComponent(v.id)}`, text: v.name })),
            h('td', { text: String(v.events) }),
            h('td', { text: mediumDate(v.created_at) }),
          ))))
        : h('p', { class: 'empty', text: 'No venues yet.' }),
    );
  } catch (err) {
    body.replaceChildren(h('h1', { tabindex: '-1', text: 'Venues' }), h('p', { class: 'form-error', role: 'alert', text: err.message }));
  }
  app.ready();
}

function mapPanel(map) {
  const viewport = h('div', { class: 'map-viewport' }, map.svg);
  return h('div', { class: 'map-panel' }, h('div', { class: 'map-toolbar' }, zoomControls(map, viewport)), viewport);
}

async function venuePage(body, id, app) {
  try {
    const { venue } = await api(`/admin/venues/${encodeURIComponent(id)}`);
    app.setTitle(venue.name);
    const map = editableMap(venue.layout, { name: venue.name, pick: () => {} });
    markCompanions(map, venue.layout);
    body.replaceChildren(
      h('div', { class: 'admin-head' },
        h('h1', { tabindex: '-1', text: venue.name }),
        h('div', { class: 'actions' },
          h('a', { class: 'btn primary', href: `#/admin/events/new?venue=${encodeURIComponent(id)}`, text: 'Create an event here' }),
          h('a', { class: 'btn ghost', href: `#/admin/venues/new?from=${encodeURIComponent(id)}`, text: 'Copy as a new venue' }),
        ),
      ),
      h('p', { class: 'lead', text: summary(venue.layout) }),
      mapPanel(map),
    );
  } catch (err) {
    body.replaceChildren(h('h1', { tabindex: '-1', text: 'Venue' }), h('p', { class: 'form-error', role: 'alert', text: err.message }));
  }
  app.ready();
}

function summary(layout) {
  const seats = [...seatsOf(layout)].map((x) => x.seat);
  const rows = layout.sections.reduce((n, s) => n + s.rows.length, 0);
  const wheelchair = seats.filter((s) => s.accessible).length;
  const companion = seats.filter((s) => s.companion).length;
  return `${plural(seats.length, 'seat', 'seats')} in ${plural(layout.sections.length, 'section', 'sections')} and ${plural(rows, 'row', 'rows')}; ${plural(wheelchair, 'wheelchair place', 'wheelchair places')}, ${plural(companion, 'companion seat', 'companion seats')}.`;
}

const TOOLS = [
  ['remove', 'Remove seats'],
  ['accessible', 'Wheelchair'],
  ['companion', 'Companion'],
  ['relabel', 'Relabel'],
];

function venueEditor(body, params, app) {
  app.setTitle('New venue');
  let layout = null;
  let tool = 'remove';
  let selected = null; // {section, row, seat} being relabelled
  const history = [];

  const input = (attrs) => h('input', { ...attrs, oninput: regenerate });
  const sectionsInput = h('textarea', { id: 'gen-sections', rows: 3, 'data-testid': 'gen-sections', oninput: regenerate }, 'Stalls, 12\nRear stalls, 8');
  const seatsInput = input({ type: 'number', min: 1, max: 500, value: 30, 'data-testid': 'gen-seats' });
  const curveInput = input({ type: 'range', min: 0, max: 100, value: 40, 'data-testid': 'gen-curve' });
  const aislesInput = input({ type: 'text', value: '8, 22', 'data-testid': 'gen-aisles', placeholder: 'e.g. 8, 22' });
  const numbering = h('select', { 'data-testid': 'gen-numbering', onchange: regenerate },
    h('option', { value: 'ltr', text: 'Left to right' }), h('option', { value: 'rtl', text: 'Right to left' }));
  const labels = h('select', { 'data-testid': 'gen-labels', onchange: regenerate },
    h('option', { value: 'letters', text: 'Letters (A, B, … AA)' }), h('option', { value: 'numbers', text: 'Numbers (1, 2, 3)' }));
  const restart = h('input', { type: 'checkbox', onchange: regenerate });
  const stageInput = input({ type: 'text', value: 'Stage', maxlength: 64 });
  const genError = h('p', { class: 'form-error', role: 'alert' });

  const fileInput = h('input', { type: 'file', accept: '.json,.csv,application/json,text/csv', 'data-testid': 'import-file', onchange: importFile });
  const importError = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'import-error' });

  const nameInput = h('input', { type: 'text', required: true, maxlength: 200, 'data-testid': 'venue-name', placeholder: 'e.g. Grand Hall' });
  const saveError = h('div', { class: 'form-error', role: 'alert', 'data-testid': 'save-error' });
  const saveButton = h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'save-venue' }, 'Save venue');
  const undoButton = h('button', { type: 'button', class: 'btn ghost small', disabled: true, onclick: undo }, 'Undo');

  const stats = h('p', { class: 'lead', 'data-testid': 'venue-summary', 'aria-live': 'polite' });
  const mapHolder = h('div', { class: 'map-holder' });
  const relabel = h('div', { class: 'relabel', hidden: true });

  const generator = h('form', { class: 'card admin-form', onsubmit: (e) => { e.preventDefault(); regenerate(); } },
    h('h2', { text: 'Generate a hall' }),
    field('Sections, front to back: name, rows', sectionsInput, 'One section a line, e.g. “Balcony, 6”.'),
    field('Seats per row', seatsInput),
    field('Curve of the rows', curveInput, 'Straight at the left, strongly curved at the right.'),
    field('Aisles after seat', aislesInput, 'Seat positions, counted from the left.'),
    field('Seat numbers', numbering),
    field('Row labels', labels),
    h('label', { class: 'check' }, restart, h('span', { text: 'Start the row labels again in each section' })),
    field('Stage label', stageInput),
    genError,
  );
  const importer = h('div', { class: 'card admin-form' },
    h('h2', { text: 'Or import' }),
    field('A layout as JSON, or CSV with the columns section, row, seat, x, y', fileInput, 'Optional CSV columns: accessible, companion (1 or yes).'),
    importError,
  );
  const saver = h('form', { class: 'card admin-form', onsubmit: save },
    h('h2', { text: 'Save' }),
    field('Venue name', nameInput),
    saveError,
    saveButton,
  );

  body.replaceChildren(
    h('div', { class: 'admin-head' }, h('h1', { tabindex: '-1', text: 'New venue' })),
    h('div', { class: 'editor' },
      h('div', { class: 'editor-side' }, generator, importer, saver),
      h('div', { class: 'editor-main' },
        stats,
        h('div', { class: 'map-tools' },
          choice('tool', 'Clicking or dragging a box over seats', TOOLS, tool, (t) => { tool = t; relabel.hidden = true; }),
          undoButton,
        ),
        relabel,
        mapHolder,
      ),
    ),
  );

  function draw() {
    if (!layout) return;
    const map = editableMap(layout, { name: nameInput.value || 'the new venue', pick: apply });
    markCompanions(map, layout);
    const viewport = h('div', { class: 'map-viewport' }, map.svg);
    mapHolder.replaceChildren(h('div', { class: 'map-panel' }, h('div', { class: 'map-toolbar' }, zoomControls(map, viewport)), viewport));
    stats.textContent = summary(layout);
  }

  function regenerate() {
    const sections = sectionsInput.value.split('\n').map((line) => line.trim()).filter(Boolean).map((line) => {
      const m = line.match(/^(.*?)[,;:]\s*(\d+)\s*$/);
      return m ? { name: m[1].trim() || 'Seats', rows: Number(m[2]) } : { name: line, rows: 1 };
    });
    const seatsPerRow = Number(seatsInput.value);
    if (!sections.length || !Number.isInteger(seatsPerRow) || seatsPerRow < 1 || seatsPerRow > 500) {
      genError.textContent = 'Give at least one section and 1 to 500 seats per row.';
      return;
    }
    const total = sections.reduce((n, s) => n + s.rows, 0) * seatsPerRow;
    if (total > 50000) {
      genError.textContent = `That is ${total} seats; a venue has at most 50,000.`;
      return;
    }
    genError.textContent = '';
    layout = generateHall({
      sections,
      seatsPerRow,
      curve: Number(curveInput.value) / 100,
      aisles: parseAisles(aislesInput.value, seatsPerRow),
      numbering: numbering.value,
      rowLabels: labels.value,
      restartLabels: restart.checked,
      stageLabel: stageInput.value.trim() || 'Stage',
    });
    history.length = 0;
    undoButton.disabled = true;
    draw();
  }

  async function importFile() {
    const file = fileInput.files?.[0];
    if (!file) return;
    importError.textContent = '';
    try {
      const text = await file.text();
      const imported = /\.csv$/i.test(file.name) || file.type === 'text/csv' ? layoutFromCsv(text) : layoutFromJson(text);
      if (imported.name && !nameInput.value) nameInput.value = imported.name;
      delete imported.name;
      layout = imported;
      history.length = 0;
      undoButton.disabled = true;
      draw();
      flash(`Imported ${plural(seatCount(layout), 'seat', 'seats')} from ${file.name}.`, 'success');
    } catch (err) {
      importError.textContent = err.message;
    }
  }

  function remember() {
    history.push(JSON.stringify(layout));
    if (history.length > 30) history.shift();
    undoButton.disabled = false;
  }

  function undo() {
    const last = history.pop();
    if (last) layout = JSON.parse(last);
    undoButton.disabled = history.length === 0;
    draw();
  }

  function apply(ids) {
    const picked = new Set(ids);
    if (tool === 'relabel') {
      const [first] = ids;
      for (const place of seatsOf(layout)) if (place.seat.id === first) selected = place;
      showRelabel();
      return;
    }
    remember();
    if (tool === 'remove') {
      for (const section of layout.sections) {
        for (const row of section.rows) row.seats = row.seats.filter((seat) => !picked.has(seat.id));
        section.rows = section.rows.filter((row) => row.seats.length);
      }
      layout.sections = layout.sections.filter((section) => section.rows.length);
    } else {
      const seats = [...seatsOf(layout)].map((p) => p.seat).filter((seat) => picked.has(seat.id));
      // A box over marked and unmarked seats marks them all; over marked ones only, it unmarks.
      const on = !seats.every((seat) => seat[tool]);
      for (const seat of seats) {
        if (on) {
          seat[tool] = true;
          // A place is a wheelchair place or a companion seat, not both.
          seat[tool === 'accessible' ? 'companion' : 'accessible'] = false;
        } else seat[tool] = false;
        if (!seat.companion) delete seat.companion;
      }
    }
    draw();
  }

  function showRelabel() {
    if (!selected) return;
    const { row, seat } = selected;
    const seatLabel = h('input', { type: 'text', value: seat.label, maxlength: 64, 'data-testid': 'relabel-seat' });
    const rowLabel = h('input', { type: 'text', value: row.label, maxlength: 64, 'data-testid': 'relabel-row' });
    relabel.replaceChildren(h('form', { class: 'relabel-form', onsubmit: (e) => {
      e.preventDefault();
      if (!seatLabel.value.trim() || !rowLabel.value.trim()) return;
      remember();
      seat.label = seatLabel.value.trim();
      row.label = rowLabel.value.trim();
      relabel.hidden = true;
      draw();
    } },
    h('p', { text: `Row ${row.label}, seat ${seat.label} (id ${seat.id})` }),
    field('Seat label', seatLabel),
    field('Row label (the whole row)', rowLabel),
    h('button', { type: 'submit', class: 'btn primary small', 'data-testid': 'relabel-apply' }, 'Relabel'),
    ));
    relabel.hidden = false;
    seatLabel.focus();
  }

  async function save(e) {
    e.preventDefault();
    saveError.replaceChildren();
    if (!nameInput.value.trim()) {
      saveError.textContent = 'Give the venue a name.';
      nameInput.focus();
      return;
    }
    if (!layout || !seatCount(layout)) {
      saveError.textContent = 'Generate or import a layout first.';
      return;
    }
    saveButton.disabled = true;
    try {
      const { venue } = await api('/admin/venues', { method: 'POST', body: { name: nameInput.value.trim(), layout } });
      flash(`Saved ${venue.name}.`, 'success');
      app.navigate(`#/admin/venues/${encodeURIComponent(venue.id)}`);
    } catch (err) {
      showError(saveError, err);
    } finally {
      saveButton.disabled = false;
    }
  }

  if (params.from) {
    api(`/admin/venues/${encodeURIComponent(params.from)}`).then(({ venue }) => {
      layout = venue.layout;
      nameInput.value = `${venue.name} (copy)`;
      draw();
    }).catch((err) => showError(saveError, err));
  } else {
    regenerate();
  }
  app.ready();
  return null;
}
