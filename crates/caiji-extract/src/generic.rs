//! The generic main-content extractor, for hosts without a site module and for pages whose
//! site container is missing.
//!
//! Readability's idea, tuned for Chinese: text blocks score by their length and their
//! Chinese punctuation (，。、；！？), scores flow to parent and grandparent, and the best
//! container (discounted by its link density) is the article.

use ego_tree::NodeId;
use rustc_hash::FxHashMap;
use scraper::{ElementRef, Html, Node};

use crate::byline::{self, Byline, JsonLd};
use crate::clean::{drop_cjk_spaces, iso_datetime, trim_all};
use crate::dom;
use crate::{Extractor, Flag, Page, Record};

pub struct Generic;

pub const NAME: &str = "generic";
pub const VERSION: &str = "0.6.0";

impl Extractor for Generic {
    fn name(&self) -> &'static str {
        NAME
    }
    fn version(&self) -> &'static str {
        VERSION
    }
    fn extract(&self, page: &Page<'_>) -> Record {
        let doc = Html::parse_document(&dom::strip_inert(page.html));
        let mut rec = Record::new(page.url, self);
        extract_into(&doc, &mut rec);
        rec
    }
}

/// Fills `rec` from `doc`; used by site extractors as their fallback.
pub fn extract_into(doc: &Html, rec: &mut Record) {
    let landmarks = Landmarks::find(doc);
    rec.title = title(&landmarks);
    let stated_date = landmarks.metas.published.as_deref().or(landmarks.json_ld.published.as_deref());
    rec.published_at = stated_date.and_then(iso_datetime);
    let Some(body) = landmarks.body else {
        rec.author = stated_author(&landmarks);
        rec.flag(Flag::Empty);
        return;
    };
    let Some(best) = best_container(doc, body) else {
        rec.author = stated_author(&landmarks);
        rec.flag(Flag::Empty);
        return;
    };
    let lines: Vec<(String, usize)> = dom::lines_with_link_chars(best, &|el| is_boilerplate(el))
        .into_iter()
        .map(|(l, links)| (drop_cjk_spaces(trim_all(&l)), links))
        .filter(|(l, _)| !l.is_empty() && Some(l) != rec.title.as_ref())
        .collect();
    let facts = read_byline(body, rec.title.as_deref(), &lines);
    rec.paragraphs = keep_text_lines(lines);
    // A visible byline names the writer; `<meta name="author">` on Chinese sites is mostly the
    // site's own name, so it comes last.
    rec.author = landmarks
        .json_ld
        .author
        .clone()
        .filter(|a| a.chars().count() <= 40)
        .or(facts.byline.author)
        .or(facts.credit)
        .or_else(|| landmarks.metas.author.clone().filter(|a| a.chars().count() <= 20 && !a.contains('.')));
    for (key, value) in [("source", facts.byline.source), ("editor", facts.byline.editor)] {
        if let Some(v) = value {
            rec.meta.insert(key.into(), v.into());
        }
    }
    if rec.published_at.is_none() {
        // Datelines sit under the title or at the top of the article; a date deeper in the
        // text is more often an event the article reports.
        rec.published_at = facts
            .date_under_title
            .or(facts.byline.date)
            .or_else(|| iso_datetime(&dom::text_prefix(best, 2000)))
            .or_else(|| iso_datetime(&dom::text_prefix(body, 4000)));
    }
    if rec.paragraphs.is_empty() {
        rec.flag(Flag::Empty);
    }
}

fn stated_author(l: &Landmarks<'_>) -> Option<String> {
    l.json_ld.author.clone().or_else(|| l.metas.author.clone()).filter(|a| a.chars().count() <= 20)
}

/// What the text around the article says about it.
struct BylineFacts {
    /// Labelled facts from under the title and from the article's first and last lines.
    byline: Byline,
    /// The first date under the title, labelled ones first.
    date_under_title: Option<String>,
    /// A credit in parentheses after the last sentence.
    credit: Option<String>,
}

/// Lines under the title read for a byline: they end at the first paragraph of prose.
const LINES_UNDER_TITLE: usize = 6;

