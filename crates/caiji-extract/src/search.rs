//! Words for full-text search. Most Chinese words are two characters, which a trigram index
//! cannot find, so the text is segmented (jieba, search mode: long words also yield their
//! parts) and stored as space-separated words for a `tsvector('simple', …)` index.

use std::sync::OnceLock;

use jieba_rs::Jieba;

fn jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(Jieba::new)
}

/// The words of `text`, lowercased, separated by single spaces; punctuation and whitespace
/// dropped. Deterministic.
pub fn search_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    for word in jieba().cut_for_search(text, true) {
        let word = word.word.trim();
        if word.is_empty() || !word.chars().any(char::is_alphanumeric) {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        // tsquery syntax characters inside a word would break the stored vector's parsing.
        out.extend(word.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase));
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
}
