//! The Lambda lifecycle: when the function has finished an invocation ([`completion`]), when to flush
//! ([`flush`]), how a flush runs ([`flusher`]), and the INVOKE / SHUTDOWN handling that ties them
//! together ([`controller`]); [`notice`] is how its waits learn that something changed.

pub mod completion;
pub mod controller;
pub mod flush;
pub mod flusher;
pub mod notice;
