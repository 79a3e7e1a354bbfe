//! Structured logs: one JSON object per line on stdout, filtered by `RUST_LOG` / `LOG_LEVEL`.

use tracing_subscriber::EnvFilter;

#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("log filter {value:?} (from RUST_LOG or LOG_LEVEL) is invalid: {source}")]
    Filter {
        value: String,
        source: tracing_subscriber::filter::ParseError,
    },
    #[error("could not install the log subscriber: {0}")]
    Install(String),
}

pub fn init(filter: &str) -> Result<(), LoggingError> {
    let env_filter = EnvFilter::try_new(filter).map_err(|source| LoggingError::Filter {
        value: filter.to_owned(),
        source,
    })?;
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_env_filter(env_filter)
        .with_writer(std::io::stdout)
        .try_init()
        .map_err(|err| LoggingError::Install(err.to_string()))
}
