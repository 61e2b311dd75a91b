#![no_main]
//! Staff credential files as the CLI reads them: a credential it accepts writes back to a
//! file that reads as the same credential.

use cli::credential::Credential;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let Ok(c) = Credential::from_text(text) else {
        return;
    };
    let again = Credential::from_text(&c.to_text()).expect("a written credential reads back");
    assert_eq!(again.staff, c.staff);
    assert_eq!(again.institution, c.institution);
    assert_eq!(again.role, c.role);
    assert_eq!(again.node_address, c.node_address);
    assert_eq!(again.node_key, c.node_key);
    assert_eq!(again.key.public(), c.key.public());
});
