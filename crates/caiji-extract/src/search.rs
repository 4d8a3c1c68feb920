//! Words for full-text search. Most Chinese words are two characters, which a trigram index
//! cannot find, so the text is segmented (jieba, search mode: long words also yield their
//! parts) and stored as space-separated words for a `tsvector('simple', …)` index.

use std::sync::OnceLock;

use jieba_rs::Jieba;

/// jieba's dictionary (`dict.txt` of jieba-rs 0.11, MIT, gzipped): about 350,000 words with
/// their frequencies and parts of speech.
static DICTIONARY: &[u8] = include_bytes!("../data/jieba-dict.txt.gz");

fn jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(|| {
        let mut reader = std::io::BufReader::new(flate2::read::GzDecoder::new(DICTIONARY));
        Jieba::with_dict(&mut reader).unwrap_or_else(|e| {
            // Built into the binary and read by a test: unreachable short of a broken build.
            tracing::error!(error = %e, "jieba dictionary unreadable: words are cut by the HMM alone");
            Jieba::empty()
        })
    })
}

/// The distinct words of `text`, lowercased, separated by single spaces, in order of first
/// appearance; punctuation and whitespace dropped. Deterministic. Distinct because the index
/// keeps no positions (`strip()`): PostgreSQL then parses a few hundred words per text instead
/// of every occurrence, which was most of the cost of indexing.
pub fn search_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len() / 2);
    let mut seen = std::collections::HashSet::new();
    let mut word_buf = String::new();
    for word in jieba().cut_for_search(text, true) {
        let word = word.word.trim();
        if word.is_empty() || !word.chars().any(char::is_alphanumeric) {
            continue;
        }
        // tsquery syntax characters inside a word would break the stored vector's parsing.
        word_buf.clear();
        word_buf.extend(word.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase));
        if !seen.insert(word_buf.clone()) {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word_buf);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_character_words_are_words() {
        let w = search_words("深化改革开放，推动高质量发展。Deep Reform!");
        let words: Vec<&str> = w.split(' ').collect();
        assert!(words.contains(&"改革"), "{w}");
        assert!(words.contains(&"发展"), "{w}");
        assert!(words.contains(&"质量"), "{w}");
        assert!(words.contains(&"reform"), "{w}");
        assert!(!w.contains('，'));
    }

    /// The dictionary is loaded: search mode yields the overlapping dictionary words of a long
    /// one, which the HMM alone (unknown words) never does.
    #[test]
    fn the_dictionary_is_loaded() {
        let w = search_words("中华人民共和国");
        let words: Vec<&str> = w.split(' ').collect();
        for expected in ["中华", "华人", "人民", "共和", "共和国", "中华人民共和国"] {
            assert!(words.contains(&expected), "{expected} in {w}");
        }
    }

    #[test]
    fn each_word_once() {
        let w = search_words("改革，改革，再改革。Reform reform");
        assert_eq!(w.split(' ').filter(|x| *x == "改革").count(), 1, "{w}");
        assert_eq!(w.split(' ').filter(|x| *x == "reform").count(), 1, "{w}");
    }
}
