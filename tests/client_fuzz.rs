//! The `client` fuzz target's entry point on fixed and proptest-generated inputs, so
//! `cargo test` exercises it (invariants are asserted inside `client_steps`).

use arcp_proto::fuzzing::client_steps;
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
fn fixed_inputs() {
    client_steps(&[]);
    client_steps(&[0; 64]);
    client_steps(&[0xff; 64]);
    // Connect, then a run of in-sequence runtime frames.
    let mut connect_then_frames = vec![0u8; 9];
    connect_then_frames.extend(std::iter::repeat_n([3u8, 0, 2, 0, 0, 0, 0], 50).flatten());
    client_steps(&connect_then_frames);
    for seed in 0..300 {
        client_steps(&splitmix(seed, 2048));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
    #[test]
    fn arbitrary_inputs(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        client_steps(&data);
    }
}
