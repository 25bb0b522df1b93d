//! Staff pages of mediation and the printable agreement.
