//! failback's benchmark binary: each case prints one line, `bench <case> key=value ...`.

fn main() {}
