//! The `runtime` fuzz target's entry point on fixed inputs and under proptest.

use arcp_proto::fuzzing::runtime_steps;
use proptest::prelude::*;

fn splitmix(seed: u64, len: usize) -> Vec<u8> {
    let mut s = seed;
    (0..len)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}

#[test]
fn fixed_inputs_keep_every_invariant() {
    runtime_steps(&[]);
    runtime_steps(&[0; 64]);
    runtime_steps(&[255; 64]);
    for seed in 0..150 {
        runtime_steps(&splitmix(seed, 4096));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn arbitrary_steps_keep_every_invariant(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        runtime_steps(&data);
    }
}
