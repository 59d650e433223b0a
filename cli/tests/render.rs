//! The three renderings of plans for hand-built worlds, pinned by snapshots.

use failback_cli::render::markdown::{ApplyHint, GITHUB_COMMENT_LIMIT};
use failback_cli::render::{Paint, Sources, human, json, markdown};
use failback_engine::plan::worlds::{self, World};

fn sources(world: &World) -> Sources {
    Sources::from_files(world.sources.clone())
}

fn apply_hint() -> ApplyHint {
    ApplyHint::Command("failback apply failback.plan".to_owned())
}

fn snapshot_all(name: &str, world: World) {
    let plan = world.plan();
    let sources = sources(&world);
    insta::assert_snapshot!(
        format!("{name}__human"),
        human::render(&plan, &sources, Paint::new(false))
    );
    insta::assert_snapshot!(format!("{name}__json"), json::render(&plan));
    insta::assert_snapshot!(
        format!("{name}__markdown"),
        markdown::render(&plan, &sources, &apply_hint())
    );
}

#[test]
fn all_new() {
    snapshot_all("all_new", worlds::all_new());
}

#[test]
fn all_done() {
    snapshot_all("all_done", worlds::all_done());
}

#[test]
fn drift() {
    snapshot_all("drift", worlds::drift());
}

#[test]
fn errors_and_acknowledged() {
    snapshot_all("errors_acknowledged", worlds::errors_acknowledged());
}

#[test]
fn recovery_plan_unit() {
    snapshot_all("recovery_plan_unit", worlds::recovery_plan_unit());
}

#[test]
fn destructive_snapshot_removal() {
    snapshot_all("destructive_snapshots", worlds::destructive_snapshots());
}

#[test]
fn colours_only_when_asked() {
    let world = worlds::destructive_snapshots();
    let plan = world.plan();
    let plain = human::render(&plan, &sources(&world), Paint::new(false));
    let coloured = human::render(&plan, &sources(&world), Paint::new(true));
    assert!(!plain.contains('\u{1b}'), "escape codes without colour");
    assert!(coloured.contains("\u{1b}["), "no escape codes with colour");
}

#[test]
fn summary_line_reads_as_documented() {
    let plan = worlds::errors_acknowledged().plan();
    assert_eq!(
        failback_cli::render::summary_line(&plan),
        "1 to reprotect, 0 to fix, 0 unchanged, 2 cannot be planned; 3 errors, 0 warnings, 1 acknowledged"
    );
}

#[test]
fn findings_without_sources_keep_their_location() {
    let plan = worlds::errors_acknowledged().plan();
    let text = human::render(&plan, &Sources::new(), Paint::new(false));
    assert!(text.contains("(declared at main.hcl:"), "{text}");
}

#[test]
fn markdown_of_a_5000_item_plan_stays_under_the_comment_limit() {
    let world = worlds::generated(5_000);
    let plan = world.plan();
    let text = markdown::render(&plan, &sources(&world), &apply_hint());
    assert!(
        text.chars().count() < GITHUB_COMMENT_LIMIT,
        "{} characters",
        text.chars().count()
    );
    assert!(text.contains("more actions, in the full plan below"));
    assert!(text.contains("more lines not shown"));
    assert!(
        text.trim_end().ends_with("```"),
        "the apply command must close the comment"
    );
    assert!(text.contains("failback apply failback.plan"));
    // Every opened block is closed.
    assert_eq!(
        text.matches("<details>").count(),
        text.matches("</details>").count()
    );
    assert_eq!(text.matches("```").count() % 2, 0);
}

#[test]
fn markdown_folds_under_any_limit() {
    let world = worlds::destructive_snapshots();
    let plan = world.plan();
    for limit in [1_500, 3_000, 6_000] {
        let text = markdown::render_with_limit(&plan, &sources(&world), &apply_hint(), limit);
        assert!(text.len() <= limit, "limit {limit}: {} bytes", text.len());
        assert!(text.contains("failback apply failback.plan"));
    }
}
