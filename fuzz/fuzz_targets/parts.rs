#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| arcp_proto::fuzzing::parts(data));
