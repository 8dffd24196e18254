#![no_main]
//! libFuzzer entry point for [`ctscreen_fuzz::nifti_gz`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ctscreen_fuzz::nifti_gz(data);
});
