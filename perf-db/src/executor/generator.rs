//! A minimal safe async generator: lets the pool's `fetch_many` own its connection while a
//! stream borrowing that connection yields rows (a self-referential state otherwise).

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures::Stream;
use futures::future::BoxFuture;

/// Hands one item from the generating future to the stream.
#[derive(Debug)]
pub(crate) struct Yielder<T> {
    slot: Arc<Mutex<Option<T>>>,
}

impl<T> Yielder<T> {
    /// Parks `item` and suspends the generator once, so the stream returns it.
    pub(crate) async fn send(&self, item: T) {
        *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(item);
        let mut suspended = false;
        // No waker is registered: the stream polling us returns the item right away and is
        // polled again by its consumer.
        poll_fn(|_| {
            if suspended {
                Poll::Ready(())
            } else {
                suspended = true;
                Poll::Pending
            }
        })
        .await;
    }
}

/// A stream fed by an async block through a [`Yielder`].
pub(crate) struct Generator<'a, T> {
    slot: Arc<Mutex<Option<T>>>,
    future: Option<BoxFuture<'a, Result<(), sqlx::Error>>>,
}

impl<T> std::fmt::Debug for Generator<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator")
            .field("done", &self.future.is_none())
            .finish()
    }
}

impl<'a, T: Send + 'a> Generator<'a, T> {
    pub(crate) fn new<F, Fut>(body: F) -> Self
    where
        F: FnOnce(Yielder<T>) -> Fut,
        Fut: Future<Output = Result<(), sqlx::Error>> + Send + 'a,
    {
        let slot = Arc::new(Mutex::new(None));
        let future = Box::pin(body(Yielder {
            slot: Arc::clone(&slot),
        }));
        Self {
            slot,
            future: Some(future),
        }
    }
}

impl<T> Stream for Generator<'_, T> {
    type Item = Result<T, sqlx::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let Some(future) = this.future.as_mut() else {
            return Poll::Ready(None);
        };
        match future.as_mut().poll(cx) {
            Poll::Ready(result) => {
                this.future = None;
                match result {
                    Ok(()) => Poll::Ready(None),
                    Err(error) => Poll::Ready(Some(Err(error))),
                }
            }
            Poll::Pending => {
                match this
                    .slot
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take()
                {
                    Some(item) => Poll::Ready(Some(Ok(item))),
                    None => Poll::Pending,
                }
            }
        }
    }
}
