// The door page's styles, loaded with it rather than in the buyer's stylesheet. A constructed stylesheet needs no
// request (the page may already be offline) and no exception in the Content-Security-Policy.

const CSS = `
.door { max-width: 560px; margin: 0 auto; }
.door [hidden] { display: none !important; }
.door h1 { margin-bottom: .2em; }
.door-setup { display: grid; grid-template-columns: 1fr 9.5rem; gap: 12px; padding: 14px 16px; margin-bottom: 12px; }
.door-setup .field { margin: 0; }
.door-setup select { width: 100%; min-height: 44px; padding: 8px 10px; font: inherit; color: var(--ink); background: #fff; border: 1px solid #b9bdca; border-radius: 10px; }
.door-status { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; margin: 0 0 12px; font-size: .92rem; }
.door-net { display: inline-flex; align-items: center; gap: 6px; padding: 3px 10px; border-radius: 999px; font-weight: 650; background: var(--ok-soft); color: var(--ok); }
.door-net::before { content: ""; width: .6em; height: .6em; border-radius: 50%; background: currentColor; }
.door-net[data-online="false"] { background: #eceef3; color: #374151; }
.door-result { border-radius: var(--radius); padding: 22px 18px; margin-bottom: 14px; min-height: 9.5rem; display: flex; flex-direction: column; justify-content: center; text-align: center; background: var(--card); border: 2px dashed var(--line); }
.door-verdict { font-size: clamp(2rem, 1.4rem + 4vw, 2.8rem); font-weight: 800; line-height: 1.1; margin: 0 0 .2em; letter-spacing: -.01em; }
.door-detail { font-size: 1.2rem; font-weight: 600; margin: 0; }
.door-note { margin: .5em 0 0; font-size: .95rem; }
.door-result[data-result="idle"] { color: var(--muted); }
.door-result[data-result="idle"] .door-verdict { font-size: 1.3rem; font-weight: 650; }
.door-result[data-result="idle"] .door-detail { font-size: 1rem; font-weight: 400; }
.door-result[data-result="admitted"] { background: #067647; border: 2px solid #05603a; color: #fff; }
.door-result[data-result="already"], .door-result[data-result="unverified"] { background: #fbbf24; border: 2px solid #d97706; color: #1f1300; }
.door-result[data-result="invalid"] { background: #b42318; border: 2px solid #912018; color: #fff; }
.door-manual { display: flex; gap: 8px; margin-bottom: 12px; }
.door-manual .field { flex: 1; margin: 0; }
.door-manual label { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.door-manual .btn { flex: none; min-width: 6rem; }
.door-camera { margin-bottom: 14px; }
.door-camera video { display: block; width: 100%; max-height: 55vh; margin-top: 10px; border-radius: var(--radius); background: #111; object-fit: cover; }
.door-camera video[hidden] { display: none; }
.door-counts, .door-sync { padding: 14px 16px; margin-bottom: 12px; }
.door-counts h2, .door-sync h2 { font-size: 1rem; margin-bottom: .4em; }
.door-total { font-size: 1.1rem; margin-bottom: .4em; }
.door-gates { list-style: none; padding: 0; margin: 0; display: grid; grid-template-columns: repeat(auto-fill, minmax(8.5rem, 1fr)); gap: 6px; }
.door-gates li { display: flex; justify-content: space-between; gap: 8px; padding: 6px 10px; border-radius: 8px; background: #f3f4f8; }
.door-sync ul { margin: .3em 0 0; padding-left: 1.2em; }
.door-sync[data-problems="true"] { border-left: 6px solid #d97706; }
.door-away { max-width: 560px; margin: 0 auto; padding: 20px; }
@media (max-width: 420px) {
  .door-setup { grid-template-columns: 1fr; }
}
`;

let sheet = null;

/** Adds the door's styles to the document, once. */
export function useDoorStyles() {
  if (sheet) return;
  sheet = new CSSStyleSheet();
  sheet.replaceSync(CSS);
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
}