fn read_byline(body: ElementRef<'_>, title: Option<&str>, article: &[(String, usize)]) -> BylineFacts {
    // The page's first lines only: bylines never sit below a long page's fold.
    let head = dom::lines_prefix(body, 12_000);
    // Under the title's line (a heading, or a table cell on older sites) ...
    let title_at = title.and_then(|t| {
        head.iter()
            .position(|l| trim_all(l) == t)
            .or_else(|| head.iter().position(|l| l.contains(t) && l.len() <= t.len() + 60))
    });
    let under_title: Vec<&str> = title_at
        .map(|at| {
            head[at + 1..].iter().map(|l| l.as_str()).take(LINES_UNDER_TITLE).take_while(|l| !is_prose(l)).collect()
        })
        .unwrap_or_default();
    // ... and just above the article's first line, for pages whose title is not found.
    let article_at =
        article.first().and_then(|(first, _)| head.iter().position(|l| drop_cjk_spaces(trim_all(l)) == *first));
    let above_article = article_at.map_or(&head[..0], |at| &head[at.saturating_sub(LINES_UNDER_TITLE)..at]);
    // In the article: its first and last lines, and short lines anywhere (`记者 刘涛` between
    // two sections).
    let n = article.len();
    let in_article = article
        .iter()
        .enumerate()
        .filter(|(i, (l, _))| *i < 3 || *i + 4 >= n || l.chars().count() <= 25)
        .flat_map(|(_, (l, _))| paragraph_edges(l));
    let under = Byline::scan(under_title.iter().copied());
    let above = Byline::scan(above_article.iter().rev().map(|l| l.as_str()));
    // A date under the title, even unlabelled, beats a labelled one further away.
    let date_under_title = under.date.clone().or_else(|| under_title.iter().find_map(|l| iso_datetime(l)));
    BylineFacts {
        byline: under.or(above).or(Byline::scan(in_article)),
        date_under_title,
        credit: article.iter().rev().take(3).find_map(|(l, _)| byline::trailing_credit(l)),
    }
}

/// Where a byline can sit in a paragraph: all of a short one, the start and the end of a long
/// one (`据新华社拉萨电（记者 格桑边觉）…`, `…发展。（记者 胡晓蓉）`).
fn paragraph_edges(line: &str) -> impl Iterator<Item = &str> {
    const EDGE: usize = 60;
    let (head, tail) = match (line.char_indices().nth(EDGE), line.char_indices().nth_back(EDGE - 1)) {
        (Some((h, _)), Some((t, _))) if h < t => (&line[..h], &line[t..]),
        _ => (line, ""),
    };
    [head, tail].into_iter().filter(|s| !s.is_empty())
}

/// A sentence of running text (two clause marks and some length), where bylines have ended.
fn is_prose(line: &str) -> bool {
    let punct = line.chars().filter(|c| matches!(c, '，' | '。' | '；' | '！' | '？')).count();
    punct >= 2 && line.chars().count() >= 30
}

/// The elements the generic extractor needs by name, found in one walk of the tree (a CSS
/// selector per element walks the whole tree each time, and this runs on every page).
struct Landmarks<'a> {
    metas: Metas,
    json_ld: JsonLd,
    h1: Option<ElementRef<'a>>,
    title: Option<ElementRef<'a>>,
    body: Option<ElementRef<'a>>,
}

impl<'a> Landmarks<'a> {
    fn find(doc: &'a Html) -> Self {
        let mut l =
            Landmarks { metas: Metas::default(), json_ld: JsonLd::default(), h1: None, title: None, body: None };
        for el in doc.root_element().descendants().filter_map(ElementRef::wrap) {
            match el.value().name() {
                "meta" => l.metas.read(el),
                // Only JSON-LD scripts keep their text through `dom::strip_inert`.
                "script" if el.value().attr("type").is_some_and(|t| t.contains("ld+json")) => {
                    l.json_ld.read(&el.text().collect::<String>())
                }
                "h1" if l.h1.is_none() => l.h1 = Some(el),
                "title" if l.title.is_none() => l.title = Some(el),
                "body" if l.body.is_none() => l.body = Some(el),
                _ => {}
            }
        }
        l
    }
}

/// Sorts the container's lines the way jusText does: a line that is mostly link text is
/// boilerplate (related lists, pagers); a long or punctuated line is text; short lines are kept
/// only between two text lines (headings, datelines at the edges go).
/// "同志们：", "各乡镇人民政府，县直各有关单位：": Chinese words ending with a full-width colon
/// (a site label such as `某某网328job.com:` is not one).
fn is_addressee(line: &str) -> bool {
    line.ends_with('：') && line.chars().count() <= 40 && !line.chars().any(|c| c.is_ascii_alphanumeric())
}

