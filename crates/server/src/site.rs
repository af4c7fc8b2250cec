//! The buyer's site as files with content-hashed names, made from `crates/server/web/` when first needed: each
//! asset is renamed `assets/<path>.<hash>.<ext>`, references to assets inside `index.html` and
//! the ES module imports between scripts are rewritten to those names, and every body is
//! compressed once. A hashed file never changes, so browsers and CDNs may keep it for ever;
//! only `index.html` is revalidated. There is no front-end build step: the server does this.
//!
//! A module's name hashes its text after its imports were rewritten, so a change anywhere below
//! it renames it too (otherwise a cached module would import stale code).

use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
    sync::LazyLock,
};

use rust_embed::RustEmbed;

use boxoffice_app::compress::{Coding, Compressed, Effort, content_tag};

#[derive(RustEmbed)]
#[folder = "web/"]
struct Sources;

/// Where hashed assets live in the URL space (and in an exported directory).
pub(crate) const ASSETS_DIR: &str = "assets";

/// One file of the site: its media type and its body, compressed ahead of time.
pub(crate) struct Asset {
    pub(crate) mime: String,
    pub(crate) body: Compressed,
}

/// The buyer's site: `index.html` and its assets under content-hashed names, each compressed
/// ahead of time.
pub struct Site {
    /// `index.html`, with references to hashed names.
    pub(crate) index: Asset,
    /// Hashed path (`assets/js/app.<hash>.js`) → asset.
    pub(crate) hashed: HashMap<String, Asset>,
    /// Source path (`js/app.js`) → its hashed path.
    pub(crate) names: BTreeMap<String, String>,
    /// Source path → the source as it is, for links to the plain names (old pages, bookmarks).
    pub(crate) plain: HashMap<String, Asset>,
}

static SITE: LazyLock<Site> = LazyLock::new(|| {
    let sources = Sources::iter()
        .filter_map(|path| Sources::get(&path).map(|f| (path.into_owned(), f.data.into_owned())))
        .collect();
    Site::build(sources)
});

/// The site built from the embedded `crates/server/web/` directory (once per process).
pub fn site() -> &'static Site {
    &SITE
}

fn asset(path: &str, bytes: Vec<u8>) -> Asset {
    Asset {
        mime: mime_guess::from_path(path)
            .first_or_octet_stream()
            .essence_str()
            .to_owned(),
        body: Compressed::new(bytes, Effort::Once),
    }
}

impl Site {
    /// `sources`: path under `crates/server/web/` → contents.
    pub(crate) fn build(sources: BTreeMap<String, Vec<u8>>) -> Site {
        let mut names = BTreeMap::new();
        let mut texts = BTreeMap::new();
        let mut visiting = Vec::new();
        for path in sources.keys() {
            if path != "index.html" {
                hash_name(path, &sources, &mut names, &mut texts, &mut visiting);
            }
        }
        let index_source = sources.get("index.html").cloned().unwrap_or_default();
        let index = String::from_utf8_lossy(&index_source);
        let index = rewrite_html(&index, &names);
        let hashed = names
            .iter()
            .map(|(source, hashed)| {
                let bytes = texts.remove(source).unwrap_or_default();
                (hashed.clone(), asset(source, bytes))
            })
            .collect();
        let plain = sources
            .iter()
            .map(|(path, bytes)| (path.clone(), asset(path, bytes.clone())))
            .collect();
        Site {
            index: asset("index.html", index.into_bytes()),
            hashed,
            names,
            plain,
        }
    }

