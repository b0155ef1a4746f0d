//! What the `arcp` binary does with `tracing` spans and events.
//!
//! - By default nothing is installed: stdout and stderr stay exactly as without tracing
//!   (interop parses `arcp serve`'s output).
//! - `RUST_LOG=arcp_agents=info` (the `tracing_subscriber::filter::Targets` syntax:
//!   `target=level` pairs or one level, comma-separated) prints matching events, and a line
//!   per closed span, on stderr.
//! - Built with the `otel` feature and run with `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans (the
//!   `arcp.job` span of every job, filtered by `RUST_LOG`, default `info`) are also exported
//!   over OTLP/HTTP with service name `arcp`.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// Flushes and stops the exporter (if any) when dropped.
pub(super) struct Telemetry {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        #[cfg(feature = "otel")]
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown();
        }
    }
}

/// `RUST_LOG` as a filter: `None` when unset or unparsable (then nothing is printed).
fn env_filter() -> Option<Targets> {
    std::env::var("RUST_LOG").ok()?.parse().ok()
}

/// Installs the global subscriber the environment asks for (see the module docs).
pub(super) fn init() -> Telemetry {
    let filter = env_filter();
    #[cfg(feature = "otel")]
    let fmt_filter = filter.clone();
    #[cfg(not(feature = "otel"))]
    let fmt_filter = filter;
    let fmt = fmt_filter.map(|f| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            // One line per closed span (e.g. `arcp.job` with its fields) besides events.
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_filter(f)
    });
    #[cfg(feature = "otel")]
    {
        let (otel, provider) = match otel_layer(filter) {
            Some((l, p)) => (Some(l), Some(p)),
            None => (None, None),
        };
        if fmt.is_some() || otel.is_some() {
            let _ = Registry::default().with(otel).with(fmt).try_init();
        }
        Telemetry { provider }
    }
    #[cfg(not(feature = "otel"))]
    {
        if fmt.is_some() {
            let _ = Registry::default().with(fmt).try_init();
        }
        Telemetry {}
    }
}

/// The OpenTelemetry layer, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set and the exporter
/// builds (a failure is one line on stderr, and the CLI goes on without exporting).
#[cfg(feature = "otel")]
fn otel_layer(
    filter: Option<Targets>,
) -> Option<(
    Box<dyn Layer<Registry> + Send + Sync>,
    opentelemetry_sdk::trace::SdkTracerProvider,
)> {
    use opentelemetry::trace::TracerProvider as _;
    std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT")?;
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
    {
        Ok(e) => e,
        Err(e) => {
            eprintln!("warning: OpenTelemetry export disabled: {e}");
            return None;
        }
    };
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name("arcp")
                .build(),
        )
        .build();
    let filter = filter.unwrap_or_else(|| {
        Targets::new().with_default(tracing_subscriber::filter::LevelFilter::INFO)
    });
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("arcp"))
        .with_filter(filter)
        .boxed();
    Some((layer, provider))
}
