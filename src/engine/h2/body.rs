//! A response body: the stream's DATA frames as they arrive, each one's flow-control
//! capacity given back as soon as it is read, so the server can send the rest.

use std::future::poll_fn;

use bytes::Bytes;
use tokio::time::Instant;

use super::error::{H2Error, Stage};

/// The body of a response still to read (the stream is reset if it is dropped unread).
pub struct Body {
    pub(super) recv: ::h2::RecvStream,
    pub(super) deadline: Instant,
}

impl Body {
    /// The exchange's deadline has passed.
    pub fn past_deadline(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// The next piece of the body, `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, H2Error> {
        loop {
            let next = poll_fn(|cx| self.recv.poll_data(cx));
            let data = match tokio::time::timeout_at(self.deadline, next).await {
                Err(_) => return Err(H2Error::TimedOut(Stage::ReadingBody)),
                Ok(None) => return Ok(None),
                Ok(Some(Err(source))) => {
                    return Err(H2Error::Proto {
                        stage: Stage::ReadingBody,
                        source,
                    });
                }
                Ok(Some(Ok(data))) => data,
            };
            if data.is_empty() {
                continue;
            }
            // Read: the server may send as much again.
            let _ = self.recv.flow_control().release_capacity(data.len());
            return Ok(Some(data));
        }
    }
}