fn keep_text_lines(lines: Vec<(String, usize)>) -> Vec<String> {
    #[derive(PartialEq)]
    enum Kind {
        Text,
        Short,
        Links,
    }
    let kinds: Vec<Kind> = lines
        .iter()
        .map(|(l, links)| {
            let n = l.chars().count();
            let punct = l
                .chars()
                .filter(|c| matches!(c, '，' | '。' | '；' | '！' | '？' | '、' | ',' | ';' | '!' | '?'))
                .count();
            if *links * 2 > n {
                Kind::Links
            } else if l.contains('\t') && dom::mostly_text(l, *links) {
                // A data-table row (cells joined by a tab): content, whatever its length.
                Kind::Text
            } else if n >= 40 || (punct >= 2 && n >= 15) || l.ends_with(['。', '！', '？']) && n >= 10 {
                Kind::Text
            } else {
                Kind::Short
            }
        })
        .collect();
    let (Some(first), Some(last)) =
        (kinds.iter().position(|k| *k == Kind::Text), kinds.iter().rposition(|k| *k == Kind::Text))
    else {
        // No line looks like prose: keep what is not a link list.
        return lines.into_iter().zip(kinds).filter(|(_, k)| *k != Kind::Links).map(|((l, _), _)| l).collect();
    };
    // Before the first prose line, an addressee line ("各乡镇人民政府，县直各有关单位：",
    // "同志们：") opens the text: it is kept, as the signature at the end is.
    let first = match first.checked_sub(1) {
        Some(prev) if kinds[prev] == Kind::Short && is_addressee(&lines[prev].0) => prev,
        _ => first,
    };
    // After the last prose line, short lines (signature, date) are kept up to the first link
    // list; a short line right before a link list is that list's heading (a sidebar's 热点新闻).
    let end = (last + 1..kinds.len()).find(|&i| kinds[i] == Kind::Links).unwrap_or(kinds.len());
    let heading_before_list =
        end < kinds.len() && end > last + 1 && kinds[end - 1] == Kind::Short && lines[end - 1].0.chars().count() <= 12;
    let end = if heading_before_list { end - 1 } else { end };
    lines
        .into_iter()
        .zip(kinds)
        .enumerate()
        .filter(|(i, (_, k))| *i >= first && *i < end && (*i <= last || *k == Kind::Short) && *k != Kind::Links)
        .map(|(_, ((l, _), _))| l)
        .collect()
}

/// The `<meta>` values the generic extractor reads, in one pass over the meta tags.
#[derive(Default)]
struct Metas {
    published: Option<String>,
    author: Option<String>,
    og_title: Option<String>,
}

impl Metas {
    fn read(&mut self, el: ElementRef<'_>) {
        let v = el.value();
        let (Some(key), Some(content)) = (v.attr("name").or_else(|| v.attr("property")), v.attr("content")) else {
            return;
        };
        let content = content.trim();
        if content.is_empty() {
            return;
        }
        let slot = match key.to_ascii_lowercase().as_str() {
            "article:published_time" | "pubdate" | "publishdate" | "og:release_date" => &mut self.published,
            "author" | "article:author" => &mut self.author,
            "og:title" => &mut self.og_title,
            _ => return,
        };
        slot.get_or_insert_with(|| content.to_string());
    }
}

fn title(l: &Landmarks<'_>) -> Option<String> {
    let h1 = l.h1.map(dom::text_of).filter(|t| t.chars().count() >= 4);
    h1.or_else(|| l.json_ld.headline.clone())
        .or_else(|| l.metas.og_title.clone())
        .or_else(|| {
            l.title.map(|t| {
                let t = dom::text_of(t);
                // "文章标题_站点名" / "文章标题 - 站点名" / "文章标题-站点名"
                let t = t.split(['_', '|']).next().unwrap_or(&t).split(" - ").next().unwrap_or(&t);
                let t = match t.rsplit_once(['-', '—', '–']) {
                    Some((head, site)) if site.chars().count() <= 12 && head.chars().count() >= 4 => head,
                    _ => t,
                };
                t.trim().to_string()
            })
        })
        .filter(|t| !t.is_empty())
}

