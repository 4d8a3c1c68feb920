//! ARC files (the Internet Archive's format before WARC, version 1): each record is one header
//! line `URL IP-address archive-date content-type length` followed by `length` bytes (an HTTP
//! response for http URLs) and a newline; the first record (`filedesc://`) describes the file.
//! No maintained Rust crate reads ARC, and the format is this one line, so caiji reads it.
//! Offsets of records in a gzip-compressed ARC are offsets in the uncompressed stream.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::import::RawRecord;

/// ARC records as WARC-like records: fields `WARC-Target-URI`, `WARC-Date`,
/// `WARC-IP-Address`, `Content-Type`, `WARC-Type` (`arc`, `warcinfo` for the filedesc record). Returns the records and, when the file is
/// cut or a header line is malformed, why reading stopped.
pub(super) fn read_arc(path: &Path, gzip: bool) -> std::io::Result<(Vec<RawRecord>, Option<String>)> {
    let file = BufReader::new(std::fs::File::open(path)?);
    let reader: Box<dyn Read> =
        if gzip { Box::new(flate2::bufread::MultiGzDecoder::new(file)) } else { Box::new(file) };
    read_arc_stream(BufReader::new(reader))
}

pub(super) fn read_arc_stream<R: BufRead>(mut r: R) -> std::io::Result<(Vec<RawRecord>, Option<String>)> {
    let mut out = Vec::new();
    let mut offset = 0u64;
    loop {
        let mut line = Vec::new();
        let n = r.read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok((out, None));
        }
        let start = offset;
        offset += n as u64;
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text.is_empty() {
            continue; // the newline after a record
        }
        let parts: Vec<&str> = text.split_whitespace().collect();
        // Version 1: URL IP date type length (5 fields); the URL has no spaces.
        let (Some(url), Some(length)) = (parts.first(), parts.last().and_then(|l| l.parse::<u64>().ok())) else {
            return Ok((out, Some(format!("offset {start}: not an ARC record header: {text:?}"))));
        };
        if parts.len() < 5 {
            return Ok((out, Some(format!("offset {start}: an ARC header has 5 fields: {text:?}"))));
        }
        let mut block = Vec::new();
        (&mut r).take(length).read_to_end(&mut block)?;
        offset += block.len() as u64;
        let short = ((block.len() as u64) < length)
            .then(|| format!("truncated: {} of {length} bytes before the file ends", block.len()));
        let mut fields = vec![
            ("WARC-Target-URI".to_string(), url.to_string()),
            ("WARC-Date".to_string(), parts[2].to_string()),
            ("WARC-IP-Address".to_string(), parts[1].to_string()),
            ("Content-Type".to_string(), parts[3].to_string()),
        ];
        let kind = if url.starts_with("filedesc://") { "warcinfo" } else { "arc" };
        fields.push(("WARC-Type".to_string(), kind.to_string()));
        let cut = short.is_some();
        out.push(RawRecord { offset: start, fields, block, short });
        if cut {
            return Ok((out, Some(format!("record at offset {start} is cut short"))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ARC as the Internet Archive's tools wrote them: a filedesc record, then responses.
    fn sample(cut: usize) -> Vec<u8> {
        let desc = "1 0 InternetArchive\nURL IP-address Archive-date Content-type Archive-length\n";
        let page =
            "HTTP/1.0 200 OK\r\nContent-Type: text/html; charset=gbk\r\nContent-Length: 13\r\n\r\n<p>hello</p>\n";
        let mut out =
            format!("filedesc://sample.arc 0.0.0.0 20140216050323 text/plain {}\n{desc}\n", desc.len()).into_bytes();
        out.extend(
            format!("http://example.com/ 93.184.216.34 20140216050323 text/html {}\n{page}\n", page.len()).bytes(),
        );
        out.truncate(out.len() - cut);
        out
    }

    #[test]
    fn reads_the_filedesc_and_the_responses() {
        let (records, damage) = read_arc_stream(&sample(0)[..]).unwrap();
        assert_eq!((records.len(), damage), (2, None));
        assert_eq!(records[1].fields[0].1, "http://example.com/");
        assert_eq!(records[1].fields[1].1, "20140216050323");
        assert!(records[1].block.starts_with(b"HTTP/1.0 200 OK"));
        assert!(records[1].block.ends_with(b"<p>hello</p>\n"));
        assert_eq!(records[0].fields.last().map(|f| f.1.as_str()), Some("warcinfo"));
        let second = sample(0).windows(7).position(|w| w == b"http://").unwrap() as u64;
        assert_eq!(records[1].offset, second);
    }

    #[test]
    fn a_cut_file_names_the_short_record() {
        let (records, damage) = read_arc_stream(&sample(10)[..]).unwrap();
        assert_eq!(records.len(), 2);
        assert!(records[1].short.as_deref().is_some_and(|s| s.starts_with("truncated")), "{:?}", records[1].short);
        assert!(damage.is_some());
        let (records, damage) = read_arc_stream(&b"not an arc\n"[..]).unwrap();
        assert!(records.is_empty() && damage.is_some_and(|d| d.contains("ARC")));
    }
}
