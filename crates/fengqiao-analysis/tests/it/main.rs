//! The analyses through their public interfaces, on generated and hand-labelled data.

mod spatial_scan;
mod text_classify;
mod text_duplicates;
mod text_risk;
mod text_tokenize;
