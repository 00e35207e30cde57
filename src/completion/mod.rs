//! Asynchronous appends: the record is appended at once and its outcome (durable, or why
//! not) arrives later, exactly once, through a future ([`DurableAppend`]) or a
//! [`CompletionQueue`]. The log registers each such append in its [`pending::Pending`]
//! list; whoever advances the durable watermark (a group-commit round, a seal, close)
//! settles the list up to it, and poison or close fail what is left.

pub(crate) mod pending;
mod queue;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use crate::error::{Error, Result};
pub use pending::AsyncLimits;
pub use queue::{Callback, Completion, CompletionQueue, Outcome};

/// The future of [`crate::Log::append_async`]: resolves to the record's id once it is
/// durable, or to the error that kept it from being so (`Poisoned`, `Closed`), or to the
/// error of the append itself. Works on any executor (it needs no runtime of libaof's).
/// Dropping it does not take the record back: it was appended when the call returned.
pub struct DurableAppend {
    state: State,
}

enum State {
    Waiting {
        id: u64,
        rx: oneshot::Receiver<Outcome>,
    },
    Failed(Option<Error>),
}

impl DurableAppend {
    pub(crate) fn waiting(id: u64, rx: oneshot::Receiver<Outcome>) -> Self {
        DurableAppend {
            state: State::Waiting { id, rx },
        }
    }

    pub(crate) fn failed(err: Error) -> Self {
        DurableAppend {
            state: State::Failed(Some(err)),
        }
    }

    /// The record's id, known as soon as the append returned (`None` if it failed).
    pub fn id(&self) -> Option<u64> {
        match &self.state {
            State::Waiting { id, .. } => Some(*id),
            State::Failed(_) => None,
        }
    }
}

impl Future for DurableAppend {
    type Output = Result<u64>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<u64>> {
        match &mut self.state {
            State::Waiting { id, rx } => match Pin::new(rx).poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(outcome)) => Poll::Ready(outcome.into_result().map(|()| *id)),
                // The list never drops a sender unanswered (see `Pending`'s drop).
                Poll::Ready(Err(_)) => Poll::Ready(Err(Error::Closed)),
            },
            State::Failed(err) => Poll::Ready(Err(err.take().unwrap_or(Error::Closed))),
        }
    }
}
