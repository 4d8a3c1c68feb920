//! The word index, built in batches off the fetch path: a crawl stores each new text without
//! its row in `text_words`, and [`index_texts`] segments and indexes them when the run ends (or
//! `caiji index`, for texts a killed run left). Maintaining a GIN index row by row, inside each
//! page's transaction, was most of the crawl's database CPU (issue 16).

use caiji_archive::{Archive, ArchiveError};

/// How long a pass waits for another process's to end before running alongside it.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Texts looked at per statement: at most this many are segmented and written at a time.
const WINDOW: i64 = 256;

/// Indexes every text stored without its words, a window of `WINDOW` texts at a time
/// (segmentation on a blocking thread), in one pass over the archive's texts in key order.
/// Stops early, between windows, when `cancel` fires. Returns how many texts were indexed.
///
/// Errors: the database's.
pub async fn index_texts(archive: &Archive, cancel: &tokio_util::sync::CancellationToken) -> Result<u64, ArchiveError> {
    // One process at a time (workers of one crawl end together): the second pass waits, then
    // finds only the texts the first left. Not for long: a crawl's run stays open meanwhile.
    let lock = tokio::select! {
        lock = archive.lock_indexer(LOCK_WAIT) => lock?,
        _ = cancel.cancelled() => return Ok(0),
    };
    if lock.is_none() {
        tracing::info!(waited_secs = LOCK_WAIT.as_secs(), "another process is indexing: indexing alongside it");
    }
    let result = index_pass(archive, cancel).await;
    if let Some(lock) = lock {
        lock.release().await;
    }
    result
}

async fn index_pass(archive: &Archive, cancel: &tokio_util::sync::CancellationToken) -> Result<u64, ArchiveError> {
    let mut total = 0;
    // Keyset order: one pass over the texts, and a text that cannot be indexed is not retried.
    let mut after: Vec<u8> = Vec::new();
    while !cancel.is_cancelled() {
        let window = archive.unindexed_texts(&after, WINDOW).await?;
        let Some((last, _)) = window.last() else { break };
        after = last.clone();
        let batch: Vec<(Vec<u8>, String)> = window.into_iter().filter_map(|(h, t)| Some((h, t?))).collect();
        if batch.is_empty() {
            continue;
        }
        let segmented = tokio::task::spawn_blocking(move || {
            use rayon::prelude::*;
            batch.into_par_iter().map(|(h, text)| (h, caiji_extract::search::search_words(&text))).collect::<Vec<_>>()
        })
        .await;
        let rows = match segmented {
            Ok(rows) => rows,
            Err(e) => {
                // Not the database's fault: the texts stay unindexed, nothing else is affected.
                tracing::error!(error = %e, "segmenting texts failed: they stay out of the word index");
                break;
            }
        };
        total += archive.set_text_words(&rows).await?;
    }
    if total > 0 {
        tracing::info!(texts = total, "word index updated");
    }
    Ok(total)
}
