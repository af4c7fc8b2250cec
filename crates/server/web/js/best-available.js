// "Find me N seats": the buyer says how many (and, if they like, which price) and the server
// chooses the best seats together; the event page then opens the same payment window as a pick.
import { h, money, plural } from './util.js';

/**
 * @param {{categories: Map<string, {name: string, price_cents: number, currency: string}>, max: number,
 *   onFind: (count: number, categoryId: string | null) => void}} options
 * @returns {{element: HTMLElement, render: (state: {busy: boolean, blocked: boolean}) => void, focus: () => void}}
 */
export function bestAvailableForm({ categories, max, onFind }) {
  const count = h('select', { id: 'best-count', 'data-testid': 'best-count', onchange: () => label() },
    Array.from({ length: max }, (_, i) => h('option', { value: String(i + 1), text: String(i + 1) })),
  );
  count.value = String(Math.min(2, max));
  const category = h('select', { id: 'best-category', 'data-testid': 'best-category' },
    h('option', { value: '', text: 'Any price' }),
    [...categories].map(([id, c]) => h('option', { value: id, text: `${c.name} · ${money(c.price_cents, c.currency)}` })),
  );
  const button = h('button', { type: 'submit', class: 'btn secondary wide', 'data-testid': 'best-button' });
  let busy = false;

  function label() {
    button.textContent = busy ? 'Finding your seats…' : `Find me ${plural(Number(count.value), 'seat', 'seats')}`;
  }

  const form = h('form', {
    class: 'best-form',
    'aria-labelledby': 'best-title',
    'aria-describedby': 'best-help',
    onsubmit: (e) => {
      e.preventDefault();
      if (!busy) onFind(Number(count.value), category.value || null);
    },
  },
  h('h2', { id: 'best-title', text: 'Best available' }),
  h('p', { id: 'best-help', class: 'muted best-help', text: 'We choose the best seats side by side, nearest the centre of the stage.' }),
  h('div', { class: 'best-fields' },
    h('div', { class: 'field' }, h('label', { for: 'best-count', text: 'Seats' }), count),
    categories.size > 1 ? h('div', { class: 'field' }, h('label', { for: 'best-category', text: 'Price' }), category) : null,
  ),
  button,
  );
  label();

  return {
    element: form,
    render({ busy: nowBusy, blocked }) {
      busy = nowBusy;
      button.disabled = nowBusy || blocked;
      label();
    },
    focus: () => button.focus(),
  };
}
