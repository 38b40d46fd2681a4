//! Arbitrary bytes as a layer stream (gzip, zstd or plain tar, sniffed as
//! the unpacker does), into a fresh directory; see src/lib.rs for the checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ketch_fuzz::unpack_and_check(data, false);
});
