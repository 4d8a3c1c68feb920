//! Text-level cleaning passes shared by the extractors. Each names the artifact it repairs.

/// CJK ideographs and the punctuation that sits between them without spaces.
pub fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}' | '\u{20000}'..='\u{2FA1F}'
        | '\u{3000}'..='\u{303F}'   // CJK punctuation 、。〈〉《》「」
        | '\u{FF00}'..='\u{FFEF}'   // full-width forms ，！？：；（）
        | '\u{2014}' | '\u{2026}'   // — …
        | '\u{00B7}'                // ·
    )
}

fn is_quote(c: char) -> bool {
    matches!(c, '“' | '”' | '‘' | '’')
}

/// Removes ASCII spaces next to Chinese quotes, on their inner side and on their CJK side
/// (seed 002: `开年就是 “ 十四五 ” 开局` → `开年就是“十四五”开局`; ttnews: a space before an
/// opening quote). Spaces that belong to the text stay: `2018 年`, `在 5G、AI`, and a space
/// between two CJK characters (`“解放思想 对标找差”` is a title as written).
pub fn drop_cjk_spaces(s: &str) -> String {
    drop_spaces(s, false)
}

/// [`drop_cjk_spaces`], and also spaces between two CJK characters: a PDF text layer puts them
/// where a reader sees none (dede: `开年 就是` → `开年就是`).
pub fn drop_pdf_spaces(s: &str) -> String {
    drop_spaces(s, true)
}

fn drop_spaces(s: &str, between_cjk: bool) -> String {
    // Most Chinese lines hold no ASCII space at all.
    if !s.contains(' ') {
        return s.to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == ' ' {
            let start = i;
            while i < chars.len() && chars[i] == ' ' {
                i += 1;
            }
            let before = start.checked_sub(1).map(|j| chars[j]);
            let after = chars.get(i).copied();
            let drop = match (before, after) {
                (Some(b), Some(a)) => {
                    let side = |x: char| is_cjk(x) || is_quote(x) || matches!(x, ',' | '.' | ';' | ':' | '!' | '?');
                    // Inside the quotes (`“ 1915 ”`) a space is never text; outside, only next to CJK.
                    matches!(b, '“' | '‘')
                        || matches!(a, '”' | '’')
                        || (between_cjk && is_cjk(b) && is_cjk(a))
                        || (is_quote(b) && side(a))
                        || (is_quote(a) && side(b))
                }
                _ => true, // leading or trailing
            };
            if !drop {
                out.push(' ');
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Trims every kind of whitespace, including no-break and ideographic spaces.
pub fn trim_all(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || c == '\u{a0}' || c == '\u{3000}' || c == '\u{feff}')
}

/// Splits a line at runs of two or more no-break/ideographic spaces: the only paragraph
/// separators of bodies that are one table cell (job328: `…建设。&nbsp;&nbsp;&nbsp;下面，…`).
pub fn split_on_space_runs(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut run = String::new();
    for c in s.chars() {
        if c == '\u{a0}' || c == '\u{3000}' || (c == ' ' && !run.is_empty()) {
            run.push(c);
            continue;
        }
        if !run.is_empty() {
            let wide = run.chars().filter(|&x| x != ' ').count();
            if wide >= 2 || run.chars().any(|x| x == '\u{3000}') {
                parts.push(std::mem::take(&mut current));
            } else {
                current.push(' ');
            }
            run.clear();
        }
        current.push(c);
    }
    parts.push(current);
    parts.into_iter().map(|p| trim_all(&p).to_string()).filter(|p| !p.is_empty()).collect()
}

/// Ends with sentence punctuation (a real paragraph end, not a PDF page break).
pub fn ends_sentence(s: &str) -> bool {
    let t = trim_all(s);
    t.ends_with(['。', '！', '？', '!', '?', '…', '：', ':', '；', ';', '”', '」', '）', ')', '》'])
}

/// The value after `label` in a metadata row, up to the next space (dede `时间:… 来源:网友投稿
/// 点击:`, job328 `作者:… 来源:横店人才网www.328job.com 日期:…`).
pub fn field_after(text: &str, label: &str) -> Option<String> {
    let rest = &text[text.find(label)? + label.len()..];
    let value: String = rest.chars().take_while(|c| !c.is_whitespace() && *c != '\u{a0}').collect();
    let value = trim_all(&value).to_string();
    (!value.is_empty()).then_some(value)
}

/// ISO date from `YYYY-MM-DD` or `YYYY-MM-DD HH:MM[:SS]` text (precision kept).
pub fn iso_datetime(s: &str) -> Option<String> {
    find_datetime(s).map(|(_, iso)| iso)
}

/// The first date in `s` ([`iso_datetime`]) and the byte offset where it starts.
pub fn find_datetime(s: &str) -> Option<(usize, String)> {
    let c = date_regex().captures(s)?;
    let at = c.get(0)?.start();
    let (y, m, d) = (&c[1], c[2].parse::<u32>().ok()?, c[3].parse::<u32>().ok()?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let date = format!("{y}-{m:02}-{d:02}");
    let iso = match (c.get(4), c.get(5), c.get(6)) {
        (Some(h), Some(mi), Some(sec)) => {
            format!("{date}T{:0>2}:{}:{}", h.as_str(), mi.as_str(), sec.as_str())
        }
        (Some(h), Some(mi), None) => format!("{date}T{:0>2}:{}", h.as_str(), mi.as_str()),
        _ => date,
    };
    Some((at, iso))
}

fn date_regex() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(
            r"((?:19|20)\d{2})[-/.年]\s*(\d{1,2})[-/.月]\s*(\d{1,2})日?(?:[\sT]*(\d{1,2}):(\d{2})(?::(\d{2}))?)?",
        )
        .unwrap_or_else(|e| panic!("built-in date regex: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_spaces() {
        assert_eq!(drop_pdf_spaces("开年 就是 “ 十四五 ” 开局"), "开年就是“十四五”开局");
        assert_eq!(drop_cjk_spaces("2018 年,我曾在非洲偶遇 4 位"), "2018 年,我曾在非洲偶遇 4 位");
        assert_eq!(drop_pdf_spaces("在 5G、AI 领域 加入 WTO 怎么办"), "在 5G、AI 领域加入 WTO 怎么办");
        assert_eq!(drop_cjk_spaces("“解放思想 对标找差”"), "“解放思想 对标找差”");
        assert_eq!(drop_cjk_spaces(" 同志们"), "同志们");
        assert_eq!(drop_cjk_spaces("制订了“ 1915 ”的总目标"), "制订了“1915”的总目标");
        assert_eq!(drop_cjk_spaces("心怀梦想“闯”。“闯” ,蕴含着"), "心怀梦想“闯”。“闯”,蕴含着");
    }

    #[test]
    fn space_runs() {
        assert_eq!(split_on_space_runs("甲。\u{a0}\u{a0}乙。\u{3000}丙 a\u{a0}b"), vec!["甲。", "乙。", "丙 a b"]);
    }

    #[test]
    fn dates() {
        assert_eq!(iso_datetime("时间:2021-11-03 10:32:35").as_deref(), Some("2021-11-03T10:32:35"));
        assert_eq!(iso_datetime("日期:2014-05-17 浏览").as_deref(), Some("2014-05-17"));
        assert_eq!(iso_datetime("2018年5月24日").as_deref(), Some("2018-05-24"));
        assert_eq!(iso_datetime("2018-13-24"), None);
        // Time glued to the day, as forums print it.
        assert_eq!(iso_datetime("于2005年8月12日16:12:21在").as_deref(), Some("2005-08-12T16:12:21"));
    }
}
