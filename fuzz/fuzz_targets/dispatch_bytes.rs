//! Arbitrary bytes into `Router::dispatch`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    jobwire_fuzz::check(bytes);
});
