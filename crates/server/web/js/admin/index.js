// The organiser's app at #/admin, loaded only when an admin opens it. To anyone else it is a page
// that does not exist (the server refuses every /admin API call to them anyway).
import { h } from '../util.js';

const SECTIONS = [
  ['venues', 'Venues', () => import('./venues.js'), 'venuesView'],
  ['events', 'Events', () => import('./events.js'), 'eventsView'],
  ['orders', 'Orders', () => import('./orders.js'), 'ordersView'],
  ['people', 'People', () => import('./people.js'), 'peopleView'],
  ['dashboard', 'Live sales', () => import('./dashboard.js'), 'dashboardView'],
];

let stylesheet = null;
/** The organiser's styles, apart from the buyer's stylesheet so the buyer's pages stay small. */
function loadStyles() {
  if (stylesheet) return;
  stylesheet = h('link', { rel: 'stylesheet', href: '/js/admin/admin.css' });
  document.head.append(stylesheet);
}

export function notFound(main, app) {
  app.setTitle('Not found');
  main.replaceChildren(h('h1', { tabindex: '-1', text: 'Page not found' }), h('p', {}, h('a', { href: '#/', text: 'See all events' })));
  app.ready();
}

/** `rest` is the path after #/admin/, e.g. `venues/new` or `events/abc`. */
export function adminPage(main, params, app) {
  if (app.session.user?.role !== 'admin') {
    notFound(main, app);
    return null;
  }
  loadStyles();
  const [section = 'venues', ...rest] = (params.rest || '').split('/').filter(Boolean);
  const entry = SECTIONS.find(([key]) => key === section);
  if (!entry) {
    notFound(main, app);
    return null;
  }
  const nav = h('nav', { class: 'admin-nav', 'aria-label': 'Organiser' },
    SECTIONS.map(([key, label]) => h('a', { href: `#/admin/${key}`, 'aria-current': key === section ? 'page' : undefined, text: label })),
  );
  const body = h('div', { class: 'admin-body' }, h('p', { class: 'loading', text: 'Loading…' }));
  main.replaceChildren(h('div', { class: 'admin' }, nav, body));
  let inner = null;
  let gone = false;
  entry[2]().then(async (m) => {
    if (gone) return;
    // A view may render after a fetch and hand back its cleanup (closing a stream) only then.
    const cleanup = await m[entry[3]](body, { ...params, path: rest }, app);
    if (typeof cleanup !== 'function') return;
    if (gone) cleanup();
    else inner = cleanup;
  });
  return () => {
    gone = true;
    if (typeof inner === 'function') inner();
  };
}
