//! The working-tree watch: bursts coalesce into one signal, ignored directories and reads
//! signal nothing, new directories are followed, dropping the guard closes the channel.

use std::path::Path;
use std::time::Duration;

use sextant_source::watch::watch;
use tokio::time::timeout;

const DEBOUNCE: Duration = Duration::from_millis(300);
/// Generous bound for a signal that must come (slow CI).
const ARRIVES: Duration = Duration::from_secs(10);
/// How long silence must hold to count as "no signal": several quiet periods.
const SILENT: Duration = Duration::from_millis(1500);

fn tree() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for dir in [".git/objects", "target/debug", "envs/prod"] {
        std::fs::create_dir_all(tmp.path().join(dir)).unwrap();
    }
    std::fs::write(tmp.path().join("envs/prod/values.yaml"), "replicas: 1\n").unwrap();
    tmp
}

fn write(root: &Path, rel: &str, text: &str) {
    std::fs::write(root.join(rel), text).unwrap();
}

#[tokio::test]
async fn a_burst_of_writes_yields_one_signal() {
    let tmp = tree();
    let (_watcher, mut rx) = watch(tmp.path(), DEBOUNCE).unwrap();
    for i in 0..20 {
        write(
            tmp.path(),
            "envs/prod/values.yaml",
            &format!("replicas: {i}\n"),
        );
        write(tmp.path(), "values.yaml", &format!("n: {i}\n"));
    }
    assert_eq!(
        timeout(ARRIVES, rx.recv()).await,
        Ok(Some(())),
        "one signal"
    );
    assert!(timeout(SILENT, rx.recv()).await.is_err(), "and only one");
}

#[tokio::test]
async fn writes_under_ignored_directories_yield_nothing() {
    let tmp = tree();
    let (_watcher, mut rx) = watch(tmp.path(), DEBOUNCE).unwrap();
    write(tmp.path(), ".git/index", "x");
    write(tmp.path(), ".git/objects/ab", "x");
    write(tmp.path(), "target/debug/out", "x");
    std::fs::create_dir_all(tmp.path().join("envs/.cache")).unwrap();
    write(tmp.path(), "envs/.cache/chart.tgz", "x");
    // Silence over several quiet periods, then a control write proves the watch was live.
    assert!(
        timeout(SILENT, rx.recv()).await.is_err(),
        "ignored writes signalled"
    );
    write(tmp.path(), "envs/prod/values.yaml", "replicas: 2\n");
    assert_eq!(
        timeout(ARRIVES, rx.recv()).await,
        Ok(Some(())),
        "control write must signal"
    );
}

#[tokio::test]
async fn reading_the_tree_yields_nothing() {
    let tmp = tree();
    let (_watcher, mut rx) = watch(tmp.path(), DEBOUNCE).unwrap();
    for _ in 0..5 {
        std::fs::read_to_string(tmp.path().join("envs/prod/values.yaml")).unwrap();
        std::fs::read_dir(tmp.path().join("envs"))
            .unwrap()
            .for_each(drop);
    }
    assert!(timeout(SILENT, rx.recv()).await.is_err(), "reads signalled");
}

#[tokio::test]
async fn a_new_top_level_directory_is_followed() {
    let tmp = tree();
    let (_watcher, mut rx) = watch(tmp.path(), DEBOUNCE).unwrap();
    std::fs::create_dir(tmp.path().join("charts")).unwrap();
    assert_eq!(
        timeout(ARRIVES, rx.recv()).await,
        Ok(Some(())),
        "creation signals"
    );
    std::fs::create_dir_all(tmp.path().join("charts/app")).unwrap();
    write(tmp.path(), "charts/app/Chart.yaml", "name: app\n");
    assert_eq!(
        timeout(ARRIVES, rx.recv()).await,
        Ok(Some(())),
        "write inside signals"
    );
}

#[tokio::test]
async fn dropping_the_watcher_closes_the_channel() {
    let tmp = tree();
    let (watcher, mut rx) = watch(tmp.path(), DEBOUNCE).unwrap();
    drop(watcher);
    assert_eq!(timeout(ARRIVES, rx.recv()).await, Ok(None));
}

#[test]
fn a_missing_root_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let err = watch(&missing, DEBOUNCE).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}
