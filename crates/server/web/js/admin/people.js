// People: who runs the sale. Door staff scan tickets; admins run this app. An admin makes door
// staff by e-mail (the account must exist) and takes the role away again.
import { api } from '../api.js';
import { h, flash } from '../util.js';
import { showError, field } from './mapedit.js';

const ROLE_WORDS = { staff: 'Door staff', admin: 'Admin' };

export async function peopleView(body, params, app) {
  app.setTitle('People');
  const email = h('input', { type: 'email', required: true, autocomplete: 'off', placeholder: 'door@example.com', 'data-testid': 'staff-email' });
  const error = h('div', { class: 'form-error', role: 'alert', 'data-testid': 'people-error' });
  const list = h('div', {});

  const setRole = async (address, role) => {
    error.replaceChildren();
    try {
      const { user } = await api('/admin/users/role', { method: 'PUT', body: { email: address, role } });
      flash(role === 'buyer' ? `${user.email} is no longer door staff.` : `${user.email} is now ${ROLE_WORDS[role].toLowerCase()}.`, 'success');
      await load();
      return true;
    } catch (err) {
      showError(error, err);
      return false;
    }
  };

  async function load() {
    const { users } = await api('/admin/users');
    const me = app.session.user?.email;
    list.replaceChildren(h('table', { class: 'admin-table', 'data-testid': 'people' },
      h('thead', {}, h('tr', {}, h('th', { text: 'Name' }), h('th', { text: 'E-mail' }), h('th', { text: 'Role' }), h('th', {}, h('span', { class: 'sr-only', text: 'Actions' })))),
      h('tbody', {}, users.map((u) => h('tr', { 'data-email': u.email },
        h('td', { text: u.name }),
        h('td', { text: u.email }),
        h('td', { text: ROLE_WORDS[u.role] || u.role }),
        h('td', {}, u.role === 'staff'
          ? h('button', { type: 'button', class: 'btn ghost small', 'data-testid': `remove-${u.email}`, onclick: () => setRole(u.email, 'buyer') }, 'Remove from staff')
          : u.email === me ? h('span', { class: 'hint', text: 'You' }) : null),
      )))));
  }

  body.replaceChildren(
    h('h1', { tabindex: '-1', text: 'People' }),
    h('p', { class: 'lead', text: 'Door staff can check tickets in at the door; admins run the sale here.' }),
    h('form', { class: 'card admin-form search-form', onsubmit: (e) => { e.preventDefault(); if (email.value.trim()) setRole(email.value.trim(), 'staff').then((done) => { if (done) email.value = ''; }); } },
      field('Make door staff (an existing account’s e-mail)', email),
      h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'make-staff' }, 'Make door staff'),
    ),
    error,
    list,
  );
  try {
    await load();
  } catch (err) {
    showError(error, err);
  }
  app.ready();
}
