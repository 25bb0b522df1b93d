//! Integration tests of the domain: the lifecycle state machine under random command sequences,
//! and the business calendar with the deadlines computed on it.

mod calendar;
// Community consultation and residents by phone.
mod consultation;
mod lifecycle;
mod mediation;
