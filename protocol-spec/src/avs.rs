//! The Swiss social insurance number (AHV/AVS number, "NAVS13"): 13 digits, country prefix
//! 756, EAN-13 check digit. Errors never repeat the number: it is personal data.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Domain separator of the person commitment written into log entries.
pub const COMMITMENT_CONTEXT: &[u8] = b"passerelle/v1 person-commitment\n";

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Avs([u8; 13]);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AvsError {
    #[error("invalid social insurance number: expected 13 digits, found {0}")]
    Length(usize),
    #[error(
        "invalid social insurance number: only digits and the dots of 756.XXXX.XXXX.XX are allowed"
    )]
    NotDigit,
    #[error("invalid social insurance number: it must start with 756")]
    Country,
    #[error("invalid social insurance number: check digit does not match")]
    CheckDigit,
}

/// EAN-13 check digit of the first 12 digits: weights 1 and 3 alternating from the left.
pub fn check_digit(first12: &[u8; 12]) -> u8 {
    let sum: u32 = first12
        .iter()
        .enumerate()
        .map(|(i, d)| u32::from(*d) * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

impl Avs {
    /// The 13 digits, without dots.
    pub fn digits(&self) -> String {
        self.0.iter().map(|d| char::from(b'0' + d)).collect()
    }

    /// SHA-256(context || salt || 13 ASCII digits): lets an auditor who holds the number find
    /// the entries about the person, while the entry alone reveals nothing.
    pub fn commitment(&self, salt: &[u8; 32]) -> [u8; 32] {
        crate::keys::sha256(&[COMMITMENT_CONTEXT, salt, self.digits().as_bytes()])
    }
}

impl FromStr for Avs {
    type Err = AvsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let dotted = s.len() == 16
            && s.as_bytes()[3] == b'.'
            && s.as_bytes()[8] == b'.'
            && s.as_bytes()[13] == b'.';
        let mut digits = Vec::with_capacity(13);
        for (i, c) in s.bytes().enumerate() {
            match c {
                b'0'..=b'9' => digits.push(c - b'0'),
                b'.' if dotted && matches!(i, 3 | 8 | 13) => {}
                _ => return Err(AvsError::NotDigit),
            }
        }
        let digits: [u8; 13] = digits
            .as_slice()
            .try_into()
            .map_err(|_| AvsError::Length(digits.len()))?;
        if digits[..3] != [7, 5, 6] {
            return Err(AvsError::Country);
        }
        let first12: [u8; 12] = digits[..12].try_into().expect("12 digits");
        if check_digit(&first12) != digits[12] {
            return Err(AvsError::CheckDigit);
        }
        Ok(Avs(digits))
    }
}

impl fmt::Display for Avs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.digits();
        write!(f, "{}.{}.{}.{}", &d[..3], &d[3..7], &d[7..11], &d[11..])
    }
}

// Debug is the dotted form too; callers keep it out of logs (the node never traces persons).
impl fmt::Debug for Avs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Avs({self})")
    }
}

impl Serialize for Avs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.digits())
    }
}

impl<'de> Deserialize<'de> for Avs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_numbers() {
        // 7+15+6+27+2+3+7+0+7+18+9+24 = 125 -> check digit 5.
        let a: Avs = "756.9217.0769.85".parse().unwrap();
        assert_eq!(a.digits(), "7569217076985");
        assert_eq!(a.to_string(), "756.9217.0769.85");
        assert_eq!("7569217076985".parse::<Avs>().unwrap(), a);
        assert_eq!("7569217076984".parse::<Avs>(), Err(AvsError::CheckDigit));
        assert_eq!("756921707698".parse::<Avs>(), Err(AvsError::Length(12)));
        assert_eq!("1234567890128".parse::<Avs>(), Err(AvsError::Country));
        assert_eq!("756.9217.0769.8x".parse::<Avs>(), Err(AvsError::NotDigit));
        assert_eq!("7569.217.0769.85".parse::<Avs>(), Err(AvsError::NotDigit));
    }

    #[test]
    fn errors_do_not_repeat_the_number() {
        let e = "7569217076984".parse::<Avs>().unwrap_err().to_string();
        assert!(!e.contains("7569217076984") && !e.contains("9217"));
    }

    proptest! {
        #[test]
        fn computed_check_digits_validate_and_any_single_change_fails(body in proptest::array::uniform9(0u8..10), pos in 3usize..13, delta in 1u8..10) {
            let mut first12 = [7, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            first12[3..].copy_from_slice(&body);
            let mut digits = first12.to_vec();
            digits.push(check_digit(&first12));
            let text: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            prop_assert!(text.parse::<Avs>().is_ok());
            let mut bad = digits.clone();
            bad[pos] = (bad[pos] + delta) % 10;
            let text: String = bad.iter().map(|d| char::from(b'0' + d)).collect();
            prop_assert!(text.parse::<Avs>().is_err());
        }
    }
}
