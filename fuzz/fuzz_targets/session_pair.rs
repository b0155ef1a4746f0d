#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| arcp_proto::fuzzing::session_pair(data));

/// AddressSanitizer defaults for this target (an `ASAN_OPTIONS` variable still overrides
/// them). `malloc_context_size=0`: no stack trace is recorded per allocation; unwinding and
/// storing one for each of the many small allocations a step makes was about 15 % of the
/// run time. Detection is unchanged (`arcp-proto` forbids unsafe code); to see allocation
/// stacks in a report, replay the input with `ASAN_OPTIONS=malloc_context_size=30`.
/// `detect_stack_use_after_return=0`: no fake stack frame per call (about 10 % of a
/// `session_pair` run). A stack use after return needs a dangling pointer to a returned
/// frame, which the safe code of `arcp-proto` cannot make; heap errors are still caught.
#[unsafe(no_mangle)]
pub extern "C" fn __asan_default_options() -> *const std::ffi::c_char {
    c"malloc_context_size=0:detect_stack_use_after_return=0".as_ptr()
}
