//! Bylines: who wrote an article, who published it and when, as Chinese pages state them in
//! their text (`作者：…`, `本报记者 …`, `（记者 …）`, `来源：…`, `发布时间：…`) and in JSON-LD.
//!
//! Names are read by shape, never from a list: a Chinese personal name is two to four Han
//! characters (longer with the `·` of transliterated names), several are separated by spaces
//! or `、`, and the list ends at the first token that is not a name (`上海报道`, `发自北京`,
//! the next sentence).

use crate::clean::{find_datetime, trim_all};

/// What a byline states; any part may be missing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Byline {
    pub author: Option<String>,
    /// 来源: the outlet the text comes from (often a reposting site's credit).
    pub source: Option<String>,
    /// 编辑 / 责任编辑: the editor, who is not the author.
    pub editor: Option<String>,
    /// ISO date, from a labelled date (`发布时间：2021-11-03 10:32`).
    pub date: Option<String>,
}

impl Byline {
    /// Reads every labelled fact of `lines`, keeping the first value found for each.
    pub fn scan<'a>(lines: impl IntoIterator<Item = &'a str>) -> Self {
        let mut b = Self::default();
        // Most lines hold no label at all: one pass over their characters rules them out
        // before two dozen substring searches.
        for line in lines.into_iter().filter(|l| l.contains(|c| LABEL_STARTS.contains(&c))) {
            b.author = b.author.or_else(|| labelled_author(line));
            b.source = b.source.or_else(|| labelled_value(line, &["来源", "稿源", "出处"]));
            b.editor = b.editor.or_else(|| labelled_names(line, &["责任编辑", "编辑"]));
            b.date = b.date.or_else(|| labelled_date(line));
        }
        b
    }

    /// Fills the parts of `self` still missing from `other`.
    pub fn or(self, other: Self) -> Self {
        Self {
            author: self.author.or(other.author),
            source: self.source.or(other.source),
            editor: self.editor.or(other.editor),
            date: self.date.or(other.date),
        }
    }
}

/// The first characters of every label below.
const LABEL_STARTS: [char; 15] =
    ['发', '更', '时', '日', '作', '撰', '执', '文', '记', '通', '实', '来', '稿', '出', '编'];

/// Labels a date follows. Longer labels first, so `发布时间` is not read as `时间`.
const DATE_LABELS: &[&str] =
    &["发布时间", "发表时间", "发布日期", "发表日期", "更新时间", "发稿时间", "发表于", "发布于", "时间", "日期"];

/// A date right after one of [`DATE_LABELS`] (separators allowed between them).
pub fn labelled_date(line: &str) -> Option<String> {
    for label in DATE_LABELS {
        for (at, _) in line.match_indices(label) {
            let rest = skip_separators(&line[at + label.len()..]);
            if let Some((0, iso)) = find_datetime(rest) {
                return Some(iso);
            }
        }
    }
    None
}

/// Author labels. `记者` and its kin also appear in prose (`告诉记者`), so they only count
/// after a non-verb; `作者` and `撰文` need a separator after them (`作者简介` is no byline).
const AUTHOR_LABELS: &[(&str, bool)] = &[
    ("作者", true),
    ("撰文", true),
    ("执笔人", true),
    ("执笔", true),
    ("文／", false),
    ("文/", false),
    ("记者", false),
    ("通讯员", false),
    ("实习生", false),
];

/// Characters that, right before `记者`, make it a word in a sentence rather than a label.
const PROSE_BEFORE_REPORTER: &str = "诉向对给据受跟和与的名位些个让请被了住";

fn labelled_author(line: &str) -> Option<String> {
    for (label, needs_separator) in AUTHOR_LABELS {
        for (at, _) in line.match_indices(label) {
            if !needs_separator && line[..at].chars().next_back().is_some_and(|c| PROSE_BEFORE_REPORTER.contains(c)) {
                continue;
            }
            let after = &line[at + label.len()..];
            if *needs_separator && !after.starts_with([':', '：', ' ', '\u{a0}', '\u{3000}']) {
                continue;
            }
            let glued =
                !after.starts_with(|c: char| c.is_whitespace() || matches!(c, ':' | '：' | '\u{a0}' | '\u{3000}'));
            if let Some(names) = names_at(skip_separators(after), false) {
                // A name glued to its label must end the byline (`本报记者罗科苏盈发自北京`,
                // `记者马俊峰/文`); followed by more clauses it is prose (`记者致电上海、武汉`).
                if glued && !glued_name_ends(after, &names) {
                    continue;
                }
                return Some(names);
            }
        }
    }
    None
}

