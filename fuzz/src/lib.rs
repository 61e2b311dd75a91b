//! Shared pieces of the fuzz targets: the keys and roster of the JSON test vectors, the
//! contracts every decoder target asserts, and the input format of the audit-bundle target.
#![forbid(unsafe_code)]

pub mod bundle;
pub mod check;
pub mod vectors;
