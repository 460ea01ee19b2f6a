//! The Lambda lifecycle: when the function has finished an invocation ([`completion`]), when to flush
//! ([`flush`]), how a flush runs ([`flusher`]), and the INVOKE / SHUTDOWN handling that ties them
//! together ([`controller`]).

pub mod completion;
pub mod controller;
pub mod flush;
pub mod flusher;
