//! Contracts the targets assert beyond "no panic": a value a decoder accepted encodes again,
//! and decoding that encoding gives the same value.

use protocol_spec::wire::{WireError, decode_frame, encode_frame};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// decode(encode(x)) == x for postcard.
pub fn postcard_round_trip<T>(value: &T)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let bytes = postcard::to_stdvec(value).expect("a decoded value encodes");
    let again: T = postcard::from_bytes(&bytes).expect("an encoded value decodes");
    assert_eq!(&again, value);
}

/// A message read from a frame body goes into a frame and comes back the same.
pub fn frame_round_trip<T>(message: &T)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    match encode_frame(message) {
        Ok(frame) => assert_eq!(decode_frame::<T>(&frame).as_ref(), Ok(message)),
        // Postcard accepts a few spellings of one value; the shortest may still be too long
        // only if the input was, which the decoder refused already.
        Err(e @ WireError::TooLarge { .. }) => panic!("a decoded message re-encodes as {e}"),
        Err(e) => panic!("a decoded message does not encode: {e}"),
    }
}

/// decode(encode(x)) == x for TOML.
pub fn toml_round_trip<T>(value: &T)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let text = toml::to_string(value).expect("a decoded value encodes as TOML");
    let again: T = toml::from_str(&text).expect("TOML written by toml reads back");
    assert_eq!(&again, value);
}

/// `spec/records.md` §6: a problem's reason never repeats a social insurance number, a name,
/// a birth date or a value, and quotes a category, key or field name only when it is a
/// lowercase token (`[a-z0-9_-]{1,32}`). The CSV headers and the punctuation in the JSON
/// parser's fixed messages (`expected `,` or `]``) are the parsers' own words.
pub fn reason_echoes_nothing(reason: &str) {
    const HEADERS: [&str; 2] = ["avs,name,birth_date", "avs,category,field,value"];
    let token = |s: &str| {
        (1..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    };
    let punctuation = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_punctuation());
    for quoted in reason.split('`').skip(1).step_by(2) {
        assert!(
            token(quoted) || punctuation(quoted) || HEADERS.contains(&quoted),
            "reason quotes `{quoted}`: {reason}"
        );
    }
    // Line numbers and limits have at most 8 digits; a social insurance number has 13.
    let digits: Vec<&str> = reason.split(|c: char| !c.is_ascii_digit()).collect();
    assert!(
        digits.iter().all(|run| run.len() <= 8),
        "reason holds a long number: {reason}"
    );
    // A date `YYYY-MM-DD` or a dotted number `756.NNNN.NNNN.NN` is personal data.
    let bytes = reason.as_bytes();
    for w in bytes.windows(10) {
        let shape = |i: usize, sep: u8| {
            w.iter().enumerate().all(|(j, b)| {
                if j == i || j == i + 3 {
                    *b == sep
                } else {
                    b.is_ascii_digit()
                }
            })
        };
        assert!(!shape(4, b'-'), "reason holds a date: {reason}");
    }
    let dotted = reason
        .match_indices("756.")
        .any(|(i, _)| bytes.get(i + 4).is_some_and(u8::is_ascii_digit));
    assert!(!dotted, "reason holds a dotted number: {reason}");
}
