//! Text a person could be fooled by, or a database could choke on: refused in every field.
//!
//! Control characters (NUL among them: PostgreSQL cannot store it in `text`), the bidirectional
//! overrides and isolates that make "moc.elpmaxe@" read as "example.com", and the zero-width
//! characters that make two different strings look the same.

use super::InvalidInput;

/// Whether `c` may appear in any text we accept.
pub(crate) fn is_allowed(c: char) -> bool {
    !(c.is_control() || is_bidi_control(c) || is_invisible(c))
}

/// The first character of `text` we refuse, if any.
pub(crate) fn first_refused(text: &str) -> Option<char> {
    text.chars().find(|&c| !is_allowed(c))
}

/// Refuses `text` when it holds a character we do not accept; `field` names it in the error.
pub(crate) fn check(field: &str, text: &str) -> Result<(), InvalidInput> {
    match first_refused(text) {
        None => Ok(()),
        Some(c) => Err(refused(field, c)),
    }
}

/// The 422 for a refused character in `field` (a JSON pointer such as `/email`, or a name).
pub fn refused(field: &str, c: char) -> InvalidInput {
    let mut e = InvalidInput::new(
        "invalid_characters",
        "Control, bidirectional and invisible characters are not accepted.",
    );
    e.details = Some(serde_json::json!({
        "field": field,
        "character": format!("U+{:04X}", c as u32),
    }));
    e
}

fn is_bidi_control(c: char) -> bool {
    matches!(c,
        '\u{061C}' // Arabic letter mark
        | '\u{200E}' | '\u{200F}' // left-to-right and right-to-left marks
        | '\u{202A}'..='\u{202E}' // embeddings and overrides
        | '\u{2066}'..='\u{2069}' // isolates
    )
}

fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' // soft hyphen
        | '\u{034F}' // combining grapheme joiner
        | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
        | '\u{180E}' // Mongolian vowel separator
        | '\u{200B}'..='\u{200D}' // zero-width space, non-joiner, joiner
        | '\u{2028}' | '\u{2029}' // line and paragraph separators
        | '\u{2060}'..='\u{2064}' // word joiner and invisible operators
        | '\u{206A}'..='\u{206F}' // deprecated format characters
        | '\u{FEFF}' // zero-width no-break space
        | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
    )
}

/// Every string in a JSON document, keys included, with its JSON pointer: the first refused one.
pub fn first_refused_in_json(value: &serde_json::Value) -> Option<(String, char)> {
    fn walk(value: &serde_json::Value, path: &mut String) -> Option<(String, char)> {
        match value {
            serde_json::Value::String(s) => first_refused(s).map(|c| (path.clone(), c)),
            serde_json::Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                let found = walk(item, path);
                path.truncate(len);
                found
            }),
            serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
                let len = path.len();
                path.push('/');
                path.push_str(&key.replace('~', "~0").replace('/', "~1"));
                let found = first_refused(key)
                    .map(|c| (path.clone(), c))
                    .or_else(|| walk(item, path));
                path.truncate(len);
                found
            }),
            _ => None,
        }
    }
    walk(value, &mut String::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nul_and_other_control_characters_are_refused() {
        for s in ["a\0b", "tab\there", "new\nline", "del\u{7f}", "c1\u{85}"] {
            assert!(first_refused(s).is_some(), "{s:?} was accepted");
        }
    }

    #[test]
    fn bidi_overrides_and_isolates_are_refused() {
        for s in ["\u{202E}moc.elpmaxe", "a\u{2066}b", "x\u{200F}", "\u{061C}"] {
            assert!(first_refused(s).is_some(), "{s:?} was accepted");
        }
    }

    #[test]
    fn zero_width_characters_are_refused() {
        for s in ["ad\u{200B}min", "a\u{200D}b", "\u{FEFF}x", "a\u{2060}b"] {
            assert!(first_refused(s).is_some(), "{s:?} was accepted");
        }
    }

    #[test]
    fn ordinary_text_in_any_script_is_accepted() {
        for s in [
            "Ann Lee",
            "Zoë Ærø",
            "東京ドーム",
            "مسرح",
            "Ōsaka — Hall 2",
            "🎟 VIP",
        ] {
            assert_eq!(first_refused(s), None, "{s:?} was refused");
        }
    }

    #[test]
    fn the_error_names_the_field_and_the_character() {
        let e = check("/email", "a\0@b.com").unwrap_err();
        assert_eq!(e.code, "invalid_characters");
        assert_eq!(
            e.details,
            Some(serde_json::json!({"field": "/email", "character": "U+0000"}))
        );
    }

    #[test]
    fn a_refused_character_is_found_anywhere_in_a_json_document() {
        let doc = serde_json::json!({"a": [1, {"b": "ok", "c": "x\u{202E}"}]});
        assert_eq!(
            first_refused_in_json(&doc),
            Some(("/a/1/c".to_owned(), '\u{202E}'))
        );
        let key = serde_json::json!({"se\u{0}at": "A-1"});
        assert_eq!(first_refused_in_json(&key).map(|(_, c)| c), Some('\0'));
        assert_eq!(
            first_refused_in_json(&serde_json::json!({"a": ["b", 1]})),
            None
        );
    }

    proptest! {
        #[test]
        fn accepted_text_never_holds_a_control_character(s in "\\PC*|.*") {
            if first_refused(&s).is_none() {
                let spoofing = ['\u{202E}', '\u{200B}', '\u{2066}', '\u{FEFF}'];
                prop_assert!(!s.chars().any(|c| c.is_control() || spoofing.contains(&c)), "accepted {:?}", s);
            }
        }
    }
}
