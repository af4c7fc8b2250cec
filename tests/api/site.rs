//! The buyer's site under content-hashed names: index.html revalidated with an ETag, hashed
//! assets immutable, module imports pointing at hashed names, and `boxoffice export-static`.

use std::{collections::BTreeMap, io::Read, path::Path};

use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::helpers::TestApp;

/// The name a file must have: its SHA-256, first 10 bytes in hex, before the extension.
fn hash_in_name(path: &str) -> &str {
    let file = path.rsplit('/').next().unwrap();
    let mut parts = file.rsplitn(3, '.');
    let (_ext, hash) = (parts.next().unwrap(), parts.next().unwrap());
    hash
}

fn sha_prefix(bytes: &[u8]) -> String {
    Sha256::digest(bytes)[..10]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `/assets/…` paths named by `src="…"` and `href="…"` in a page.
fn asset_links(html: &str) -> Vec<String> {
    html.split(['"', '\''])
        .filter(|s| s.starts_with("/assets/"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_page_is_revalidated_and_names_hashed_assets_that_are_immutable() {
    let app = TestApp::spawn().await;
    let r = app.get("/").await;
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    assert_eq!(h["cache-control"], "no-cache");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    let etag = h["etag"].to_str().unwrap().to_owned();
    let html = r.text().await.unwrap();
    let links = asset_links(&html);
    assert!(
        links.iter().any(|l| l.starts_with("/assets/js/app.")),
        "{html}"
    );
    assert!(
        links.iter().any(|l| l.starts_with("/assets/style.")),
        "{html}"
    );
    assert!(
        !html.contains("\"/js/"),
        "no plain script names left: {html}"
    );

    let again = app
        .api
        .get(app.url("/"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    for link in &links {
        let r = app
            .api
            .get(app.url(link))
            .header("accept-encoding", "br")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{link}");
        let h = r.headers().clone();
        assert_eq!(
            h["cache-control"], "public, max-age=31536000, immutable",
            "{link}"
        );
        assert_eq!(h["content-encoding"], "br", "{link}");
        let mut body = Vec::new();
        brotli::Decompressor::new(&r.bytes().await.unwrap()[..], 4096)
            .read_to_end(&mut body)
            .unwrap();
        assert_eq!(
            sha_prefix(&body),
            hash_in_name(link),
            "{link} is named after its bytes"
        );
        if link.ends_with(".js") {
            assert!(
                h["content-type"].to_str().unwrap().contains("javascript"),
                "{link}: {:?}",
                h["content-type"]
            );
            let text = String::from_utf8(body).unwrap();
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let spec = line.rsplit(['\'', '"']).nth(1).unwrap();
                assert!(
                    spec.starts_with("./") && hash_in_name(spec).len() == 20,
                    "{link}: {line}"
                );
            }
        }
    }
    let r = app.get("/assets/js/app.0000000000.js").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // The plain names still answer, for pages from before a release.
    let r = app.get("/js/app.js").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=300")
    );
}

fn files_under(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if entry.file_type().unwrap().is_dir() {
            files_under(&entry.path(), &format!("{name}/"), out);
        } else {
            out.insert(name, std::fs::read(entry.path()).unwrap());
        }
    }
}

#[tokio::test]
async fn export_static_writes_the_hashed_site_with_precompressed_copies_for_a_bucket() {
    let dir = std::env::temp_dir().join(format!("bo-export-{}", uuid::Uuid::new_v4().simple()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_boxoffice"))
        .arg("export-static")
        .arg(&dir)
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files = BTreeMap::new();
    files_under(&dir, "", &mut files);
    std::fs::remove_dir_all(&dir).ok();

    let index = String::from_utf8(files["index.html"].clone()).unwrap();
    let manifest: BTreeMap<String, String> =
        serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(
        manifest["js/app.js"],
        asset_links(&index)
            .iter()
            .find(|l| l.contains("/js/app."))
            .unwrap()[1..]
    );
    for link in asset_links(&index) {
        assert!(files.contains_key(&link[1..]), "{link} is exported");
    }
    let mut assets = 0;
    for (path, bytes) in &files {
        if path.ends_with(".gz") || path.ends_with(".br") || path == "manifest.json" {
            continue;
        }
        let mut gz = Vec::new();
        flate2::read::GzDecoder::new(&files[&format!("{path}.gz")][..])
            .read_to_end(&mut gz)
            .unwrap();
        let mut br = Vec::new();
        brotli::Decompressor::new(&files[&format!("{path}.br")][..], 4096)
            .read_to_end(&mut br)
            .unwrap();
        assert_eq!((&gz, &br), (bytes, bytes), "{path}: precompressed copies");
        if path != "index.html" {
            assert!(path.starts_with("assets/"), "{path}");
            assert_eq!(sha_prefix(bytes), hash_in_name(path), "{path}");
            assets += 1;
        }
    }
    assert_eq!(assets, manifest.len());
    assert!(
        manifest.keys().any(|k| k == "js/seatmap.js") && manifest.keys().any(|k| k == "style.css")
    );

    // The server serves the very same bytes.
    let app = TestApp::spawn().await;
    let served = app.get("/").await.bytes().await.unwrap();
    assert_eq!(served.to_vec(), files["index.html"]);

    // The whole buyer's site gzipped, with the demo event's map, stays under 100 KB. The pages
    // only staff open are left out: the door (`js/door/`) and the organiser's app (`js/admin/`).
    // app.js loads each with a dynamic `import()` when it is opened, and no module a buyer loads
    // imports them statically.
    let staff_only =
        |p: &str| p.starts_with("assets/js/door/") || p.starts_with("assets/js/admin/");
    for (path, bytes) in files
        .iter()
        .filter(|(p, _)| p.ends_with(".js") && !staff_only(p))
    {
        let text = String::from_utf8_lossy(bytes);
        for line in text.lines().filter(|l| l.starts_with("import ")) {
            assert!(
                !line.contains("/door/") && !line.contains("/admin/"),
                "{path} loads a staff page eagerly: {line}"
            );
        }
    }
    assert!(
        files.keys().any(|p| p.starts_with("assets/js/door/")),
        "the door's modules are exported too"
    );
    assert!(files.keys().any(|p| p.starts_with("assets/js/admin/")));
    let site: usize = files
        .iter()
        .filter(|(p, _)| p.ends_with(".gz") && !staff_only(p))
        .map(|(_, b)| b.len())
        .sum();
    let layout_url = app.event().await["layout_url"].as_str().unwrap().to_owned();
    let layout = app
        .api
        .get(app.url(&layout_url))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .len();
    assert!(
        site + layout < 100 * 1024,
        "site {site} + map {layout} bytes gzipped"
    );
}
