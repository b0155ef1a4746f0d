//! The two lines every example shares: `--url` and the token.

#![allow(dead_code)]

/// The `--url URL` argument (required for now), parsed by hand; exits 2 when missing.
pub fn url() -> String {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--url" {
            if let Some(url) = args.next() {
                return url;
            }
        } else if let Some(url) = arg.strip_prefix("--url=") {
            return url.to_owned();
        }
    }
    let name = std::env::args().next().unwrap_or_else(|| "example".into());
    eprintln!("usage: {name} --url ws://127.0.0.1:PORT/arcp");
    std::process::exit(2);
}

/// `ARCP_TOKEN`, or the contract token `alice-token`.
pub fn token() -> String {
    std::env::var("ARCP_TOKEN").unwrap_or_else(|_| "alice-token".to_owned())
}
