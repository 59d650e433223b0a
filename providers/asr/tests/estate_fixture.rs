//! The realistic ASR estate used by the simulator tests is a valid estate with the
//! shape those tests rely on.

mod support;

#[test]
fn the_realistic_estate_loads_and_has_the_advertised_shape() {
    let estate = support::realistic_estate();
    let vault = &estate.vault;
    assert_eq!(vault.configuration_servers.len(), 2);
    let os_types: Vec<_> = vault
        .configuration_servers
        .iter()
        .flat_map(|server| {
            server
                .master_targets
                .iter()
                .map(|target| format!("{:?}", target.os_type))
        })
        .collect();
    assert!(os_types.contains(&"Windows".to_owned()) && os_types.contains(&"Linux".to_owned()));
    assert_eq!(vault.protected_items.len(), 50);
    assert_eq!(vault.recovery_plans.len(), 3);
}