    /// Writes the site into `dir` as a bucket behind a CDN would hold it: `index.html` and
    /// `assets/…` with hashed names, each beside its `.gz` and `.br`, and `manifest.json`
    /// (source path → hashed path). Returns the paths written, relative to `dir`.
    pub fn export(&self, dir: &Path) -> std::io::Result<Vec<String>> {
        let mut written = Vec::new();
        let mut write = |relative: &str, bytes: &[u8]| -> std::io::Result<()> {
            let path = dir.join(relative);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, bytes)?;
            written.push(relative.to_owned());
            Ok(())
        };
        let mut files: Vec<(&str, &Asset)> = vec![("index.html", &self.index)];
        files.extend(self.hashed.iter().map(|(p, a)| (p.as_str(), a)));
        files.sort_by_key(|(p, _)| *p);
        for (path, asset) in files {
            for coding in [Coding::Identity, Coding::Gzip, Coding::Brotli] {
                let name = format!("{path}{}", coding.file_suffix().unwrap_or(""));
                write(&name, asset.body.body(coding))?;
            }
        }
        let manifest = serde_json::to_vec_pretty(&self.names).unwrap_or_default();
        write("manifest.json", &manifest)?;
        Ok(written)
    }
}

/// Names `path` after its contents (imports rewritten first, depth first), recording the
/// rewritten text. A module already on the current import chain (a cycle) keeps its plain
/// import: it is still served under its plain name.
fn hash_name(
    path: &str,
    sources: &BTreeMap<String, Vec<u8>>,
    names: &mut BTreeMap<String, String>,
    texts: &mut BTreeMap<String, Vec<u8>>,
    visiting: &mut Vec<String>,
) -> Option<String> {
    if let Some(done) = names.get(path) {
        return Some(done.clone());
    }
    if visiting.iter().any(|p| p == path) {
        return None;
    }
    let bytes = sources.get(path)?;
    let text = if path.ends_with(".js") {
        visiting.push(path.to_owned());
        let source = String::from_utf8_lossy(bytes).into_owned();
        let rewritten = rewrite_imports(&source, path, |target| {
            hash_name(target, sources, names, texts, visiting)
        });
        visiting.pop();
        rewritten.into_bytes()
    } else {
        bytes.clone()
    };
    let hashed = format!("{ASSETS_DIR}/{}", with_hash(path, &content_tag(&text)));
    names.insert(path.to_owned(), hashed.clone());
    texts.insert(path.to_owned(), text);
    Some(hashed)
}

/// `js/app.js` + `ab12` → `js/app.ab12.js`.
fn with_hash(path: &str, hash: &str) -> String {
    let (dir, file) = path.rsplit_once('/').map_or(("", path), |(d, f)| (d, f));
    let named = match file.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
        None => format!("{file}.{hash}"),
    };
    if dir.is_empty() {
        named
    } else {
        format!("{dir}/{named}")
    }
}

