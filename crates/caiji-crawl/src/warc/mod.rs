//! WARC (ISO 28500, WARC/1.1) in and out of the archive: `caiji export warc`
//! ([`export`]), `caiji import warc` ([`import`], ARC files through [`arc`]): the mapping
//! between a WARC record and a capture, and the record framing (docs/warc.md says why no WARC
//! crate is used). gzip is flate2's, HTTP heads httparse's, content codings the fetcher's.

pub mod arc;
pub mod export;
pub mod import;

use data_encoding::{BASE32, BASE64, BASE64URL, HEXLOWER_PERMISSIVE};
use sha1::Digest as _;

/// Header names caiji renames on export because the exported body is stored after content
/// and transfer decoding: `Content-Encoding: gzip` over a decoded body would be a lie. The
/// original value is kept under `X-Caiji-Original-<Name>` and restored on import.
pub const RENAMED_ON_EXPORT: [&str; 3] = ["content-encoding", "transfer-encoding", "content-length"];
/// Prefix of a header holding a value as received that the export had to change.
pub const ORIGINAL_PREFIX: &str = "x-caiji-original-";

/// `sha1:<BASE32>`, the digest form WARC tools write (`WARC-Block-Digest`,
/// `WARC-Payload-Digest`).
pub fn sha1_base32(bytes: &[u8]) -> String {
    format!("sha1:{}", BASE32.encode(&sha1::Sha1::digest(bytes)))
}

/// Checks a `WARC-*-Digest` value (`algorithm:value`) against `bytes`. sha1 and sha256 are
/// checked, their value in base32, hex, base64 or base64url (all seen in real archives): a
/// value none of those decodes to a digest of the right length does not match. `None` for
/// other algorithms (nothing to say).
pub fn digest_matches(value: &str, bytes: &[u8]) -> Option<bool> {
    let (algorithm, encoded) = value.trim().split_once(':')?;
    let expected: Vec<u8> = match algorithm.to_ascii_lowercase().as_str() {
        "sha1" => sha1::Sha1::digest(bytes).to_vec(),
        "sha256" | "sha-256" => sha2::Sha256::digest(bytes).to_vec(),
        _ => return None,
    };
    let encoded = encoded.trim();
    let decoded = [&BASE32, &HEXLOWER_PERMISSIVE, &BASE64, &BASE64URL]
        .iter()
        .filter_map(|e| e.decode(encoded.as_bytes()).ok())
        .find(|d| d.len() == expected.len())
        .or_else(|| BASE32.decode(encoded.to_ascii_uppercase().as_bytes()).ok());
    Some(decoded.is_some_and(|d| d == expected))
}

/// A record id that is the same every time the same capture is exported from the same archive:
/// a name-based UUID (the layout of RFC 9562's version 8) over `name`.
pub fn stable_record_id(name: &str) -> String {
    let h = sha2::Sha256::digest(name.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = data_encoding::HEXLOWER.encode(&b);
    format!("<urn:uuid:{}-{}-{}-{}-{}>", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// WARC-Date: W3C ISO 8601 in UTC; a fraction of a second only when there is one (WARC/1.1
/// allows it, and an import then gives back the exact time).
pub fn warc_date(t: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Timelike;
    if t.nanosecond() == 0 {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }
}

/// Parses a WARC-Date (`2017-03-06T04:02:06Z`, with or without a fraction) or an ARC date
/// (`20170306040206`).
pub fn parse_warc_date(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let padded = format!("{digits:0<14}");
    chrono::NaiveDateTime::parse_from_str(padded.get(..14)?, "%Y%m%d%H%M%S").ok().map(|t| t.and_utc())
}

/// Headers as the archive keeps them (`captures.response_headers`): name → [values], names as
/// received; U+0000, which PostgreSQL's jsonb cannot hold, becomes U+FFFD.
pub fn headers_json(headers: &[(String, String)]) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (k, v) in headers {
        let (k, v) = (&k.replace('\0', "\u{fffd}"), &v.replace('\0', "\u{fffd}"));
        if let serde_json::Value::Array(a) = map.entry(k.clone()).or_insert_with(|| serde_json::Value::Array(vec![])) {
            a.push(serde_json::Value::String(v.clone()));
        }
    }
    serde_json::Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_in_every_encoding_warc_files_use() {
        // sha1 of the empty string, as warcio's example-digest.warc writes it.
        for v in [
            "sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ",
            "sha1:2jmj7l5rSw0yVb/vlWAYkK/YBwk=",
            "sha1:2jmj7l5rSw0yVb_vlWAYkK_YBwk=",
            "sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            assert_eq!(digest_matches(v, b""), Some(true), "{v}");
        }
        assert_eq!(digest_matches("sha1:1112H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ", b""), Some(false));
        assert_eq!(digest_matches("md5:d41d8cd98f00b204e9800998ecf8427e", b""), None);
        assert_eq!(sha1_base32(b""), "sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ");
    }

    #[test]
    fn record_ids_are_stable_uuids() {
        let a = stable_record_id("capture:1:response");
        assert_eq!(a, stable_record_id("capture:1:response"));
        assert_ne!(a, stable_record_id("capture:2:response"));
        assert!(
            regex::Regex::new(r"^<urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}>$")
                .unwrap()
                .is_match(&a)
        );
    }

    #[test]
    fn warc_and_arc_dates() {
        let t = parse_warc_date("2017-03-06T04:02:06Z").unwrap();
        assert_eq!(warc_date(t), "2017-03-06T04:02:06Z");
        assert_eq!(parse_warc_date("20170306040206"), Some(t));
        assert_eq!(
            parse_warc_date("2017-03-06T04:02:06.123456Z").map(warc_date).as_deref(),
            Some("2017-03-06T04:02:06.123456Z"),
            "a fraction is kept, so an import gives back the exact time"
        );
        assert_eq!(parse_warc_date("garbage"), None);
    }
}
