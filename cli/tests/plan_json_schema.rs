//! The `--json` rendering validates against the published, versioned schema
//! (docs/plan-json.schema.json) for every kind of plan.

mod support {
    pub mod json_schema;
}

use failback_cli::render::json;
use failback_engine::plan::worlds;
use support::json_schema::validate;

fn schema() -> serde_json::Value {
    let text = include_str!("../../docs/plan-json.schema.json");
    serde_json::from_str(text).expect("the schema is valid JSON")
}

#[test]
fn every_world_renders_json_that_matches_the_schema() {
    let schema = schema();
    for (name, world) in [
        ("all_new", worlds::all_new()),
        ("all_done", worlds::all_done()),
        ("drift", worlds::drift()),
        ("errors_acknowledged", worlds::errors_acknowledged()),
        ("recovery_plan_unit", worlds::recovery_plan_unit()),
        ("destructive_snapshots", worlds::destructive_snapshots()),
        ("generated", worlds::generated(200)),
    ] {
        let rendered: serde_json::Value =
            serde_json::from_str(&json::render(&world.plan())).expect("rendered JSON parses");
        let errors = validate(&schema, &rendered);
        assert!(errors.is_empty(), "{name}: {errors:#?}");
    }
}

#[test]
fn the_schema_version_is_the_rendered_version() {
    let schema = schema();
    assert_eq!(
        schema["properties"]["format_version"]["enum"][0],
        json::JSON_FORMAT_VERSION
    );
}

#[test]
fn a_field_the_schema_does_not_know_fails_validation() {
    let schema = schema();
    let mut rendered: serde_json::Value =
        serde_json::from_str(&json::render(&worlds::all_new().plan())).unwrap();
    rendered["resource_changes"][0]["surprise"] = serde_json::json!(1);
    assert!(!validate(&schema, &rendered).is_empty());
}
