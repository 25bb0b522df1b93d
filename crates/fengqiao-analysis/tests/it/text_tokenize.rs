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

#[test]
fn topic_terms_leave_out_peoples_names() {
    let tok = fengqiao_analysis::text::Tokenizer::shared();
    let text = "王秀英反映光伏板漏电，张建国说村口的光伏电站噪声大";
    let all = tok.tokens(text);
    let topics = tok.topic_terms(text);
    println!("tokens {all:?}\ntopics {topics:?}");
    for name in ["秀英", "王秀英", "张建国", "建国"] {
        assert!(!topics.iter().any(|w| w == name), "{name} in {topics:?}");
    }
    assert!(all.iter().any(|w| w.contains("秀英")), "the plain tokens keep the name: {all:?}");
    for w in ["光伏", "漏电", "噪声"] {
        assert!(topics.iter().any(|t| t == w), "{w} in {topics:?}");
    }
    // Outside Han text the two agree.
    assert_eq!(tok.topic_terms("Street light OUT on People's Road"), tok.tokens("Street light OUT on People's Road"));
}
