//! Group commit of a crawl's captures: the pages stored while a transaction is being written
//! wait for the next one, which takes them all ([`Archive::store_captures`]). One page alone
//! is written at once; many at a time cost a few statements per batch, not per page.

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

use crate::store::CaptureWrite;
use crate::{Archive, ArchiveError};

type Job = (CaptureWrite, oneshot::Sender<Result<i64, ArchiveError>>);

/// A handle to the writing tasks: cheap to clone, each clone sends to the same batches. The
/// tasks end when every handle is dropped and what was sent is written.
#[derive(Clone, Debug)]
pub struct CaptureWriter {
    jobs: mpsc::Sender<Job>,
}

impl CaptureWriter {
    /// Starts `writers` tasks (at least one) writing batches of at most `max_batch` captures,
    /// each through its own connection of `archive`'s pool. Needs a Tokio runtime.
    pub fn spawn(archive: Archive, writers: usize, max_batch: usize) -> Self {
        let (jobs, rx) = mpsc::channel::<Job>(max_batch.max(1) * writers.max(1) * 2);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..writers.max(1) {
            tokio::spawn(write_batches(archive.clone(), rx.clone(), max_batch.max(1)));
        }
        Self { jobs }
    }

    /// Stores one capture in the next batch and waits for its commit: the capture's id, or
    /// why it was not stored ([`ArchiveError::ClaimLost`], a database error).
    pub async fn store(&self, write: CaptureWrite) -> Result<i64, ArchiveError> {
        let (done, answer) = oneshot::channel();
        self.jobs.send((write, done)).await.map_err(|_| ArchiveError::WriterGone)?;
        answer.await.map_err(|_| ArchiveError::WriterGone)?
    }
}

async fn write_batches(archive: Archive, rx: Arc<Mutex<mpsc::Receiver<Job>>>, max_batch: usize) {
    loop {
        let mut batch: Vec<Job> = Vec::new();
        {
            // One task takes what is waiting; the others wait for the next pages.
            let mut rx = rx.lock().await;
            if rx.recv_many(&mut batch, max_batch).await == 0 {
                return;
            }
        }
        let (writes, answers): (Vec<CaptureWrite>, Vec<_>) = batch.into_iter().unzip();
        let results = match archive.store_captures(&writes).await {
            Ok(results) => results,
            Err(e) => {
                // One bad row must not fail the others: each is written alone, and only its own
                // error reaches its page.
                tracing::warn!(pages = writes.len(), error = %e, "batch of captures not stored: storing them one by one");
                let mut results = Vec::with_capacity(writes.len());
                for w in &writes {
                    results
                        .push(archive.store_capture(&w.capture, w.extraction.as_deref(), Some(w.settle.clone())).await);
                }
                results
            }
        };
        for (answer, result) in answers.into_iter().zip(results) {
            // The page's task may be gone (the run was interrupted): its claim is released.
            let _ = answer.send(result);
        }
    }
}
