//! Integration tests of the domain: the lifecycle state machine under random command sequences.

mod lifecycle;