/// Whether the single name glued to a label is followed by the end of the byline.
fn glued_name_ends(after: &str, names: &str) -> bool {
    let Some(rest) = skip_separators(after).strip_prefix(names) else {
        return false;
    };
    rest.is_empty()
        || rest.starts_with(|c: char| {
            c.is_whitespace() || matches!(c, '\u{a0}' | '\u{3000}' | '/' | '／' | ')' | '）' | ']' | '】')
        })
        || GLUED_AFTER_NAME.iter().any(|m| rest.starts_with(m))
}

/// Words written right after a name in a byline: `发自北京`, `上海报道`, `摄`.
const GLUED_AFTER_NAME: &[&str] = &["发自", "报道", "摄影", "摄", "供图", "整理", "编译", "出自"];

/// Names after one of `labels` followed by a colon (editor credits).
fn labelled_names(line: &str, labels: &[&str]) -> Option<String> {
    labels.iter().find_map(|label| {
        line.match_indices(label).find_map(|(at, _)| {
            let after = &line[at + label.len()..];
            after.trim_start().starts_with([':', '：']).then(|| names_at(skip_separators(after), false)).flatten()
        })
    })
}

/// A short value after `label：` (an outlet name), up to the next space or bracket.
fn labelled_value(line: &str, labels: &[&str]) -> Option<String> {
    labels.iter().find_map(|label| {
        line.match_indices(label).find_map(|(at, _)| {
            let after = &line[at + label.len()..];
            if !after.trim_start().starts_with([':', '：']) {
                return None;
            }
            let rest = skip_separators(after).trim_start_matches(['[', '【', '(', '（', ' ']);
            let value: String = rest
                .chars()
                .take_while(|c| {
                    !c.is_whitespace() && !matches!(c, '\u{a0}' | '\u{3000}' | ']' | '】' | ')' | '）' | '|')
                })
                .collect();
            let n = value.chars().count();
            ((2..=30).contains(&n) && find_datetime(&value).is_none()).then_some(value)
        })
    })
}

/// The author of a Chinese news item credited in parentheses after its last sentence:
/// `…新春佳节。（常书香 马丹阳）`, `（记者 胡晓蓉）`, `（姚峰 上海报道）`.
pub fn trailing_credit(line: &str) -> Option<String> {
    let line = trim_all(line);
    let inner = line.strip_suffix('）').or_else(|| line.strip_suffix(')'))?;
    let open = inner.rfind(['（', '('])?;
    let (before, credit) = (trim_all(&inner[..open]), &inner[open..]);
    let credit = credit.trim_start_matches(['（', '(']);
    // After a finished sentence, or alone on its line; never `苹果（Apple）` inside prose.
    if !(before.is_empty() || before.ends_with(['。', '！', '？', '”', '」'])) || credit.chars().count() > 30 {
        return None;
    }
    labelled_author(credit).or_else(|| names_at(credit, true).filter(|_| whole_credit_is_names(credit)))
}

/// Every token of an unlabelled credit is a name, or a trailing `XX报道` / `XX摄`.
fn whole_credit_is_names(credit: &str) -> bool {
    let tokens: Vec<&str> = credit.split(is_name_separator).filter(|t| !t.is_empty()).collect();
    tokens.iter().enumerate().all(|(i, t)| {
        let last = i + 1 == tokens.len();
        is_name(t, true) || (last && i > 0 && (t.ends_with("报道") || t.ends_with("摄")))
    })
}

fn is_name_separator(c: char) -> bool {
    // Not `/`: in `马俊峰/文` it ends the byline.
    c.is_whitespace() || matches!(c, '\u{a0}' | '\u{3000}' | '、' | '，' | ',')
}

