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
