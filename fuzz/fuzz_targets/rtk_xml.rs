#![no_main]
//! libFuzzer entry point for [`ctscreen_fuzz::rtk_xml`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ctscreen_fuzz::rtk_xml(data);
});
