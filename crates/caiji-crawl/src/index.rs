//! The word index, built in batches off the fetch path: a crawl stores each new text with
//! `texts.words` NULL, and [`index_texts`] segments and indexes them when the run ends (or
//! `caiji index`, for texts a killed run left). Maintaining a GIN index row by row, inside each
//! page's transaction, was most of the crawl's database CPU (issue 16).

use caiji_archive::{Archive, ArchiveError};

/// Texts segmented and written per statement.
const BATCH: i64 = 256;

/// Indexes every text stored without its words, `BATCH` at a time (segmentation on a blocking
/// thread). Stops early, between batches, when `cancel` fires. Returns how many texts were
/// indexed.
///
/// Errors: the database's.
pub async fn index_texts(archive: &Archive, cancel: &tokio_util::sync::CancellationToken) -> Result<u64, ArchiveError> {
    let mut total = 0;
    while !cancel.is_cancelled() {
        let batch = archive.unindexed_texts(BATCH).await?;
        if batch.is_empty() {
            break;
        }
        let n = batch.len();
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
        let set = archive.set_text_words(&rows).await?;
        total += set;
        // Another worker indexed these meanwhile: the rest is theirs too.
        if set == 0 && n > 0 {
            break;
        }
    }
    if total > 0 {
        tracing::info!(texts = total, "word index updated");
    }
    Ok(total)
}
