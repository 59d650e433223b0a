//! `failback-sim --estate FILE`: serves one estate's world on loopback.

fn main() {
    eprintln!("failback-sim: not built yet");
    std::process::exit(1);
}