/// One to five names at the start of `text`, joined by spaces.
fn names_at(text: &str, unlabelled: bool) -> Option<String> {
    let mut names: Vec<&str> = Vec::new();
    let mut rest = text;
    while names.len() < 5 {
        rest = rest.trim_start_matches(is_name_separator);
        let end = rest
            .find(|c: char| !(is_han(c) || c == '·' || c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        let token = &rest[..end];
        // Attribute residue of broken markup (`作者： size="20"`) is no name.
        if rest[end..].starts_with(['=', '"', '\'', '<', '>']) {
            break;
        }
        // A name glued to what follows it: `罗科苏盈发自北京`, `张三摄`.
        let (name, glued) = match GLUED_AFTER_NAME.iter().find_map(|m| token.find(m)) {
            Some(at) => (&token[..at], true),
            None => (token, false),
        };
        // `上海报道` names a place, not a person.
        if token.ends_with("报道") && !token.contains("发自") && !names.is_empty() {
            break;
        }
        if !is_name(name, unlabelled) {
            break;
        }
        names.push(name);
        rest = &rest[end..];
        if glued || !rest.starts_with(|c: char| is_name_separator(c)) {
            break;
        }
    }
    (!names.is_empty()).then(|| names.join(" "))
}

/// The labels and words that follow a byline and would otherwise read as two-character names.
const NOT_NAMES: &[&str] = &[
    "来源",
    "编辑",
    "责编",
    "时间",
    "日期",
    "发布",
    "点击",
    "阅读",
    "浏览",
    "字号",
    "打印",
    "关闭",
    "分享",
    "本报",
    "记者",
    "通讯员",
    "实习生",
    "作者",
    "简介",
    "不详",
    "佚名",
    "未知",
    "访问",
    "统计",
];

/// Outlets and bodies, which an unlabelled credit in parentheses may name instead of a person.
const ORG_ENDINGS: &[char] =
    &['社', '报', '网', '台', '站', '视', '部', '局', '委', '办', '厅', '院', '会', '司', '所', '馆', '处', '组', '完'];

fn is_name(token: &str, unlabelled: bool) -> bool {
    if NOT_NAMES.iter().any(|w| token.contains(w)) {
        return false;
    }
    let han = token.chars().filter(|&c| is_han(c)).count();
    let all_han = token.chars().all(|c| is_han(c) || c == '·');
    if all_han {
        let fits = if token.contains('·') { (3..=12).contains(&han) } else { (2..=4).contains(&han) };
        return fits && !(unlabelled && token.ends_with(ORG_ENDINGS));
    }
    // Pen names in Latin letters (`duscha`), only where a label says it is a name.
    !unlabelled && han == 0 && (2..=30).contains(&token.len()) && token.starts_with(|c: char| c.is_ascii_alphabetic())
}

fn is_han(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}' | '\u{20000}'..='\u{2FA1F}')
}

fn skip_separators(s: &str) -> &str {
    s.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, ':' | '：' | '\u{a0}' | '\u{3000}' | '/' | '／'))
}

/// Published date, author and headline from JSON-LD (`<script type="application/ld+json">`),
/// searched through `@graph` and arrays; the first of each wins.
#[derive(Debug, Default)]
pub struct JsonLd {
    pub published: Option<String>,
    pub author: Option<String>,
    pub headline: Option<String>,
}

impl JsonLd {
    /// Adds what one script states. Malformed JSON (common: trailing commas, HTML comments)
    /// is ignored: the visible page still has its bylines.
    pub fn read(&mut self, script: &str) {
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(script.trim()) {
            self.visit(&value, 0);
        }
    }

    fn visit(&mut self, v: &serde_json::Value, depth: usize) {
        use serde_json::Value;
        if depth > 8 {
            return;
        }
        match v {
            Value::Array(items) => items.iter().for_each(|i| self.visit(i, depth + 1)),
            Value::Object(map) => {
                if self.published.is_none() {
                    self.published = ["datePublished", "dateCreated", "uploadDate"]
                        .iter()
                        .find_map(|k| map.get(*k).and_then(Value::as_str))
                        .map(str::to_string);
                }
                if self.author.is_none() {
                    self.author = map.get("author").and_then(author_names);
                }
                if self.headline.is_none() {
                    self.headline = map.get("headline").and_then(Value::as_str).map(|s| trim_all(s).to_string());
                }
                if let Some(graph) = map.get("@graph") {
                    self.visit(graph, depth + 1);
                }
            }
            _ => {}
        }
    }
}

