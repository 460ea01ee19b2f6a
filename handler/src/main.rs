//! `bootstrap`: the Lambda function's entry point (wiring only).
fn main() {}
