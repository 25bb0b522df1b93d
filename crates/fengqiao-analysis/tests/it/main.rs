//! The analyses through their public interfaces, on generated and hand-labelled data.

mod text_classify;
mod text_duplicates;
mod text_risk;
mod text_tokenize;
