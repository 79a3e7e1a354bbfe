//! Every kind of bad input gets one clear error naming the file and the field, a non-zero exit,
//! and nothing on standard output.

mod support;

use support::*;

/// A repository with one good release (`echo`) and an environment file built by `edit`.
fn repo_with(env_yaml: &str) -> TempRepo {
    let repo = TempRepo::new();
    repo.chart("values-echo")
        .chart("broken-yaml")
        .write("environments/dev/values/echo.yaml", "replicaCount: 2\n")
        .write(
            "environments/prod/environment.yaml",
            &environment("prod", "    []\n").replace("  releases:\n    []\n", "  releases: []\n"),
        )
        .write("environments/dev/environment.yaml", env_yaml);
    repo
}

const GOOD: &str = "    - name: echo\n      namespace: echo\n      chart: charts/values-echo\n      values: [values/echo.yaml]\n";

/// Runs `sextant plan --env dev` and returns stderr, asserting failure and empty stdout.
fn fails(repo: &TempRepo, env: &str) -> String {
    let cache = tempfile::tempdir().unwrap();
    let out = sextant(
        cache.path(),
        &[
            "plan",
            "--env",
            env,
            "--repo",
            repo.path().to_str().unwrap(),
        ],
    );
    assert!(!out.status.success(), "expected failure");
    assert!(out.stdout.is_empty(), "nothing is printed on failure");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_mentions(err: &str, parts: &[&str]) {
    for p in parts {
        assert!(err.contains(p), "error should mention {p:?}: {err}");
    }
}

#[test]
fn the_good_case_succeeds() {
    let repo = repo_with(&environment("dev", GOOD));
    let cache = tempfile::tempdir().unwrap();
    sextant_ok(
        cache.path(),
        &[
            "plan",
            "--env",
            "dev",
            "--repo",
            repo.path().to_str().unwrap(),
        ],
    );
}

#[test]
fn unknown_environment_lists_the_known_ones() {
    let repo = repo_with(&environment("dev", GOOD));
    let err = fails(&repo, "staging");
    assert_mentions(
        &err,
        &[
            "unknown environment \"staging\"",
            "environments/staging/environment.yaml",
            "dev, prod",
        ],
    );
}

#[test]
fn missing_chart_names_the_field() {
    let repo = repo_with(&environment(
        "dev",
        &GOOD.replace("charts/values-echo", "charts/nope"),
    ));
    let err = fails(&repo, "dev");
    assert_mentions(
        &err,
        &[
            "environments/dev/environment.yaml",
            "spec.releases[0].chart",
            "charts/nope",
            "not found",
        ],
    );
}

#[test]
fn missing_values_file_names_the_field() {
    let repo = repo_with(&environment(
        "dev",
        &GOOD.replace(
            "[values/echo.yaml]",
            "[values/echo.yaml, values/missing.yaml]",
        ),
    ));
    let err = fails(&repo, "dev");
    assert_mentions(
        &err,
        &[
            "environments/dev/environment.yaml",
            "spec.releases[0].values[1]",
            "values/missing.yaml",
        ],
    );
}

#[test]
fn duplicate_release_names_name_both_entries() {
    let repo = repo_with(&environment("dev", &format!("{GOOD}{GOOD}")));
    let err = fails(&repo, "dev");
    assert_mentions(
        &err,
        &[
            "environment.yaml",
            "spec.releases[1].name",
            "duplicate release name \"echo\"",
            "spec.releases[0]",
        ],
    );
}

#[test]
fn non_integer_wave_names_the_field() {
    let repo = repo_with(&environment("dev", &format!("{GOOD}      wave: soon\n")));
    let err = fails(&repo, "dev");
    assert_mentions(
        &err,
        &["environment.yaml", "spec.releases[0].wave", "integer"],
    );
}

#[test]
fn unknown_drift_policy_names_the_field() {
    let repo = repo_with(&format!(
        "{}  drift:\n    policy: panic\n",
        environment("dev", GOOD)
    ));
    let err = fails(&repo, "dev");
    assert_mentions(&err, &["environment.yaml", "spec.drift.policy", "panic"]);
}

#[test]
fn promotion_from_an_unknown_environment_names_the_field() {
    let repo = repo_with(&format!(
        "{}  promotion:\n    from: qa\n",
        environment("dev", GOOD)
    ));
    let err = fails(&repo, "dev");
    assert_mentions(
        &err,
        &[
            "environment.yaml",
            "spec.promotion.from",
            "\"qa\" does not exist",
            "dev, prod",
        ],
    );
}

#[test]
fn yaml_syntax_error_gives_line_and_column() {
    let repo =
        repo_with(&environment("dev", GOOD).replace("  name: dev\n", "  name: dev\n   oops: [\n"));
    let err = fails(&repo, "dev");
    assert_mentions(
        &err,
        &[
            "environments/dev/environment.yaml",
            "invalid YAML",
            "line 5 column",
        ],
    );
}

#[test]
fn broken_values_file_names_the_file_and_position() {
    let repo = repo_with(&environment("dev", GOOD));
    repo.write(
        "environments/dev/values/echo.yaml",
        "image:\n  tag: 1\n bad: x\n",
    );
    let err = fails(&repo, "dev");
    assert_mentions(
        &err,
        &[
            "environments/dev/values/echo.yaml",
            "invalid YAML",
            "line 3",
        ],
    );
}

#[test]
fn chart_that_renders_an_object_without_kind_names_release_chart_and_template() {
    let repo = repo_with(&environment(
        "dev",
        "    - {name: broken, namespace: b, chart: charts/broken-yaml}\n",
    ));
    let err = fails(&repo, "dev");
    assert_mentions(
        &err,
        &[
            "environment dev",
            "release broken",
            "chart charts/broken-yaml",
            "broken-yaml/templates/",
            "without `kind`",
        ],
    );
}

#[test]
fn chart_that_renders_a_duplicate_key_is_invalid_yaml() {
    let repo = repo_with(&environment(
        "dev",
        "    - {name: broken, namespace: b, chart: charts/broken-yaml, values: [dup.yaml]}\n",
    ));
    repo.write("environments/dev/dup.yaml", "form: duplicate-key\n");
    let err = fails(&repo, "dev");
    assert_mentions(
        &err,
        &["release broken", "rendered invalid YAML", "duplicate"],
    );
}

#[test]
fn template_error_carries_helms_message() {
    let repo = repo_with(&environment("dev", GOOD));
    repo.write(
        "charts/values-echo/templates/fail.yaml",
        "{{ fail \"the chart says no\" }}\n",
    );
    let err = fails(&repo, "dev");
    assert_mentions(
        &err,
        &[
            "environment dev",
            "release echo",
            "chart charts/values-echo",
            "helm template failed",
            "the chart says no",
        ],
    );
}

#[test]
fn unknown_release_lists_the_releases() {
    let repo = repo_with(&environment("dev", GOOD));
    let cache = tempfile::tempdir().unwrap();
    let out = sextant(
        cache.path(),
        &[
            "render",
            "--env",
            "dev",
            "--release",
            "nope",
            "--repo",
            repo.path().to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_mentions(
        &err,
        &["unknown release \"nope\"", "environment dev", "echo"],
    );
}

#[test]
fn the_same_object_from_two_releases_names_both() {
    let two = format!(
        "{GOOD}{}",
        GOOD.replace(
            "name: echo\n      namespace: echo",
            "name: echo2\n      namespace: echo"
        )
    );
    let repo = repo_with(&environment("dev", &two));
    // Both releases render a ConfigMap named after the release, so make them collide by name.
    repo.write(
        "charts/values-echo/templates/shared.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n",
    );
    let err = fails(&repo, "dev");
    assert_mentions(
        &err,
        &[
            "ConfigMap echo/shared",
            "declared twice",
            "release echo",
            "release echo2",
        ],
    );
}
