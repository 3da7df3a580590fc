//! The client's error type: transport failures, server error replies, and the two typed refusals
//! a change feed can meet when it resumes ([`Error::EpochChanged`], [`Error::Trimmed`]).

/// Everything a call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The socket failed (connect, read or write).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The connection closed before the reply arrived.
    #[error("connection closed")]
    Closed,
    /// The server answered with an error line (`ERR ...`, `WRONGTYPE ...`, `NOAUTH ...`).
    #[error("{0}")]
    Server(String),
    /// The server sent something this client does not understand.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A reply did not have the shape the typed call expected.
    #[error("unexpected reply: {0}")]
    Decode(String),
    /// A change feed cannot continue: the log's history changed since the epoch it started
    /// with (`ERR EPOCH ...`). Start again from a snapshot.
    #[error("{0}")]
    EpochChanged(String),
    /// A change feed cannot continue: the offset it needs is no longer held by the log
    /// (`ERR TRIMMED ...`); `earliest` is the oldest offset still available, when the server
    /// named it.
    #[error("{message}")]
    Trimmed {
        /// The server's error line.
        message: String,
        /// The earliest offset still held.
        earliest: Option<u64>,
    },
}

impl Error {
    /// Turns a server error line into an error, typing the change feed's refusals.
    pub(crate) fn from_server(line: String) -> Error {
        if line.starts_with("ERR EPOCH") {
            Error::EpochChanged(line)
        } else if line.starts_with("ERR TRIMMED") {
            let earliest = line
                .rsplit("earliest available offset is ")
                .next()
                .filter(|_| line.contains("earliest available offset is "))
                .and_then(|rest| {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    digits.parse().ok()
                });
            Error::Trimmed {
                message: line,
                earliest,
            }
        } else {
            Error::Server(line)
        }
    }

    /// The error code of a server error (`ERR`, `WRONGTYPE`, `BUSYGROUP`, ...).
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Server(l) | Error::EpochChanged(l) | Error::Trimmed { message: l, .. } => {
                l.split(' ').next()
            }
            _ => None,
        }
    }

    /// True for the refusals that end a change feed for good (the server will not resume it).
    pub fn is_resume_refused(&self) -> bool {
        matches!(self, Error::EpochChanged(_) | Error::Trimmed { .. })
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_typed() {
        let e = Error::from_server(
            "ERR TRIMMED the change log no longer holds offset 1; the earliest available offset is 5001"
                .into(),
        );
        assert!(
            matches!(
                e,
                Error::Trimmed {
                    earliest: Some(5001),
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.is_resume_refused());
        let e = Error::from_server("ERR EPOCH the change log's history changed: x".into());
        assert!(matches!(e, Error::EpochChanged(_)));
        let e = Error::from_server("WRONGTYPE Operation against a key".into());
        assert_eq!(e.code(), Some("WRONGTYPE"));
        assert!(!e.is_resume_refused());
    }
}