fn author_names(v: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let one = |v: &Value| match v {
        Value::String(s) => Some(trim_all(s).to_string()),
        Value::Object(m) => m.get("name").and_then(Value::as_str).map(|s| trim_all(s).to_string()),
        _ => None,
    };
    let names: Vec<String> = match v {
        Value::Array(items) => items.iter().filter_map(one).collect(),
        other => one(other).into_iter().collect(),
    };
    let names: Vec<String> = names.into_iter().filter(|n| !n.is_empty()).collect();
    (!names.is_empty()).then(|| names.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn author(line: &str) -> Option<String> {
        Byline::scan([line]).author
    }

    #[test]
    fn labelled_authors() {
        assert_eq!(author("时间：2004年10月21日14:18 作者：郭励弘 ").as_deref(), Some("郭励弘"));
        assert_eq!(author("编辑： 金金 来源： 21世纪经济报道 作者：宋怡 杨志华").as_deref(), Some("宋怡 杨志华"));
        assert_eq!(author("本报记者罗科苏盈发自北京").as_deref(), Some("罗科苏盈"));
        assert_eq!(author("新京报记者 彭冲 山东冠县报道 【编辑:刘欢】").as_deref(), Some("彭冲"));
        assert_eq!(author("顶端新闻·河南商报记者马俊峰/文受访者供图").as_deref(), Some("马俊峰"));
        assert_eq!(author("据新华社拉萨电（记者 格桑边觉）记者近日从").as_deref(), Some("格桑边觉"));
        assert_eq!(author("本报实习生 刘国栋 周炜").as_deref(), Some("刘国栋 周炜"));
        assert_eq!(author("By 作者: duscha").as_deref(), Some("duscha"));
        assert_eq!(author("作者： size=\"20\" 来源："), None);
    }

    #[test]
    fn prose_is_no_byline() {
        assert_eq!(author("孙启勤告诉记者，他仍然在坚持购买彩票。"), None);
        assert_eq!(author("在记者一行正要结束采访时，他突然扬起眉毛说"), None);
        assert_eq!(author("作者简介：张三，教授"), None);
        assert_eq!(author("记者：来源不详"), None);
        assert_eq!(author("记者致电上海、武汉等地商场人士"), None);
        assert_eq!(author("冲上去卡住了记者的脖子，大有"), None);
        // A second label ends the list of names.
        assert_eq!(author("作者：樊亮 记者惠禾").as_deref(), Some("樊亮"));
        assert_eq!(author("作者： 赵婕出自人民网").as_deref(), Some("赵婕"));
    }

    #[test]
    fn trailing_credits() {
        assert_eq!(trailing_credit("过一个平安、祥和的新春佳节。（常书香 马丹阳 ）").as_deref(), Some("常书香 马丹阳"));
        assert_eq!(trailing_credit("推动云南工业高质量发展。（记者 胡晓蓉）").as_deref(), Some("胡晓蓉"));
        assert_eq!(trailing_credit("都不都是利益再分配的过程吗？”（姚峰 上海报道）").as_deref(), Some("姚峰"));
        assert_eq!(trailing_credit("（袁源）").as_deref(), Some("袁源"));
        assert_eq!(trailing_credit("全文完。（完）"), None);
        assert_eq!(trailing_credit("消息来自通讯社。（新华社）"), None);
        assert_eq!(trailing_credit("他买了一部苹果（Apple）"), None);
        assert_eq!(trailing_credit("这是一段很长的话。（据说这个括号里是一整句话而不是署名）"), None);
    }

    #[test]
    fn sources_editors_dates() {
        let b = Byline::scan(["来源：[ 人民网 ] 编辑：山石", "发布时间：2021-11-03 10:32:35 浏览：100"]);
        assert_eq!(b.source.as_deref(), Some("人民网"));
        assert_eq!(b.editor.as_deref(), Some("山石"));
        assert_eq!(b.date.as_deref(), Some("2021-11-03T10:32:35"));
        assert_eq!(b.author, None);
        assert_eq!(labelled_date("发表于2005年8月12日16:12:21").as_deref(), Some("2005-08-12T16:12:21"));
        // `于` alone dates events in prose (`于2022年2月12日去世`), not the article.
        assert_eq!(labelled_date("因病医治无效，于2022年2月12日23时逝世"), None);
        assert_eq!(labelled_date("报名时间为本周，2003年11月1日开始"), None);
    }

    #[test]
    fn json_ld() {
        let mut j = JsonLd::default();
        j.read(r#"{"@context":"https://schema.org","@graph":[{"@type":"WebPage"},{"@type":"NewsArticle","headline":" 标题 ","datePublished":"2022-01-27T08:00:00+08:00","author":[{"@type":"Person","name":"张三"},"李四"]}]}"#);
        assert_eq!(j.published.as_deref(), Some("2022-01-27T08:00:00+08:00"));
        assert_eq!(j.author.as_deref(), Some("张三 李四"));
        assert_eq!(j.headline.as_deref(), Some("标题"));
        let mut bad = JsonLd::default();
        bad.read("{\"author\": \"x\",}");
        assert_eq!(bad.author, None);
    }
}
