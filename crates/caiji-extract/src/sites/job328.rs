//! job328: 横店人才网 news reposts (GBK, table layout).
//!
//! Page: title in the red bold `td.newstitle`; `td.newsinfo` = `作者:横店人才网 来源:… 日期:…`;
//! the whole body is ONE `<TD id=newscontent>` opening with the watermark `横店人才网328job.com:`,
//! paragraphs separated only by runs of `&nbsp;`/U+3000.

use scraper::Html;

use crate::clean::{drop_cjk_spaces, field_after, iso_datetime, split_on_space_runs};
use crate::dom::{first, sel, text_of};
use crate::{Extractor, Page, Record};

pub struct Job328;

/// Stamped at the top of every body (seed 003 line 5).
const WATERMARK: &str = "横店人才网328job.com:";

/// Words that end a 职务 in a `□<职务><姓名>` byline.
const OFFICE_TITLES: &[&str] = &[
    "书记",
    "市长",
    "县长",
    "区长",
    "镇长",
    "乡长",
    "省长",
    "主任",
    "部长",
    "局长",
    "厅长",
    "处长",
    "主席",
    "委员",
    "秘书长",
    "董事长",
    "总经理",
    "校长",
    "院长",
    "记者",
    "通讯员",
    "副市长",
    "副县长",
];

impl Extractor for Job328 {
    fn name(&self) -> &'static str {
        "job328"
    }
    fn version(&self) -> &'static str {
        "1.0.0"
    }
    fn extract(&self, page: &Page<'_>) -> Record {
        let doc = Html::parse_document(page.html);
        let mut rec = Record::new(page.url, self);
        let Some(containers) = super::containers_or_fallback(&doc, sel("td#newscontent"), &mut rec) else {
            return rec;
        };
        rec.title = first(&doc, sel("td.newstitle")).map(text_of).filter(|t| !t.is_empty());
        if let Some(info) = first(&doc, sel("td.newsinfo")).map(text_of) {
            rec.published_at = iso_datetime(&info);
            if let Some(source) = field_after(&info, "来源:") {
                rec.meta.insert("source".into(), source.into());
            }
            // 作者 is always the site itself, never a person: not an author.
        }
        let raw = crate::dom::lines(containers[0], &|_| false);
        rec.paragraphs = raw
            .iter()
            .flat_map(|l| split_on_space_runs(l))
            .map(|p| p.strip_prefix(WATERMARK).map(str::to_string).unwrap_or(p))
            .map(|p| drop_cjk_spaces(&p))
            .filter(|p| !p.is_empty())
            .collect();
        rec.author = rec.paragraphs.first().and_then(|p| byline_name(p));
        rec
    }
}

/// `□市委书记黄志平` → `黄志平`: the name after the last office title of a byline paragraph.
fn byline_name(paragraph: &str) -> Option<String> {
    let rest = paragraph.strip_prefix('□')?;
    let end = OFFICE_TITLES.iter().filter_map(|t| rest.rfind(t).map(|i| i + t.len())).max()?;
    let name = rest[end..].trim();
    let n = name.chars().count();
    ((2..=4).contains(&n) && name.chars().all(crate::clean::is_cjk)).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bylines() {
        assert_eq!(byline_name("□市委书记黄志平").as_deref(), Some("黄志平"));
        assert_eq!(byline_name("□区委副书记、区长王小明").as_deref(), Some("王小明"));
        assert_eq!(byline_name("同志们:"), None);
        assert_eq!(byline_name("□"), None);
    }
}