/// `./x.js` or `../y/x.js` seen from `from` (a path under `crates/server/web/`), or `None` if it leaves it.
fn resolve(from: &str, specifier: &str) -> Option<String> {
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for piece in specifier.split('/') {
        match piece {
            "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// Every quoted string of a script that is a relative module path (`'./api.js'`) is replaced by
/// the relative path of the hashed file `name_of` gives for it; the hashed files keep the source
/// tree's shape, so the relative form stays valid. Other strings are left alone.
fn rewrite_imports(
    source: &str,
    path: &str,
    mut name_of: impl FnMut(&str) -> Option<String>,
) -> String {
    let mut out = String::with_capacity(source.len() + 256);
    let mut rest = source;
    while let Some(start) = rest.find(['\'', '"']) {
        let quote = rest[start..].chars().next().unwrap_or('\'');
        out.push_str(&rest[..=start]);
        rest = &rest[start + 1..];
        let Some(end) = rest.find([quote, '\n']) else {
            break;
        };
        let literal = &rest[..end];
        let is_module =
            (literal.starts_with("./") || literal.starts_with("../")) && literal.ends_with(".js");
        let replaced = is_module
            .then(|| resolve(path, literal))
            .flatten()
            .and_then(|target| name_of(&target))
            .map(|hashed| {
                let file = hashed.rsplit('/').next().unwrap_or(&hashed);
                let (dir, _) = literal.rsplit_once('/').unwrap_or((".", ""));
                format!("{dir}/{file}")
            });
        out.push_str(replaced.as_deref().unwrap_or(literal));
        rest = &rest[end..];
        if let Some(c) = rest.chars().next() {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out.push_str(rest);
    out
}

/// `href="/style.css"` and `src="/js/app.js"` → the hashed names, for every asset named.
fn rewrite_html(html: &str, names: &BTreeMap<String, String>) -> String {
    let mut out = html.to_owned();
    for attr in ["href", "src"] {
        for (source, hashed) in names {
            out = out.replace(
                &format!("{attr}=\"/{source}\""),
                &format!("{attr}=\"/{hashed}\""),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(files: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        files
            .iter()
            .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
            .collect()
    }

    fn text(site: &Site, source: &str) -> String {
        String::from_utf8(site.hashed[&site.names[source]].body.identity.to_vec()).unwrap()
    }

    #[test]
    fn assets_are_named_after_their_contents_and_index_html_points_at_those_names() {
        let site = Site::build(sources(&[
            (
                "index.html",
                r#"<link rel="stylesheet" href="/style.css"><script type="module" src="/js/app.js"></script>"#,
            ),
            ("style.css", "body{}"),
            (
                "js/app.js",
                "import { a } from './a.js';\nconst s = 'not ./a.js';",
            ),
            ("js/a.js", "export const a = \"./b.js\";"),
        ]));
        let css = &site.names["style.css"];
        assert_eq!(css, &format!("assets/style.{}.css", content_tag(b"body{}")));
        let index = String::from_utf8(site.index.body.identity.to_vec()).unwrap();
        assert!(index.contains(&format!("href=\"/{css}\"")), "{index}");
        assert!(
            index.contains(&format!("src=\"/{}\"", site.names["js/app.js"])),
            "{index}"
        );
        let a = site.names["js/a.js"].rsplit('/').next().unwrap().to_owned();
        assert_eq!(
            text(&site, "js/app.js"),
            format!("import {{ a }} from './{a}';\nconst s = 'not ./a.js';")
        );
        assert_eq!(
            text(&site, "js/a.js"),
            "export const a = \"./b.js\";",
            "no such module: untouched"
        );
        assert_eq!(site.index.mime, "text/html");
        assert_eq!(site.hashed[css].mime, "text/css");
    }

    #[test]
    fn a_change_in_an_imported_module_renames_its_importers_too() {
        let before = Site::build(sources(&[
            ("js/app.js", "import './lib/a.js';"),
            ("js/lib/a.js", "import '../b.js'; 1"),
            ("js/b.js", "export {}"),
        ]));
        let after = Site::build(sources(&[
            ("js/app.js", "import './lib/a.js';"),
            ("js/lib/a.js", "import '../b.js'; 1"),
            ("js/b.js", "export { changed }"),
        ]));
        for module in ["js/app.js", "js/lib/a.js", "js/b.js"] {
            assert_ne!(before.names[module], after.names[module], "{module}");
        }
        let b = after.names["js/b.js"]
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned();
        assert_eq!(text(&after, "js/lib/a.js"), format!("import '../{b}'; 1"));
    }

    #[test]
    fn an_import_cycle_keeps_the_plain_name_where_it_closes() {
        let site = Site::build(sources(&[
            ("js/a.js", "import './b.js';"),
            ("js/b.js", "import './a.js';"),
        ]));
        assert_eq!(text(&site, "js/b.js"), "import './a.js';");
        assert!(text(&site, "js/a.js").starts_with("import './b."));
        assert!(site.plain.contains_key("js/a.js"));
    }

    #[test]
    fn the_real_site_references_only_hashed_scripts_and_every_module_resolves() {
        let site = site();
        let index = String::from_utf8(site.index.body.identity.to_vec()).unwrap();
        assert!(!index.contains("src=\"/js/"), "{index}");
        assert!(!index.contains("href=\"/js/"), "{index}");
        for (source, hashed) in &site.names {
            if !source.ends_with(".js") {
                continue;
            }
            let text = String::from_utf8(site.hashed[hashed].body.identity.to_vec()).unwrap();
            let dir = hashed.rsplit_once('/').map_or("", |(d, _)| d);
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let spec = line.rsplit(['\'', '"']).nth(1).unwrap_or("");
                let target = resolve(&format!("{dir}/x"), spec).unwrap();
                assert!(
                    site.hashed.contains_key(&target),
                    "{source}: {line} → {target}"
                );
            }
        }
    }
}
