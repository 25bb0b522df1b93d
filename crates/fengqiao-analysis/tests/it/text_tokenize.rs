//! Tokenisation of Chinese, English and mixed text.

use fengqiao_analysis::text::{normalize, tokenize};

#[test]
fn chinese_is_segmented_into_words_without_stop_words() {
    let t = tokenize("楼上邻居家的空调漏水，我们已经反映了三次。");
    assert!(t.contains(&"邻居家".to_string()), "{t:?}");
    assert!(t.contains(&"空调".to_string()), "{t:?}");
    assert!(t.contains(&"漏水".to_string()), "{t:?}");
    for stop in ["的", "我们", "已经", "了", "，", "。"] {
        assert!(!t.contains(&stop.to_string()), "{stop} in {t:?}");
    }
}

#[test]
fn english_follows_unicode_word_rules_lowercased_without_stop_words() {
    let t = tokenize("The street light on People's Road is OUT, again! Call 12345.");
    assert_eq!(t, ["street", "light", "people's", "road", "call"]);
}

#[test]
fn full_width_and_mixed_text_are_normalised() {
    // Full-width Latin letters and digits (as typed with a Chinese input method) fold to ASCII.
    assert_eq!(normalize("ＷｉＦｉ　１２３"), "wifi 123");
    let t = tokenize("小区ＷｉＦｉ坏了，wifi broken");
    assert_eq!(t.iter().filter(|w| *w == "wifi").count(), 2, "{t:?}");
    assert!(t.contains(&"小区".to_string()) && t.contains(&"broken".to_string()), "{t:?}");
    assert!(tokenize("  ，。！  ").is_empty());
    // Beyond the full-width forms, the full NFKC applies: composition across a full-width
    // letter and a combining mark, half-width katakana, circled digits, ligatures.
    assert_eq!(normalize("Ｅ\u{301}"), "é");
    assert_eq!(normalize("ｶﾞ①ﬁ"), "ガ1fi");
}
