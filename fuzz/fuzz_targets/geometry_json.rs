#![no_main]
//! libFuzzer entry point for [`ctscreen_fuzz::geometry_json`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ctscreen_fuzz::geometry_json(data);
});
