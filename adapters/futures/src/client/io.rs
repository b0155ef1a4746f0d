//! The futures side of the shared channel client ([`arcp_client::channel`]): the transports
//! of `link.rs`, the `async-io` clock and timer, and the builder.

use super::ClientBuilder;
use super::link::Link;
use arcp_client::channel::{ChannelAdapter, ChannelLink, ChannelTransport};
use arcp_client::{Client, ClientError, ClientOptions, Inbound, Target, Wait};
use std::future::Future;
use std::time::Instant;

/// arcp-futures, as the channel client sees it.
#[derive(Debug)]
pub struct Futures;

/// How an arcp-futures [`Client`](super::Client) reaches its driver task.
pub type FuturesLink = ChannelLink<Futures>;

impl ChannelAdapter for Futures {
    type Builder = ClientBuilder;

    fn builder(options: ClientOptions) -> ClientBuilder {
        ClientBuilder::with_options(options)
    }

    fn options(target: Target) -> ClientOptions {
        ClientOptions::new(target, "arcp-futures", env!("CARGO_PKG_VERSION"))
    }

    fn connect(
        options: ClientOptions,
    ) -> impl Future<Output = Result<Client<FuturesLink>, ClientError>> + Send {
        ClientBuilder::with_options(options).connect()
    }
}

/// The driver task's transport and timer on `futures-io` / `async-io`.
pub(crate) struct FuturesIo {
    pub(crate) target: Target,
    pub(crate) max_frame_bytes: usize,
}

impl ChannelTransport for FuturesIo {
    type Transport = Link;

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn open(&self) -> impl Future<Output = Result<Link, ClientError>> + Send {
        Link::open(&self.target, self.max_frame_bytes)
    }

    fn send(t: &mut Link, frame: Vec<u8>) -> impl Future<Output = Result<(), String>> + Send {
        t.send(frame)
    }

    fn recv(t: &mut Link) -> impl Future<Output = Inbound> + Send {
        t.recv()
    }

    fn close(t: Link) -> impl Future<Output = ()> + Send {
        t.close()
    }

    fn sleep_until(&self, at: Instant) -> Wait {
        let timer = async_io::Timer::at(at);
        Box::pin(async move {
            timer.await;
        })
    }
}
