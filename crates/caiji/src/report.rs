//! Output of `caiji sql` and `caiji diff`.

use std::io::Write;

use caiji_archive::query::{PageVersion, QueryResult, VersionPair};
use clap::ValueEnum;
use serde_json::Value;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SqlFormat {
    /// Aligned columns for a person.
    Table,
    /// RFC 4180 CSV with a header row.
    Csv,
    /// JSON Lines: one JSON object per row (no enclosing array), as `jq` and pandas read them.
    Json,
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn print_query(result: &QueryResult, format: SqlFormat, out: &mut dyn Write) -> anyhow::Result<()> {
    match format {
        SqlFormat::Json => {
            for row in &result.rows {
                let obj: serde_json::Map<String, Value> =
                    result.columns.iter().cloned().zip(row.iter().cloned()).collect();
                writeln!(out, "{}", Value::Object(obj))?;
            }
        }
        SqlFormat::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(&result.columns)?;
            for row in &result.rows {
                w.write_record(row.iter().map(cell))?;
            }
            w.flush()?;
        }
        SqlFormat::Table => {
            const MAX: usize = 60;
            let shorten = |s: String| -> String {
                let one_line = s.replace('\n', "⏎");
                if one_line.chars().count() > MAX {
                    one_line.chars().take(MAX - 1).collect::<String>() + "…"
                } else {
                    one_line
                }
            };
            let cells: Vec<Vec<String>> =
                result.rows.iter().map(|r| r.iter().map(|v| shorten(cell(v))).collect()).collect();
            let width = |s: &str| s.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum::<usize>();
            let widths: Vec<usize> = result
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| cells.iter().map(|r| width(&r[i])).chain([width(c)]).max().unwrap_or(0))
                .collect();
            let line = |vals: &[String], out: &mut dyn Write| -> std::io::Result<()> {
                let padded: Vec<String> = vals
                    .iter()
                    .zip(&widths)
                    .map(|(v, w)| format!("{v}{}", " ".repeat(w.saturating_sub(width(v)))))
                    .collect();
                writeln!(out, "{}", padded.join(" | ").trim_end())
            };
            line(&result.columns, out)?;
            writeln!(out, "{}", widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("-+-"))?;
            for r in &cells {
                line(r, out)?;
            }
            writeln!(out, "({} rows)", result.rows.len())?;
        }
    }
    Ok(())
}

pub fn print_diff(
    extractor: &str,
    from: &str,
    to: &str,
    compared: i64,
    changed: i64,
    sample: &[VersionPair],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    writeln!(out, "{extractor} {from} -> {to}: {compared} documents extracted by both, {changed} changed")?;
    for pair in sample {
        let (old, new) = (pair.old.render(), pair.new.render());
        let diff = similar::TextDiff::from_lines(&old, &new);
        writeln!(out)?;
        write!(
            out,
            "{}",
            diff.unified_diff()
                .context_radius(1)
                .header(&format!("{} ({from})", pair.url), &format!("{} ({to})", pair.url))
        )?;
    }
    Ok(())
}

/// `caiji diff --url`: the page's versions, then a unified diff between each two consecutive.
pub fn print_history(url: &str, versions: &[PageVersion], out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "{url}: {} distinct texts in the archive", versions.len())?;
    let render = |v: &PageVersion| format!("title: {}\n\n{}\n", v.title.as_deref().unwrap_or("-"), v.text);
    let when = |v: &PageVersion| {
        format!(
            "seen {} .. {}, {} captures",
            v.first_seen_at.format("%Y-%m-%d %H:%M:%SZ"),
            v.last_seen_at.format("%Y-%m-%d %H:%M:%SZ"),
            v.captures
        )
    };
    for (i, v) in versions.iter().enumerate() {
        writeln!(out, "  version {}: {}", i + 1, when(v))?;
    }
    for pair in versions.windows(2) {
        let (old, new) = (render(&pair[0]), render(&pair[1]));
        let diff = similar::TextDiff::from_lines(&old, &new);
        writeln!(out)?;
        write!(
            out,
            "{}",
            diff.unified_diff()
                .context_radius(1)
                .header(&format!("{url} ({})", when(&pair[0])), &format!("{url} ({})", when(&pair[1])))
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn history_diff_shows_each_change_with_its_dates() {
        let at = |d: u32| chrono::Utc.with_ymd_and_hms(2026, 11, d, 8, 0, 0).unwrap();
        let v = |first: u32, last: u32, title: &str, text: &str| PageVersion {
            first_seen_at: at(first),
            last_seen_at: at(last),
            captures: 2,
            title: Some(title.into()),
            text: text.into(),
        };
        let versions = [
            v(1, 3, "通知", "第一段。\n\n截至目前共有120人报名。"),
            v(4, 9, "通知（更正）", "第一段。\n\n截至目前共有210人报名。"),
        ];
        let mut out = Vec::new();
        print_history("http://x.test/a", &versions, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("http://x.test/a: 2 distinct texts"), "{out}");
        assert!(out.contains("seen 2026-11-01 08:00:00Z .. 2026-11-03 08:00:00Z, 2 captures"), "{out}");
        assert!(out.contains("\n-截至目前共有120人报名。\n+截至目前共有210人报名。"), "{out}");
        assert!(out.contains("\n-title: 通知\n+title: 通知（更正）"), "{out}");
        assert!(!out.contains("-第一段。"), "unchanged lines are context: {out}");
    }
}
