fn main() {
    let dir = std::env::args().nth(1).unwrap();
    let loaded =
        failback_engine::config::load_report(std::path::Path::new(&dir), &Default::default());
    print!("{}", loaded.diagnostics.render_plain(100));
    println!(
        "reprotects={} outputs={:?}",
        loaded.config.reprotects.len(),
        loaded
            .config
            .outputs
            .iter()
            .map(|o| (&o.address, &o.value))
            .collect::<Vec<_>>()
    );
    let findings = failback_engine::rules::check_config(&loaded.config);
    println!("findings={}", findings.len());
}
