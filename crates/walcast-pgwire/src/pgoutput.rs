//! Sans-IO decoder for pgoutput messages (placeholder until the decoder lands).

/// Why a pgoutput message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The message ended before a field was complete.
    #[error("message truncated while reading {what} at offset {offset}")]
    Truncated { what: &'static str, offset: usize },
}
