//! Logs: tracing's lines on stdout. Under systemd (`$JOURNAL_STREAM` set: stdout is the
//! journal) each line starts with its syslog priority, `<3>` error, `<4>` warning, `<6>`
//! info, `<7>` debug and trace (sd-daemon(3)), so that `journalctl -p warning` works; without
//! colours or timestamps, which the journal has of its own. The same lines, no second logger.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// A line format with the syslog priority in front.
pub struct Journal<F>(pub F);

/// The sd-daemon(3) priority of a level.
pub fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

impl<S, N, F> FormatEvent<S, N> for Journal<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", priority(event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

/// Sets up the logs: JSON lines with `json`, else text; the priority prefix under systemd.
pub fn init(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    match (json, journal) {
        (true, _) => tracing_subscriber::fmt().json().with_env_filter(filter).init(),
        (false, true) => {
            let f = tracing_subscriber::fmt::format().with_ansi(false).without_time();
            tracing_subscriber::fmt()
                .with_ansi(false)
                .event_format(Journal(f))
                .with_env_filter(filter)
                .init();
        }
        (false, false) => tracing_subscriber::fmt().with_env_filter(filter).init(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn journal_lines_carry_their_priority() {
        let buf = Buf::default();
        let out = buf.clone();
        let f = tracing_subscriber::fmt::format().with_ansi(false).without_time();
        let sub = tracing_subscriber::fmt()
            .with_ansi(false)
            .event_format(Journal(f))
            .with_max_level(Level::DEBUG)
            .with_writer(move || out.clone())
            .finish();
        tracing::subscriber::with_default(sub, || {
            tracing::error!("boom");
            tracing::warn!(reason = "Padt", "wan down");
            tracing::info!("wan up");
            tracing::debug!("detail");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let prefixes: Vec<&str> = text.lines().map(|l| &l[..3]).collect();
        assert_eq!(prefixes, ["<3>", "<4>", "<6>", "<7>"], "{text}");
        assert!(
            text.contains("<4> WARN routerd::logging::tests: wan down reason=\"Padt\""),
            "{text}"
        );
    }
}
