//! The `lease` fuzz target's entry point, run on fixed inputs and on random bytes so that
//! `cargo test` exercises its invariants (no panic, subset soundness, exact costs).

use arcp_proto::fuzzing::lease_ops;
use proptest::prelude::*;

#[test]
fn fixed_inputs() {
    let inputs: [&[u8]; 6] = [
        b"",
        &[0; 64],
        &[0xff; 64],
        b"\x01\x00\x02\x03\x01\x05\x07\x09\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b",
        b"fs.read /project/** ../../etc/passwd gpt-*-mini* a*b abxb USD:1.00 0.40",
        &[
            3, 0, 2, 8, 9, 9, 1, 1, 7, 0, 3, 4, 4, 1, 0, 2, 5, 5, 5, 0, 1, 1, 1, 1, 0, 9, 8, 7, 6,
            5, 4, 3, 2, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
        ],
    ];
    for data in inputs {
        lease_ops(data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        lease_ops(&data);
    }
}
