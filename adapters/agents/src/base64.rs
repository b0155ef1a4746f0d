//! Standard base64 (RFC 4648 §4, with padding) for `base64` result chunks, through the
//! `base64` crate (well kept, already in the tree through arcp-auth); the core's
//! `arcp_proto::client::decode_base64` is its inverse.

use base64::Engine as _;

/// Encodes `data` as padded standard base64.
pub fn encode_base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

#[cfg(test)]
mod tests {
    use super::encode_base64;
    use arcp_proto::client::decode_base64;

    #[test]
    fn rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, enc) in cases {
            assert_eq!(encode_base64(plain.as_bytes()), enc);
        }
    }

    #[test]
    fn round_trips_through_the_core_decoder() {
        let data: Vec<u8> = (0..=255u8).collect();
        for n in 0..data.len() {
            let enc = encode_base64(&data[..n]);
            assert_eq!(decode_base64(&enc).as_deref(), Some(&data[..n]));
        }
    }
}
