//! The workbench's background threads, all here and all of one shape: [`store`] (loading,
//! journaling and saving documents), [`model`] (predicting and explaining, with the
//! inspector's requests in [`explanation`]) and [`training`] (fine-tuning and model versions).
//! The workbench's pure core (`update`) only asks for them through effects and hears back
//! through messages; nothing below this module knows threads exist.
//!
//! [`Worker`] is the shape: a named thread that takes requests from a channel, a panic turned
//! into the reply its request expects ([`guarded`]), a failed spawn logged the same way for
//! all, and the thread joined when its handle is dropped.

pub mod explanation;
pub mod model;
pub mod store;
pub mod training;

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

/// A background thread and the sending end of its requests.
#[derive(Debug)]
pub struct Worker<R> {
    name: &'static str,
    sender: Option<Sender<R>>,
    thread: Option<JoinHandle<()>>,
}

impl<R: Send + 'static> Worker<R> {
    /// Starts thread `name` running `body` on the receiving end of the requests. When the
    /// operating system refuses the thread, that is logged and every request sent is dropped
    /// (and logged): the program goes on without the worker rather than dying.
    pub fn spawn(name: &'static str, body: impl FnOnce(Receiver<R>) + Send + 'static) -> Self {
        let (sender, receiver) = mpsc::channel();
        match std::thread::Builder::new().name(name.into()).spawn(move || body(receiver)) {
            Ok(thread) => Self { name, sender: Some(sender), thread: Some(thread) },
            Err(err) => {
                tracing::error!("could not start the {name} worker: {err}");
                Self { name, sender: None, thread: None }
            }
        }
    }

    /// Queues a request; returns false (and logs it) when the thread is not there to take it.
    pub fn send(&self, request: R) -> bool {
        let sent = self.sender.as_ref().is_some_and(|s| s.send(request).is_ok());
        if !sent {
            tracing::error!("the {} worker has stopped; a request was dropped", self.name);
        }
        sent
    }
}

impl<R> Drop for Worker<R> {
    /// Closes the channel, so the thread's loop ends once it has handled what was sent, and
    /// waits for it.
    fn drop(&mut self) {
        self.sender.take();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the {} worker stopped with a panic", self.name);
            }
        }
    }
}

/// Runs `work`; a panic in it comes back as its message, for the caller to turn into the reply
/// the request expects (the panic hook has already logged it).
pub fn guarded<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(work)).map_err(|panic| panic_message(panic.as_ref()))
}

/// The text a panic was raised with.
pub fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        text.to_string()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_handled_in_order_and_drop_waits_for_them() {
        let (tx, rx) = mpsc::channel();
        let worker = Worker::spawn("test", move |requests: Receiver<u32>| {
            for n in requests {
                tx.send(guarded(|| if n == 2 { panic!("boom {n}") } else { n })).unwrap();
            }
        });
        assert!((1..=3).all(|n| worker.send(n)));
        drop(worker);
        let replies: Vec<_> = rx.try_iter().collect();
        assert_eq!(replies, [Ok(1), Err("boom 2".to_string()), Ok(3)]);
    }

    #[test]
    fn a_worker_whose_thread_ended_refuses_requests() {
        let worker = Worker::spawn("test", |requests: Receiver<u32>| drop(requests));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while worker.send(1) {
            assert!(std::time::Instant::now() < deadline, "the thread never ended");
            std::thread::yield_now();
        }
    }
}
