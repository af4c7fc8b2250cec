// The waiting room page: the buyer's place in line, the people ahead and the wait, kept live
// until it is their turn. The place belongs to the account, so a reload finds it again.
import { api } from './api.js';
import { h, longDate, announce } from './util.js';

const number = new Intl.NumberFormat(undefined);

/** "about 3 minutes", "under a minute", … */
function waitText(seconds) {
  if (seconds < 60) return 'under a minute';
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `about ${minutes} minute${minutes === 1 ? '' : 's'}`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return `about ${hours} hour${hours === 1 ? '' : 's'}${rest ? ` ${rest} min` : ''}`;
}

/** How long to wait before asking again: sooner as the turn nears, never a stampede. */
function nextPollMs(place, retryAfter) {
  if (retryAfter) return retryAfter * 1000;
  const base = place ? Math.min(Math.max(place.eta_seconds * 100, 1500), 5_000) : 2000;
  return base * (0.8 + Math.random() * 0.4);
}

/**
 * Resolves once the buyer is admitted to `event` (at once if it has no waiting room), showing
 * the line in `main` meanwhile. `isGone()` tells when the buyer has left the page.
 */
export async function waitForAdmission(main, event, app, isGone) {
  if (!event.waiting_room?.enabled) return;
  const path = `/events/${encodeURIComponent(event.id)}/queue`;
  if (!app.session.user) {
    main.replaceChildren(
      h('h1', { tabindex: '-1', text: event.name }),
      h('p', { text: 'This sale has a waiting room, so that everyone gets a fair turn. Sign in to join the line.' }),
      h('p', {}, h('a', { class: 'btn primary', href: `#/login?next=${encodeURIComponent(`#/events/${event.id}`)}`, text: 'Sign in to join the line' })),
    );
    app.ready();
    return new Promise(() => {});
  }

  const position = h('strong', { class: 'queue-number', 'data-testid': 'queue-position', text: '…' });
  const ahead = h('span', { 'data-testid': 'queue-ahead', text: '…' });
  const eta = h('span', { 'data-testid': 'queue-eta', text: '…' });
  const bar = h('progress', { class: 'queue-progress', max: '100', value: '0', 'aria-label': 'Progress through the line' });
  const opening = h('p', { class: 'queue-opening', hidden: true });
  const problem = h('p', { class: 'queue-problem', role: 'alert', hidden: true });
  const spoken = h('p', { class: 'sr-only', 'aria-live': 'polite', 'aria-atomic': 'true' });

  main.replaceChildren(
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/', text: 'Events' }), h('span', { 'aria-hidden': 'true', text: ' / ' }), h('span', { 'aria-current': 'page', text: event.name })),
    h('section', { class: 'queue card', 'data-testid': 'waiting-room', 'aria-labelledby': 'queue-title' },
      h('h1', { id: 'queue-title', tabindex: '-1', text: `You're in line for ${event.name}` }),
      h('p', { class: 'muted', text: [event.venue?.name, longDate(event.starts_at)].filter(Boolean).join(' · ') }),
      opening,
      h('dl', { class: 'queue-figures' },
        h('div', {}, h('dt', { text: 'Your place in line' }), h('dd', {}, position)),
        h('div', {}, h('dt', { text: 'People ahead of you' }), h('dd', {}, ahead)),
        h('div', {}, h('dt', { text: 'Estimated wait' }), h('dd', {}, eta)),
      ),
      bar,
      problem,
      h('p', { text: "Keep this page open: the seat map opens by itself when it's your turn. Reloading or coming back later keeps your place." }),
      spoken,
    ),
  );
  app.setTitle(`In line · ${event.name}`);
  app.ready();

  let firstAhead = null;
  let lastSpoken = 0;
  const show = (place) => {
    problem.hidden = true;
    position.textContent = number.format(place.position);
    ahead.textContent = number.format(place.ahead);
    eta.textContent = waitText(place.eta_seconds);
    if (firstAhead === null || place.ahead > firstAhead) firstAhead = Math.max(place.ahead, 1);
    bar.value = Math.round(100 * (1 - place.ahead / firstAhead));
    opening.hidden = !place.before_opening;
    opening.textContent = place.before_opening
      ? `The sale opens ${longDate(event.sale_opens_at)}. Everyone who arrives before then is given a random place when it opens, so there is no need to rush or reload.`
      : '';
    // Screen readers hear the place when it changes, at most every 20 seconds.
    if (Date.now() - lastSpoken > 20_000) {
      lastSpoken = Date.now();
      spoken.textContent = `Place in line ${number.format(place.position)}, ${number.format(place.ahead)} ahead, estimated wait ${waitText(place.eta_seconds)}.`;
    }
  };

  let place = null;
  let method = 'POST';
  for (;;) {
    if (isGone()) return new Promise(() => {});
    let retryAfter = null;
    try {
      ({ place } = await api(path, { method }));
      method = 'GET';
      if (place.status === 'admitted') {
        announce("It's your turn. The seat map is open.");
        return;
      }
      show(place);
    } catch (err) {
      if (err.status === 401) {
        app.session.user = null;
        app.refreshHeader();
        app.navigate(`#/login?next=${encodeURIComponent(`#/events/${event.id}`)}`);
        return new Promise(() => {});
      }
      // Not in line (say, an admission that lapsed): join again.
      if (err.status === 404) method = 'POST';
      retryAfter = err.retryAfter;
      problem.hidden = false;
      problem.textContent = err.transient
        ? "We can't reach the box office for a moment; your place is kept and we'll keep trying."
        : err.message;
    }
    await new Promise((resolve) => setTimeout(resolve, nextPollMs(place, retryAfter)));
  }
}
