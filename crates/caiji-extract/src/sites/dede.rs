//! dede: www.bjxhtouch.com 公文范文 (DedeCMS, GBK). Body pasted from a PDF.
//!
//! Page: `<h2>` in `div.title`; `div.info` = `时间:YYYY-MM-DD HH:MM:SS 来源:…`; one `<p>` per
//! paragraph in `div.content`, then the `推荐访问:` tag line and `[title]相关文章` (outside it).

use scraper::Html;

use crate::clean::{drop_pdf_spaces, field_after, is_cjk, iso_datetime, trim_all};
use crate::dom::{first, sel, text_of};
use crate::{Extractor, Page, Record};

pub struct Dede;

impl Extractor for Dede {
    fn name(&self) -> &'static str {
        "dede"
    }
    fn version(&self) -> &'static str {
        "1.0.0"
    }
    fn extract(&self, page: &Page<'_>) -> Record {
        let doc = Html::parse_document(page.html);
        let mut rec = Record::new(page.url, self);
        let Some(containers) =
            super::containers_or_fallback(&doc, sel("div.viewbox div.content, div.content"), &mut rec)
        else {
            return rec;
        };
        rec.title = first(&doc, sel("div.title h2")).map(text_of).filter(|t| !t.is_empty());
        if let Some(info) = first(&doc, sel("div.info")).map(text_of) {
            rec.published_at = iso_datetime(&info);
            if let Some(source) = field_after(&info, "来源:") {
                rec.meta.insert("source".into(), source.into());
            }
        }
        let lines: Vec<String> =
            crate::dom::lines(containers[0], &|el| el.value().attr("id") == Some("contentMidPicAD"))
                .iter()
                .map(|l| drop_pdf_spaces(trim_all(l)))
                .filter(|l| !l.is_empty())
                .collect();
        rec.paragraphs = join_page_breaks(lines);
        rec
    }
}

/// PDF page breaks split one paragraph into two `<p>`s mid-sentence (seed 002: `去年下半年` /
/// `以来,3000 多名…`): a paragraph that does not end a sentence is joined with the next, with
/// nothing between. A lone symbol (`□`) is its own paragraph.
fn join_page_breaks(lines: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut open = false;
    for line in lines {
        match out.last_mut() {
            Some(last) if open => last.push_str(&line),
            _ => out.push(line),
        }
        let last = out.last().map(String::as_str).unwrap_or("");
        open = !crate::clean::ends_sentence(last)
            && last.chars().last().is_some_and(|c| is_cjk(c) || c.is_alphanumeric())
            && last.chars().count() >= 10;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_breaks_join_but_lone_symbols_stay() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            join_page_breaks(l(&["他们说,境外疫情蔓延是危更是机。去年下半年", "以来,3000 多名。", "□", "下一段。"])),
            l(&["他们说,境外疫情蔓延是危更是机。去年下半年以来,3000 多名。", "□", "下一段。"])
        );
    }
}
