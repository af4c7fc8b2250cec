//! Bodies compressed once, when they are made, then sent as they are to every client: at the
//! opening of a sale thousands of buyers ask for the same bytes, and compressing per request
//! would spend on gzip the CPU the sale needs.

use std::io::Write;

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// A content coding of a response body (RFC 9110, section 8.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// Uncompressed, sent without `Content-Encoding`.
    Identity,
    /// `Content-Encoding: gzip`.
    Gzip,
    /// `Content-Encoding: br`.
    Brotli,
}

impl Coding {
    /// The `Content-Encoding` value, `None` for identity (which is sent without one).
    pub fn header_value(self) -> Option<&'static str> {
        match self {
            Coding::Identity => None,
            Coding::Gzip => Some("gzip"),
            Coding::Brotli => Some("br"),
        }
    }

    /// The suffix of a precompressed file beside the original (`app.js.gz`, `app.js.br`).
    pub fn file_suffix(self) -> Option<&'static str> {
        match self {
            Coding::Identity => None,
            Coding::Gzip => Some(".gz"),
            Coding::Brotli => Some(".br"),
        }
    }
}

/// How hard to compress: once for a body that never changes, or quickly for one remade on every
/// change of the seat map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    /// The smallest output (gzip 9, brotli 11; brotli 9 above 1 MiB), for a body made once and
    /// served for ever.
    Once,
    /// Fast (gzip 6, brotli 5), for a body remade on every change.
    Often,
}

/// Above this, brotli's slowest setting would keep a core busy for seconds (a stadium's layout);
/// one step down is several times faster for a few percent more bytes.
const BROTLI_MAX_QUALITY_LIMIT: usize = 1 << 20;

/// One body in every coding we serve, and its content tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compressed {
    /// The body as it was given.
    pub identity: Bytes,
    /// The same body, gzip-compressed.
    pub gzip: Bytes,
    /// The same body, brotli-compressed.
    pub brotli: Bytes,
    /// Hex of the first 10 bytes of the body's SHA-256: names the content, whatever its coding.
    pub tag: String,
}

impl Compressed {
    /// Compresses `identity` in every coding, as hard as `effort` says, and tags it.
    pub fn new(identity: impl Into<Bytes>, effort: Effort) -> Compressed {
        let identity: Bytes = identity.into();
        let (gzip_level, brotli_quality) = match effort {
            Effort::Once if identity.len() <= BROTLI_MAX_QUALITY_LIMIT => (9, 11),
            Effort::Once => (9, 9),
            Effort::Often => (6, 5),
        };
        Compressed {
            gzip: gzip(&identity, gzip_level).into(),
            brotli: brotli(&identity, brotli_quality).into(),
            tag: content_tag(&identity),
            identity,
        }
    }

    /// The bytes to send in `coding`.
    pub fn body(&self, coding: Coding) -> &Bytes {
        match coding {
            Coding::Identity => &self.identity,
            Coding::Gzip => &self.gzip,
            Coding::Brotli => &self.brotli,
        }
    }
}

/// Hex of the first 10 bytes of SHA-256: 80 bits, plenty to tell one layout from another.
pub fn content_tag(bytes: &[u8]) -> String {
    boxoffice_domain::idempotency::hex(&Sha256::digest(bytes)[..10])
}

fn gzip(data: &[u8], level: u32) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4),
        flate2::Compression::new(level),
    );
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}

fn brotli(data: &[u8], quality: u32) -> Vec<u8> {
    let mut writer =
        brotli::CompressorWriter::new(Vec::with_capacity(data.len() / 4), 16 * 1024, quality, 22);
    let _ = writer.write_all(data);
    writer.into_inner()
}

/// The coding to answer with, given the request's `Accept-Encoding`: the one with the highest
/// q-value among those we have, brotli before gzip before identity on a tie. Identity is
/// acceptable unless the header rules it out; when it rules out everything we answer with
/// identity anyway (RFC 9110 allows it, and a body beats a 406 for a browser).
pub fn negotiate(accept_encoding: Option<&str>) -> Coding {
    let Some(header) = accept_encoding else {
        return Coding::Identity;
    };
    let (mut br, mut gz, mut identity, mut any) = (None, None, None, None);
    for item in header.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = 1.0_f32;
        for param in parts {
            let param = param.trim();
            if let Some(v) = param
                .strip_prefix("q=")
                .or_else(|| param.strip_prefix("Q="))
            {
                q = v.trim().parse::<f32>().unwrap_or(0.0).clamp(0.0, 1.0);
            }
        }
        match name.as_str() {
            "br" => br = Some(q),
            "gzip" | "x-gzip" => gz = Some(q),
            "identity" => identity = Some(q),
            "*" => any = Some(q),
            _ => {}
        }
    }
    let br = br.or(any).unwrap_or(0.0);
    let gz = gz.or(any).unwrap_or(0.0);
    // Not named: acceptable, but below any compression the client asked for.
    let identity = identity
        .or(any.filter(|q| *q == 0.0))
        .unwrap_or(f32::MIN_POSITIVE);
    let mut best = (Coding::Identity, 0.0_f32);
    for (coding, q) in [
        (Coding::Brotli, br),
        (Coding::Gzip, gz),
        (Coding::Identity, identity),
    ] {
        if q > best.1 {
            best = (coding, q);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn brotli_wins_a_tie_and_q_values_decide_otherwise() {
        assert_eq!(negotiate(Some("gzip, deflate, br")), Coding::Brotli);
        assert_eq!(negotiate(Some("gzip;q=1.0, br;q=0.5")), Coding::Gzip);
        assert_eq!(negotiate(Some("br;q=0, gzip")), Coding::Gzip);
        assert_eq!(negotiate(Some("deflate")), Coding::Identity);
        assert_eq!(
            negotiate(Some("identity;q=1, gzip;q=0.5")),
            Coding::Identity
        );
        assert_eq!(negotiate(Some("*")), Coding::Brotli);
        assert_eq!(negotiate(Some("*;q=0.2, br;q=0")), Coding::Gzip);
        assert_eq!(negotiate(Some("GZIP")), Coding::Gzip);
        assert_eq!(negotiate(None), Coding::Identity);
        assert_eq!(negotiate(Some("")), Coding::Identity);
    }

    #[test]
    fn when_the_header_rules_out_everything_identity_is_sent_anyway() {
        assert_eq!(negotiate(Some("*;q=0")), Coding::Identity);
        assert_eq!(negotiate(Some("identity;q=0, br;q=0")), Coding::Identity);
    }

    #[test]
    fn both_compressed_bodies_decode_to_the_original() {
        let original: Vec<u8> = (0..5000)
            .flat_map(|i: u32| format!("seat-{i},").into_bytes())
            .collect();
        for effort in [Effort::Once, Effort::Often] {
            let c = Compressed::new(original.clone(), effort);
            let mut gz = Vec::new();
            flate2::read::GzDecoder::new(&c.gzip[..])
                .read_to_end(&mut gz)
                .unwrap();
            let mut br = Vec::new();
            brotli::Decompressor::new(&c.brotli[..], 4096)
                .read_to_end(&mut br)
                .unwrap();
            assert_eq!(gz, original);
            assert_eq!(br, original);
            assert!(c.brotli.len() < original.len() / 4, "{}", c.brotli.len());
            assert_eq!(c.tag, content_tag(&original));
            assert_eq!(c.tag.len(), 20);
        }
    }
}
