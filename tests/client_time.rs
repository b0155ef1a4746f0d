//! Time never runs backwards inside a `ClientSession`: every input's and command's `now` is
//! clamped to the latest seen, so an input stamped earlier neither moves a deadline back nor
//! fires a timer early or twice (issue #17 part 5).

mod client_support;

use arcp_proto::client::{AutoAck, ClientConfig};
use client_support::*;
use std::time::Duration;

fn types(frames: &[arcp_proto::wire::Frame]) -> Vec<&'static str> {
    frames.iter().map(|f| f.message_type().as_str()).collect()
}

#[test]
fn a_reconnect_stamped_earlier_keeps_the_heartbeat_deadlines_d25() {
    let mut c = client(ClientConfig {
        auto_ping: true,
        ..config()
    });
    c.handle_connected(ms(0));
    txs(&mut c);
    feed(
        &mut c,
        ms(1),
        welcome(SID, TOKEN1, Some(10), &["heartbeat"]),
    );
    evs(&mut c);
    // Ping 10 s after the hello; lost 20 s after the welcome.
    assert_eq!(c.poll_timeout(), Some(ms(10_000)));
    c.handle_timeout(ms(10_000));
    assert_eq!(types(&txs(&mut c)), ["session.ping"]);
    assert_eq!(c.poll_timeout(), Some(ms(20_000)));
    c.handle_disconnected(ms(100_000));
    // The host's clock stepped back: the reconnect and the welcome are stamped 50 s and
    // 51 s, but count as 100 s.
    c.handle_connected(ms(50_000));
    assert_eq!(types(&txs(&mut c)), ["session.hello"]);
    feed(
        &mut c,
        ms(51_000),
        welcome(SID, TOKEN2, Some(10), &["heartbeat"]),
    );
    evs(&mut c);
    assert_eq!(c.poll_timeout(), Some(ms(110_000)));
    // Due at 60 s by the stepped clock, but not by the session's: nothing yet.
    c.handle_timeout(ms(60_000));
    c.handle_timeout(ms(109_999));
    assert!(txs(&mut c).is_empty());
    assert_eq!(c.poll_timeout(), Some(ms(110_000)));
    c.handle_timeout(ms(110_000));
    assert_eq!(types(&txs(&mut c)), ["session.ping"]);
    assert_eq!(c.poll_timeout(), Some(ms(120_000)));
}

#[test]
fn an_ack_stamped_earlier_does_not_bring_the_next_auto_ack_forward() {
    let mut c = open(ClientConfig {
        auto_ack: Some(AutoAck {
            every_n: 1,
            interval: Duration::from_secs(5),
        }),
        ..config()
    });
    feed(&mut c, ms(10_000), log(JOB, 1));
    assert_eq!(seqs(&evs(&mut c)), [1]);
    // The first automatic ack is due at once.
    assert_eq!(c.poll_timeout(), Some(ms(0)));
    c.handle_timeout(ms(10_000));
    assert_eq!(types(&txs(&mut c)), ["session.ack"]);
    assert_eq!(c.poll_timeout(), None);
    feed(&mut c, ms(11_000), log(JOB, 2));
    assert_eq!(seqs(&evs(&mut c)), [2]);
    assert_eq!(c.poll_timeout(), Some(ms(15_000)));
    // A manual ack stamped 3 s counts as sent at 11 s: the next automatic one is 5 s
    // after that, never earlier.
    c.ack(ms(3_000), 2).unwrap();
    assert_eq!(types(&txs(&mut c)), ["session.ack"]);
    feed(&mut c, ms(4_000), log(JOB, 3));
    assert_eq!(seqs(&evs(&mut c)), [3]);
    assert_eq!(c.poll_timeout(), Some(ms(16_000)));
    c.handle_timeout(ms(8_000));
    c.handle_timeout(ms(15_999));
    assert!(txs(&mut c).is_empty());
    c.handle_timeout(ms(16_000));
    let acks = txs(&mut c);
    assert_eq!(types(&acks), ["session.ack"]);
    assert_eq!(json_of(&acks[0])["payload"]["last_processed_seq"], 3);
    assert_eq!(c.poll_timeout(), None);
}
