#![no_main]
//! libFuzzer entry point for [`ctscreen_fuzz::nifti`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ctscreen_fuzz::nifti(data);
});
