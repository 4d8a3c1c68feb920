//! wnwk: m.wnwk.com, a document-sharing (文库) site: page images behind a paywall, plus a
//! 资源描述 text layer.
//!
//! Page: `<h1 class=doc-title>` = the file name with its extension; `div.doc-info` row
//! 上传人/文档编号/上传时间/格式/页数/大小; `#descContent` holds the text layer cut into chunks
//! `<p>1、…</p><p>2、…</p>` whose numbers fall mid-word. The text layer has no paragraph breaks:
//! the record is ONE paragraph, the chunks joined with nothing.

use scraper::Html;

use crate::clean::{drop_cjk_spaces, iso_datetime, trim_all};
use crate::dom::{first, sel, text_of};
use crate::{Extractor, Flag, Page, Record};

pub struct Wnwk;

impl Extractor for Wnwk {
    fn name(&self) -> &'static str {
        "wnwk"
    }
    fn version(&self) -> &'static str {
        "1.0.0"
    }
    fn extract(&self, page: &Page<'_>) -> Record {
        let doc = Html::parse_document(page.html);
        let mut rec = Record::new(page.url, self);
        let Some(containers) = super::containers_or_fallback(&doc, sel("#descContent"), &mut rec) else { return rec };
        rec.title = first(&doc, sel("h1.doc-title")).or_else(|| first(&doc, sel("h1"))).map(text_of);
        if let Some(info) = first(&doc, sel("div.doc-info")) {
            for span in info.select(sel("span")) {
                let t = text_of(span);
                let Some((k, v)) = t.split_once([':', '：']) else { continue };
                let v = trim_all(v).to_string();
                match trim_all(k) {
                    "上传人" => rec.meta.insert("uploader".into(), v.into()),
                    "文档编号" => rec.meta.insert("document_id".into(), v.into()),
                    "上传时间" => {
                        rec.published_at = iso_datetime(&v);
                        None
                    }
                    "格式" => rec.meta.insert("format".into(), v.into()),
                    "页数" => rec.meta.insert("pages".into(), v.parse::<u64>().map(Into::into).unwrap_or(v.into())),
                    "大小" => rec.meta.insert("size".into(), v.into()),
                    _ => None,
                };
            }
        }
        let mut joined = String::new();
        for (i, p) in containers[0].select(sel("p")).enumerate() {
            let chunk = text_of(p);
            joined.push_str(strip_chunk_number(&chunk, i + 1));
        }
        let joined = drop_cjk_spaces(trim_all(&joined));
        if !joined.is_empty() {
            rec.paragraphs = vec![joined];
        }
        // Only a preview is free: the page says the rest is behind the download.
        if first(&doc, sel("div.preview-end")).is_some() {
            rec.flag(Flag::ContentMissing);
        }
        rec
    }
}

/// Removes the chunk number `N、` the site prefixes to chunk N (seed 001: `…以新的思想为引` +
/// `2、领;讲应景…`), only when it is the expected number, so text starting with a number stays.
fn strip_chunk_number(chunk: &str, expected: usize) -> &str {
    let prefix = format!("{expected}、");
    chunk.strip_prefix(prefix.as_str()).unwrap_or(chunk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_numbers() {
        assert_eq!(strip_chunk_number("2、领;讲应景", 2), "领;讲应景");
        assert_eq!(strip_chunk_number("3、路径", 2), "3、路径");
    }
}