fn is_boilerplate(el: &ElementRef<'_>) -> bool {
    let v = el.value();
    let (class, id) = (v.attr("class").unwrap_or(""), v.attr("id").unwrap_or(""));
    if class.is_empty() && id.is_empty() {
        return false;
    }
    ["share", "comment", "footer", "breadcrumb", "related", "recommend", "sidebar", "nav", "copyright"]
        .iter()
        .any(|k| dom::contains_ignore_case(class, k) || dom::contains_ignore_case(id, k))
}

/// Readability's class weight: ids and classes that name comments, sidebars or navigation
/// count against a container, ones that name the article count for it.
fn class_weight(el: &ElementRef<'_>) -> f64 {
    let v = el.value();
    let (class, id) = (v.attr("class").unwrap_or(""), v.attr("id").unwrap_or(""));
    if class.is_empty() && id.is_empty() {
        return 1.0;
    }
    let has = |k: &&str| dom::contains_ignore_case(class, k) || dom::contains_ignore_case(id, k);
    const NEGATIVE: &[&str] = &[
        "comment",
        "reply",
        "feedback",
        "footer",
        "sidebar",
        "side",
        "related",
        "recommend",
        "nav",
        "menu",
        "share",
        "copyright",
        "advert",
        "banner",
        "hot",
        "rank",
        "links",
        "foot",
        "widget",
        "tags",
    ];
    const POSITIVE: &[&str] =
        &["article", "content", "text", "body", "post", "entry", "main", "news", "detail", "zhengwen", "zw", "con"];
    if NEGATIVE.iter().any(has) {
        0.3
    } else if POSITIVE.iter().any(has) {
        1.5
    } else {
        1.0
    }
}

/// A best container scoring below this holds no real paragraph: one block of 20 characters
/// with a few commas already scores about 4, a short news item 30 or more.
const NO_PROSE_SCORE: f64 = 10.0;

struct Stats {
    chars: usize,
    link_chars: usize,
}

fn best_container<'a>(doc: &'a Html, body: ElementRef<'a>) -> Option<ElementRef<'a>> {
    // Fx hashing: node ids are small integers from our own parse, and SipHash showed in profiles.
    let mut scores: FxHashMap<NodeId, f64> = FxHashMap::default();
    let mut stats: FxHashMap<NodeId, Stats> = FxHashMap::default();
    collect(body, &mut stats);
    for el in body.descendants().filter_map(ElementRef::wrap) {
        if !matches!(el.value().name(), "p" | "td" | "pre" | "div" | "section" | "li" | "span" | "font") {
            continue;
        }
        // Text directly inside the element (all of it for a <p>), counted without copying.
        let (mut len, mut punct) = (0usize, 0usize);
        let mut count = |t: &str| {
            for c in t.chars() {
                if !c.is_whitespace() && c != '\u{a0}' && c != '\u{3000}' {
                    len += 1;
                    if matches!(c, '，' | '。' | '、' | '；' | '！' | '？' | ',' | ';') {
                        punct += 1;
                    }
                }
            }
        };
        if el.value().name() == "p" {
            el.text().for_each(&mut count);
        } else {
            el.children().for_each(|c| {
                if let Node::Text(t) = c.value() {
                    count(t)
                }
            });
        }
        if len < 20 {
            continue;
        }
        let score = 1.0 + punct as f64 + (len as f64 / 100.0).min(3.0);
        let mut node = el.parent();
        let mut weight = 1.0;
        for _ in 0..2 {
            let Some(p) = node else { break };
            *scores.entry(p.id()).or_default() += score * weight;
            weight /= 2.0;
            node = p.parent();
        }
    }
    // A data table (rows of plain cells, few of them links) is content in its own right: a list
    // of codes, a schedule, figures. Each such row counts like a short sentence for the table's
    // parent, so a page whose content is the table is not read from the sentences under it.
    for table in body.descendants().filter_map(ElementRef::wrap).filter(|e| e.value().name() == "table") {
        let rows = table
            .descendants()
            .filter_map(ElementRef::wrap)
            .filter(|e| e.value().name() == "tr")
            .filter_map(dom::data_row)
            .filter(|(text, links)| dom::mostly_text(text, *links))
            .count();
        if rows >= dom::DATA_TABLE_ROWS
            && let Some(parent) = table.parent()
        {
            *scores.entry(parent.id()).or_default() += rows.min(60) as f64 * 2.0;
        }
    }
    scores
        .into_iter()
        .filter_map(|(id, s)| {
            let el = ElementRef::wrap(doc.tree.get(id)?)?;
            let st = stats.get(&id)?;
            let density = if st.chars == 0 { 1.0 } else { st.link_chars as f64 / st.chars as f64 };
            Some((el, s * (1.0 - density) * class_weight(&el)))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.id().cmp(&a.0.id())))
        // No block scored like prose (forms, error and login pages): what the page says is
        // all of its text, so the whole body goes to the line filter.
        .map(|(el, score)| if score < NO_PROSE_SCORE { body } else { el })
}

