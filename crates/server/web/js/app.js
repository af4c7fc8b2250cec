// Entry point: who is signed in, the header, and the hash router that swaps views in <main>.
import { api } from './api.js';
import { h, flash, viewChanged } from './util.js';
import { eventPage } from './event-page.js';
import { loginPage, eventsPage, orderPage, ticketsPage } from './pages.js';

const main = document.getElementById('main');
const account = document.getElementById('account');

/**
 * A view whose module is fetched the first time it is opened, so that pages only staff use stay out of what every
 * buyer downloads. `load` is a dynamic import; `name` the view function it exports.
 */
function lazyView(load, name) {
  return (main, params, app) => {
    let inner = null;
    let left = false;
    main.replaceChildren(h('p', { class: 'loading', text: 'Loading…' }));
    load().then((module) => {
      if (!left) inner = module[name](main, params, app) || null;
    }, () => {
      if (!left) main.replaceChildren(h('h1', { tabindex: '-1', text: 'This page could not be loaded' }), h('p', { text: 'Check the connection and reload the page.' }));
    });
    return () => {
      left = true;
      if (typeof inner === 'function') inner();
    };
  };
}

const routes = [
  [/^\/?$/, eventsPage],
  [/^\/events\/([^/]+)$/, eventPage, ['id']],
  [/^\/orders\/([^/]+)$/, orderPage, ['id']],
  [/^\/tickets$/, ticketsPage],
  [/^\/login$/, loginPage],
  [/^\/door$/, lazyView(() => import('./door/page.js'), 'doorPage')],
  [/^\/admin\/?(.*)$/, lazyView(() => import('./admin/index.js'), 'adminPage'), ['rest']],
];

const app = {
  session: { user: null },
  navigate(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
  setTitle(title) {
    document.title = title ? `${title} · boxoffice` : 'boxoffice';
  },
  refreshHeader,
};

let cleanup = null;
let firstRoute = true;

function route() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = raw.split('?');
  const params = Object.fromEntries(new URLSearchParams(query));
  if (typeof cleanup === 'function') cleanup();
  cleanup = null;
  viewChanged();

  let view = null;
  for (const [re, fn, names = []] of routes) {
    const m = path.match(re);
    if (m) {
      names.forEach((name, i) => (params[name] = decodeURIComponent(m[i + 1])));
      view = fn;
      break;
    }
  }
  markCurrentNav(path);
  if (!view) {
    app.setTitle('Not found');
    main.replaceChildren(h('h1', { tabindex: '-1', text: 'Page not found' }), h('p', {}, h('a', { href: '#/', text: 'See all events' })));
  } else {
    cleanup = view(main, params, app) || null;
  }
  if (!firstRoute) window.scrollTo(0, 0);
  // Views that render after a fetch call app.ready() themselves once their heading exists.
  pendingFocus = !firstRoute;
  if (!main.querySelector('.loading')) app.ready();
  firstRoute = false;
}

let pendingFocus = false;
/** Move focus to the new page's heading so screen readers hear the change; never on first load. */
app.ready = () => {
  if (!pendingFocus) return;
  const heading = main.querySelector('h1');
  if (!heading) return;
  pendingFocus = false;
  heading.focus({ preventScroll: true });
};

function markCurrentNav(path) {
  for (const a of document.querySelectorAll('.site-nav a')) {
    const target = a.getAttribute('href').slice(1);
    const current = target === '/' ? path === '/' || path.startsWith('/events') : path.startsWith(target);
    if (current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

const SIGNED_IN_HINT = 'boxoffice.signedIn';

/** Remember that this browser has a session, so a first-time visitor never triggers a 401 on /me. */
function storeHint(on) {
  try {
    if (on) localStorage.setItem(SIGNED_IN_HINT, '1');
    else localStorage.removeItem(SIGNED_IN_HINT);
    return true;
  } catch {
    return false;
  }
}

function hinted() {
  try {
    return localStorage.getItem(SIGNED_IN_HINT) !== null;
  } catch {
    return true; // Storage disabled: just ask the server every time.
  }
}

/** Door staff and admins get a link to the door page; buyers never see one. */
function showDoorLink(user) {
  const nav = document.querySelector('.site-nav');
  const link = nav?.querySelector('[data-testid="door-link"]');
  const staff = user && (user.role === 'staff' || user.role === 'admin');
  if (staff && !link) nav?.append(h('a', { href: '#/door', 'data-testid': 'door-link', text: 'Door' }));
  if (!staff && link) link.remove();
}

function refreshHeader() {
  const user = app.session.user;
  showDoorLink(user);
  if (user) {
    storeHint(true);
    // replaceChildren would write a null as the text "null": only what is there goes in.
    account.replaceChildren(...[
      h('span', { class: 'user', title: `Signed in as ${user.email}` },
        h('span', { class: 'avatar', 'aria-hidden': 'true', text: initials(user.name || user.email) }),
        h('span', { class: 'user-name', 'data-testid': 'signed-in-user', text: user.name || user.email }),
      ),
      user.role === 'admin' ? h('a', { class: 'btn ghost small', href: '#/admin', 'data-testid': 'admin-link', text: 'Organiser' }) : null,
      h('button', { type: 'button', class: 'btn ghost small', onclick: signOut }, 'Sign out'),
    ].filter(Boolean));
  } else {
    account.replaceChildren(h('a', { class: 'btn ghost small', href: '#/login', text: 'Sign in' }));
  }
}

const initials = (name) => name.split(/\s+/).filter(Boolean).slice(0, 2).map((p) => p[0].toUpperCase()).join('') || '?';

async function signOut() {
  try {
    await api('/auth/logout', { method: 'POST' });
  } catch {
    // Even if the server is unreachable, forget the user locally; the cookie is HttpOnly.
  }
  app.session.user = null;
  storeHint(false);
  refreshHeader();
  flash("You're signed out.", 'info');
  app.navigate('#/');
}

async function start() {
  if (hinted()) {
    try {
      const { user } = await api('/me');
      app.session.user = user;
    } catch (err) {
      if (err.status === 401) storeHint(false);
    }
  }
  refreshHeader();
  window.addEventListener('hashchange', route);
  route();
}

start();
