#![no_main]
//! libFuzzer entry point for [`ctscreen_fuzz::dicos`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ctscreen_fuzz::dicos(data);
});
