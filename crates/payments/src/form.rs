//! `application/x-www-form-urlencoded` as Stripe's API speaks it: flat `key=value` pairs, nested
//! fields spelled with brackets (`metadata[order_id]=…`, `payment_method_data[card][number]=…`).
//! Both the Stripe client and the sandbox service use these, so what one writes the other reads.

/// Encodes pairs in the given order. Unreserved characters (RFC 3986) pass through; everything
/// else, brackets included, is percent-encoded, as Stripe's own libraries do.
pub fn encode<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        escape_into(&mut out, k.as_ref());
        out.push('=');
        escape_into(&mut out, v.as_ref());
    }
    out
}

fn escape_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// The body could not be read as a form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed form body: {0}")]
pub struct FormError(pub String);

/// Decodes a body into pairs, in order (`+` is a space; `%XX` a byte; the result must be UTF-8).
/// Empty segments (`a=1&&b=2`) are skipped; a key without `=` has an empty value.
pub fn decode(body: &str) -> Result<Vec<(String, String)>, FormError> {
    body.split('&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let (k, v) = segment.split_once('=').unwrap_or((segment, ""));
            Ok((unescape(k)?, unescape(v)?))
        })
        .collect()
}

fn unescape(s: &str) -> Result<String, FormError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let byte = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| FormError(format!("bad percent escape in {s:?}")))?;
                out.push(byte);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| FormError("not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_keys_and_special_characters_are_escaped() {
        let body = encode(&[
            ("amount", "1000"),
            ("metadata[order_id]", "o 1&2=3"),
            ("description", "Café €"),
        ]);
        assert_eq!(
            body,
            "amount=1000&metadata%5Border_id%5D=o%201%262%3D3&description=Caf%C3%A9%20%E2%82%AC"
        );
    }

    #[test]
    fn decoding_inverts_encoding_and_keeps_order() {
        let pairs = vec![
            (
                "payment_method_data[card][number]".to_owned(),
                "4242 4242".to_owned(),
            ),
            ("b".to_owned(), "ä+/?".to_owned()),
            ("a".to_owned(), String::new()),
        ];
        assert_eq!(decode(&encode(&pairs)).unwrap(), pairs);
    }

    #[test]
    fn plus_is_a_space_and_bare_keys_are_empty() {
        assert_eq!(
            decode("a=x+y&&flag&b=%41").unwrap(),
            vec![
                ("a".to_owned(), "x y".to_owned()),
                ("flag".to_owned(), String::new()),
                ("b".to_owned(), "A".to_owned()),
            ]
        );
    }

    #[test]
    fn broken_escapes_and_invalid_utf8_are_errors() {
        assert!(decode("a=%4").is_err());
        assert!(decode("a=%zz").is_err());
        assert!(decode("a=%ff").is_err());
    }
}
