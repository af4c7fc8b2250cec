// Venue layouts made by the organiser: a generated hall (sections front to back, curved rows,
// aisles), or one imported from JSON or CSV. Pure functions: the layout format is the server's
// (crates/domain/src/venue.rs), checked again there by venue_rules.rs.

const SPACING = 20; // seat centre to seat centre, in layout units (a seat is 16 across)
const ROW_GAP = 24;
const SECTION_GAP = 36;
const PAD = 36;
const STAGE_HEIGHT = 44;
const STAGE_GAP = 40;

const round = (v) => Math.round(v * 10) / 10;

/** Row labels: letters A…Z, AA, AB… (skipping I and O, easily misread as 1 and 0) or numbers. */
export function rowLabel(index, style) {
  if (style === 'numbers') return String(index + 1);
  const letters = 'ABCDEFGHJKLMNPQRSTUVWXYZ';
  let n = index;
  let out = '';
  do {
    out = letters[n % letters.length] + out;
    n = Math.floor(n / letters.length) - 1;
  } while (n >= 0);
  return out;
}

/** `Rear stalls` → `rear-stalls`: a well-formed id for the server. */
export function slug(text, fallback) {
  const s = String(text).toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40);
  return s || fallback;
}

/** "8, 24" → [8, 24]: an aisle after these seat positions. */
export function parseAisles(text, seatsPerRow) {
  return [...new Set(String(text || '').split(/[\s,;]+/).map(Number).filter((n) => Number.isInteger(n) && n > 0 && n < seatsPerRow))].sort((a, b) => a - b);
}

/**
 * A hall under a stage.
 * @param {{sections: {name: string, rows: number}[], seatsPerRow: number, curve: number,
 *   aisles: number[], numbering: 'ltr'|'rtl', rowLabels: 'letters'|'numbers', restartLabels: boolean,
 *   stageLabel?: string}} o
 */
export function generateHall(o) {
  const seatsPerRow = Math.max(1, Math.floor(o.seatsPerRow));
  const aisles = o.aisles || [];
  const slots = seatsPerRow + aisles.length;
  const rowWidth = (slots - 1) * SPACING;
  const curve = Math.min(1, Math.max(0, Number(o.curve) || 0));
  // The front row's arc spans up to about 110° at full curve; rear rows share its centre.
  const firstRadius = curve > 0 ? rowWidth / (curve * 1.9) : 0;
  const raw = [];
  let rowIndex = 0;
  let depth = 0;
  const usedIds = new Set();
  o.sections.forEach((section, si) => {
    const sectionId = slug(section.name, `section-${si + 1}`);
    const id = usedIds.has(sectionId) ? `${sectionId}-${si + 1}` : sectionId;
    usedIds.add(id);
    const rows = [];
    for (let r = 0; r < Math.max(0, Math.floor(section.rows)); r += 1) {
      const label = rowLabel(o.restartLabels ? r : rowIndex, o.rowLabels);
      const seats = [];
      for (let n = 1; n <= seatsPerRow; n += 1) {
        const slot = n - 1 + aisles.filter((a) => n > a).length;
        const along = slot * SPACING - rowWidth / 2;
        let x;
        let y;
        if (curve > 0) {
          const radius = firstRadius + depth;
          const theta = along / radius;
          x = radius * Math.sin(theta);
          y = radius * Math.cos(theta) - firstRadius;
        } else {
          x = along;
          y = depth;
        }
        const number = o.numbering === 'rtl' ? seatsPerRow + 1 - n : n;
        const seatId = o.restartLabels ? `${id}-${label}-${number}` : `${label}-${number}`;
        seats.push({ id: seatId, label: String(number), x, y, accessible: false });
      }
      rows.push({ label, seats });
      rowIndex += 1;
      depth += ROW_GAP;
    }
    depth += SECTION_GAP - ROW_GAP;
    raw.push({ id, name: section.name || `Section ${si + 1}`, rows });
  });
  return place(raw, o.stageLabel || 'Stage');
}

