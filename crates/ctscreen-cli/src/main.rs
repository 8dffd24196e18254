//! The `ctscreen` command.
fn main() {}