/// Character and link-character counts of every element, bottom-up.
fn collect(el: ElementRef<'_>, stats: &mut FxHashMap<NodeId, Stats>) -> (usize, usize) {
    let mut chars = 0;
    let mut link_chars = 0;
    for child in el.children() {
        match child.value() {
            Node::Text(t) => chars += t.chars().filter(|c| !c.is_whitespace()).count(),
            Node::Element(e) if !dom::is_skipped(e.name()) => {
                if let Some(c) = ElementRef::wrap(child) {
                    let (n, l) = collect(c, stats);
                    chars += n;
                    link_chars += if e.name() == "a" { n } else { l };
                }
            }
            _ => {}
        }
    }
    stats.insert(el.id(), Stats { chars, link_chars });
    (chars, link_chars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extract(html: &str) -> Record {
        Generic.extract(&Page { url: "http://127.0.0.1/a.html", html, charset: None })
    }

    const PROSE: &str = "<p>今年以来，全市上下坚持稳中求进工作总基调，经济运行总体平稳、稳中有进，高质量发展取得新成效。</p>\
        <p>会议强调，要坚定不移深化改革创新，加快打造高质量发展动力源，努力彰显高质量发展好成色。</p>";

    #[test]
    fn byline_under_the_title_gives_date_author_and_source() {
        let html = format!(
            "<html><head><title>标题_某某网</title><meta name=\"author\" content=\"某某网\"></head><body>\
             <div class=nav><a href=/>首页</a> <a href=/n>新闻</a></div>\
             <h1>全市经济运行总体平稳</h1><div class=info>2021-11-03 10:32 来源：新华日报 作者：张三 李四 浏览：100</div>\
             <div class=content>{PROSE}<p>（记者 王五）</p></div><div class=footer>于2019年1月1日建站</div></body></html>"
        );
        let r = extract(&html);
        assert_eq!(r.title.as_deref(), Some("全市经济运行总体平稳"));
        assert_eq!(r.published_at.as_deref(), Some("2021-11-03T10:32"));
        assert_eq!(r.author.as_deref(), Some("张三 李四"), "the labelled byline beats the credit and the meta tag");
        assert_eq!(r.meta.get("source").and_then(|v| v.as_str()), Some("新华日报"));
        assert_eq!(r.paragraphs.len(), 3);
    }

    #[test]
    fn json_ld_and_trailing_credit() {
        let ld = r#"<script type="application/ld+json">{"@type":"NewsArticle","datePublished":"2022-02-13T23:37:00+08:00","author":{"@type":"Person","name":"张倩"}}</script>"#;
        let r = extract(&format!("<html><head>{ld}</head><body><h1>著名导演去世</h1><div>{PROSE}</div></body></html>"));
        assert_eq!(r.published_at.as_deref(), Some("2022-02-13T23:37:00"));
        assert_eq!(r.author.as_deref(), Some("张倩"));
        // No JSON-LD, no label: the credit after the last sentence names the reporter, and a
        // site-name meta author does not override it.
        let r = extract(&format!(
            "<html><head><meta name=author content=\"大汉网络\"></head><body><h1>著名导演去世</h1><div>{PROSE}<p>到头来，一位自甘穷酸的外科医生。（袁源）</p></div></body></html>"
        ));
        assert_eq!(r.author.as_deref(), Some("袁源"));
        assert_eq!(r.published_at, None, "no date stated anywhere");
    }
}

#[cfg(test)]
mod edge_tests {
    use super::*;

    fn run(html: &str) -> Record {
        Generic.extract(&Page { url: "http://www.example.gov.cn/tzgg/1.html", html, charset: None })
    }

    const HEADER: &str = "<div class=\"header\"><a href=\"/\">首页</a> <a href=\"/jyxw/\">教育新闻</a> <a href=\"/tzgg/\">通知公告</a> <a href=\"/zcfg/\">政策法规</a></div>";
    const SIDEBAR: &str = "<div class=\"side\"><h3>热点新闻</h3><ul><li><a href=\"/jyxw/1.html\">我区举行2024年春季开学工作会议</a></li>\
        <li><a href=\"/jyxw/2.html\">区教育局开展校园安全大检查</a></li><li><a href=\"/jyxw/3.html\">全区中小学体育节圆满落幕</a></li></ul></div>";

    #[test]
    fn a_one_sentence_notice_keeps_no_sidebar_heading() {
        let body = "各中小学校、幼儿园：根据国务院办公厅通知精神，2024年清明节放假时间为4月4日至6日，共3天，请各单位做好假期安全教育工作。";
        let html = format!(
            "<html><head><title>关于2024年清明节放假的通知_通知公告</title></head><body>{HEADER}<div class=\"main\"><div class=\"article\">\
             <h1>关于2024年清明节放假的通知</h1><div class=\"info\">发布时间：2024-03-28　来源：区教育局办公室</div>\
             <div class=\"content\"><p>{body}</p></div></div>{SIDEBAR}</div></body></html>"
        );
        let rec = run(&html);
        assert_eq!(rec.paragraphs, [body]);
        assert!(!rec.has_flag(Flag::Empty));
    }

    #[test]
    fn a_government_notice_keeps_its_addressee_and_its_signature() {
        let html = format!(
            "<html><head><title>关于做好冬季森林防火工作的通知</title></head><body>{HEADER}<div class=\"article\">\
             <h1>关于做好冬季森林防火工作的通知</h1><div class=\"content\">\
             <p>各乡镇人民政府，县直各有关单位：</p>\
             <p>当前已进入冬季森林防火关键期，为切实做好森林防火工作，确保人民群众生命财产安全，现将有关事项通知如下。</p>\
             <p>一、加强组织领导。各单位要高度重视，落实责任，确保各项措施落到实处。</p>\
             <p>某某县人民政府办公室</p><p>2024年11月20日</p></div></div>{SIDEBAR}</body></html>"
        );
        let rec = run(&html);
        assert_eq!(
            rec.paragraphs.first().map(String::as_str),
            Some("各乡镇人民政府，县直各有关单位："),
            "{:?}",
            rec.paragraphs
        );
        assert_eq!(rec.paragraphs.last().map(String::as_str), Some("2024年11月20日"), "{:?}", rec.paragraphs);
        assert!(rec.paragraphs.iter().any(|p| p == "某某县人民政府办公室"));
        assert!(!rec.paragraphs.iter().any(|p| p.contains("热点新闻")));
    }

    #[test]
    fn a_data_table_that_is_the_content_is_kept_row_by_row() {
        let rows: String = (1..=12)
            .map(|i| {
                format!(
                    "<tr><td>{:03}</td><td>{}村民委员会</td><td>3205821{:05}</td></tr>",
                    i,
                    ["张家", "李庄", "王桥", "陈湾"][i % 4],
                    i
                )
            })
            .collect();
        let html = format!(
            "<html><head><title>2024年全镇村级行政区划代码表</title></head><body>{HEADER}<div class=\"article\"><h1>2024年全镇村级行政区划代码表</h1>\
             <div class=\"content\"><table><tr><th>序号</th><th>名称</th><th>区划代码</th></tr>{rows}</table>\
             <p>注：以上代码依据统计用区划代码编制，如有变动以最新公布为准。</p></div></div>{SIDEBAR}</body></html>"
        );
        let rec = run(&html);
        assert_eq!(rec.paragraphs.first().map(String::as_str), Some("序号\t名称\t区划代码"), "{:?}", rec.paragraphs);
        assert!(rec.paragraphs.contains(&"005\t李庄村民委员会\t320582100005".to_string()), "{:?}", rec.paragraphs);
        assert_eq!(rec.paragraphs.iter().filter(|p| p.contains('\t')).count(), 13);
        assert!(rec.paragraphs.last().is_some_and(|p| p.starts_with("注：")));
    }
}
