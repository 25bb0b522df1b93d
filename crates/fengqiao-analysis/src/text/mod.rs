//! Text: tokenisation, the category classifier, the risk score and near-duplicate detection.
