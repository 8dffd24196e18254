#![no_main]
//! libFuzzer entry point for [`ctscreen_fuzz::dicom`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ctscreen_fuzz::dicom(data);
});
