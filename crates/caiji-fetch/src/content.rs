//! Undoing the content codings the HTTP client left in place (RFC 9110 §8.4).
//!
//! reqwest decodes `gzip`, `deflate` and `br` when the header says exactly that, and then drops
//! the header. Servers also send `x-gzip` (§8.4.1.3: "SHOULD consider 'x-gzip' to be equivalent
//! to 'gzip'"), upper case (`GZIP`: coding names are case-insensitive, §8.4.1) and lists
//! (`gzip, br`: applied in order, undone in reverse). What the client left is undone here, with
//! the same size limit as the body (a decompression bomb stops at `max_body_bytes`). A coding
//! caiji does not know is recorded as [`Outcome::UnsupportedEncoding`] with the raw bytes, never
//! archived as if it were the page.

use std::io::Read;

use bytes::Bytes;

use crate::Outcome;

/// The codings listed by the `Content-Encoding` headers still present, in the order applied.
pub fn codings(headers: &[(String, String)]) -> Vec<String> {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("content-encoding"))
        .flat_map(|(_, v)| v.split(','))
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "identity")
        .collect()
}

/// `body` with every remaining content coding undone. Errors: the outcome, why, and the raw
/// body to keep (none when it grew past `limit`).
pub fn decode(
    headers: &[(String, String)],
    body: Bytes,
    limit: u64,
) -> Result<Bytes, (Outcome, String, Option<Bytes>)> {
    let codings = codings(headers);
    if codings.is_empty() {
        return Ok(body);
    }
    let mut current = body.clone();
    for coding in codings.iter().rev() {
        let decoded = match coding.as_str() {
            "gzip" | "x-gzip" => read_limited(flate2::read::MultiGzDecoder::new(&current[..]), limit),
            // "deflate" is the zlib format (RFC 9110 §8.4.1.2); some servers send raw deflate.
            "deflate" => read_limited(flate2::read::ZlibDecoder::new(&current[..]), limit)
                .or_else(|_| read_limited(flate2::read::DeflateDecoder::new(&current[..]), limit)),
            "br" => read_limited(brotli::Decompressor::new(&current[..], 4096), limit),
            other => {
                return Err((
                    Outcome::UnsupportedEncoding,
                    format!("unknown Content-Encoding {other:?}: body kept as received, not decoded"),
                    Some(body),
                ));
            }
        };
        current = match decoded {
            Ok(d) => Bytes::from(d),
            Err(Decode::TooLarge) => {
                return Err((
                    Outcome::TooLarge,
                    format!("decoded body exceeds the {limit}-byte limit ({coding})"),
                    None,
                ));
            }
            Err(Decode::Broken(e)) => {
                return Err((
                    Outcome::UnsupportedEncoding,
                    format!("body does not decode as Content-Encoding {coding:?}: {e}; kept as received"),
                    Some(body),
                ));
            }
        };
    }
    Ok(current)
}

enum Decode {
    TooLarge,
    Broken(std::io::Error),
}

fn read_limited(reader: impl Read, limit: u64) -> Result<Vec<u8>, Decode> {
    let mut out = Vec::new();
    reader.take(limit.saturating_add(1)).read_to_end(&mut out).map_err(Decode::Broken)?;
    if out.len() as u64 > limit {
        return Err(Decode::TooLarge);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn h(v: &str) -> Vec<(String, String)> {
        vec![("content-type".into(), "text/html".into()), ("Content-Encoding".into(), v.into())]
    }

    #[test]
    fn gzip_names_are_case_insensitive_and_x_gzip_is_gzip() {
        let page = "<p>本周三上午，区政府召开</p>".as_bytes();
        for name in ["gzip", "x-gzip", "GZIP", "X-GZip", " gzip "] {
            let got = decode(&h(name), Bytes::from(gzip(page)), 1 << 20).unwrap_or_else(|e| panic!("{name}: {}", e.1));
            assert_eq!(&got[..], page, "{name}");
        }
    }

    #[test]
    fn listed_codings_are_undone_in_reverse_order() {
        let page = b"<html>hello</html>".to_vec();
        let mut br = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut br, 4096, 5, 22);
            w.write_all(&gzip(&page)).unwrap();
        }
        assert_eq!(&decode(&h("gzip, br"), Bytes::from(br), 1 << 20).unwrap()[..], &page[..]);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&page).unwrap();
        assert_eq!(&decode(&h("Deflate"), Bytes::from(z.finish().unwrap()), 1 << 20).unwrap()[..], &page[..]);
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(&page).unwrap();
        assert_eq!(&decode(&h("deflate"), Bytes::from(raw.finish().unwrap()), 1 << 20).unwrap()[..], &page[..]);
        assert_eq!(&decode(&h("identity"), Bytes::from(page.clone()), 1 << 20).unwrap()[..], &page[..]);
    }

    #[test]
    fn unknown_or_broken_codings_keep_the_raw_body_and_bombs_stop_at_the_limit() {
        let raw = Bytes::from_static(b"\x00\x01compressed?");
        let (outcome, msg, kept) = decode(&h("zstd-unknown"), raw.clone(), 1 << 20).unwrap_err();
        assert_eq!(outcome, Outcome::UnsupportedEncoding);
        assert!(msg.contains("zstd-unknown"), "{msg}");
        assert_eq!(kept, Some(raw.clone()));
        let (outcome, _, kept) = decode(&h("x-gzip"), raw.clone(), 1 << 20).unwrap_err();
        assert_eq!((outcome, kept), (Outcome::UnsupportedEncoding, Some(raw)));
        let bomb = gzip(&vec![0u8; 5 << 20]);
        let (outcome, _, kept) = decode(&h("x-gzip"), Bytes::from(bomb), 1 << 20).unwrap_err();
        assert_eq!((outcome, kept), (Outcome::TooLarge, None));
    }
}
