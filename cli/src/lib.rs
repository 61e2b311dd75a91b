//! Passerelle command-line interface: staff commands that talk to their own node over the
//! staff protocol, steering-group commands that edit and sign rosters, and the demo.
#![forbid(unsafe_code)]

pub mod audit;
pub mod bench;
pub mod client;
pub mod commands;
pub mod credential;
pub mod dashboard;
pub mod dashboard_figures;
pub mod dashboard_html;
pub mod dates;
pub mod demo;
pub mod docs;
pub mod federation;
pub mod files;
pub mod harness;
pub mod output;
pub mod overlap;
pub mod records;
pub mod render;
pub mod rotation;
pub mod setup;
pub mod stats;
pub mod table;
pub mod values;