/** Moves seats below a stage band with padding around, and sizes the view box to fit. */
export function place(sections, stageLabel = 'Stage') {
  const all = sections.flatMap((s) => s.rows.flatMap((r) => r.seats));
  if (!all.length) return { width: 400, height: 200, stage: { x: 100, y: PAD, width: 200, height: STAGE_HEIGHT, label: stageLabel }, sections };
  const minX = Math.min(...all.map((s) => s.x));
  const maxX = Math.max(...all.map((s) => s.x));
  const minY = Math.min(...all.map((s) => s.y));
  const maxY = Math.max(...all.map((s) => s.y));
  const top = PAD + STAGE_HEIGHT + STAGE_GAP;
  const width = round(Math.max(maxX - minX + 2 * PAD + 32, 240));
  const left = (width - (maxX - minX)) / 2;
  for (const seat of all) {
    seat.x = round(seat.x - minX + left);
    seat.y = round(seat.y - minY + top);
  }
  const height = round(maxY - minY + top + PAD);
  const stageWidth = round(Math.max(width * 0.42, 80));
  return {
    width,
    height,
    stage: { x: round((width - stageWidth) / 2), y: PAD, width: stageWidth, height: STAGE_HEIGHT, label: stageLabel },
    sections,
  };
}

/** RFC 4180 fields: quotes around fields with commas, quotes doubled inside. */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 1; } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i += 1;
      row.push(field);
      field = '';
      if (row.some((f) => f.trim() !== '')) rows.push(row);
      row = [];
    } else field += c;
  }
  row.push(field);
  if (row.some((f) => f.trim() !== '')) rows.push(row);
  return rows;
}

/**
 * A layout from CSV with a header naming at least section, row, seat, x and y (optionally
 * accessible and companion: 1/true/yes). Seats keep their coordinates, moved under a stage.
 * Throws an Error whose message says what is wrong, with the line.
 */
export function layoutFromCsv(text) {
  const [header, ...lines] = parseCsv(text.replace(/^\uFEFF/, ''));
  if (!header) throw new Error('The file is empty.');
  const col = Object.fromEntries(header.map((h, i) => [h.trim().toLowerCase(), i]));
  for (const need of ['section', 'row', 'seat', 'x', 'y']) {
    if (!(need in col)) throw new Error(`The first line must name the columns section, row, seat, x and y; “${need}” is missing.`);
  }
  const yes = (v) => /^(1|true|yes|y|x)$/i.test(String(v ?? '').trim());
  const sections = new Map();
  const ids = new Set();
  lines.forEach((fields, i) => {
    const get = (name) => (fields[col[name]] ?? '').trim();
    const x = Number(get('x'));
    const y = Number(get('y'));
    if (!get('section') || !get('row') || !get('seat') || !Number.isFinite(x) || !Number.isFinite(y) || get('x') === '' || get('y') === '') {
      throw new Error(`Line ${i + 2}: each seat needs a section, a row, a seat number and numeric x and y.`);
    }
    const name = get('section');
    if (!sections.has(name)) sections.set(name, { id: slug(name, `section-${sections.size + 1}`), name, rows: new Map() });
    const section = sections.get(name);
    if (!section.rows.has(get('row'))) section.rows.set(get('row'), []);
    let id = slug(`${get('row')}-${get('seat')}`, `seat-${i + 1}`);
    if (ids.has(id)) id = slug(`${section.id}-${get('row')}-${get('seat')}`, `seat-${i + 1}`);
    if (ids.has(id)) throw new Error(`Line ${i + 2}: seat ${get('seat')} of row ${get('row')} in ${name} appears twice.`);
    ids.add(id);
    section.rows.get(get('row')).push({ id, label: get('seat'), x, y, accessible: 'accessible' in col && yes(get('accessible')), ...('companion' in col && yes(get('companion')) ? { companion: true } : {}) });
  });
  if (!ids.size) throw new Error('The file has no seats.');
  const seen = new Set();
  const list = [...sections.values()].map((s) => {
    let id = s.id;
    while (seen.has(id)) id = `${id}-2`;
    seen.add(id);
    return { id, name: s.name, rows: [...s.rows.entries()].map(([label, seats]) => ({ label, seats })) };
  });
  return place(list);
}

/** A layout from JSON: a layout itself, or `{name, layout}` as the API takes and answers it. */
export function layoutFromJson(text) {
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error('The file is not valid JSON.');
  }
  const layout = data?.layout?.sections ? data.layout : data?.venue?.layout?.sections ? data.venue.layout : data;
  if (!layout || !Array.isArray(layout.sections)) throw new Error('The JSON has no “sections”: it must be a layout, or {name, layout}.');
  if (!layout.stage) {
    return { ...place(layout.sections), name: data?.name };
  }
  return { ...layout, name: data?.name ?? data?.venue?.name };
}

/** Every seat of a layout with its section and row. */
export function* seatsOf(layout) {
  for (const section of layout.sections || []) {
    for (const row of section.rows || []) for (const seat of row.seats || []) yield { section, row, seat };
  }
}

export const seatCount = (layout) => [...seatsOf(layout)].length;
