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

/// dev's environment promoting `images` from prod, echo's values holding `digest`.
fn promoting(images: &str, digest: &str) -> TempRepo {
    let repo = repo_with(&format!(
        "{}  promotion:\n    from: prod\n    images:\n{images}",
        environment("dev", GOOD)
    ));
    repo.write(
        "environments/dev/values/echo.yaml",
        &format!("replicaCount: 2\nimage:\n  digest: {digest}\n"),
    );
    repo
}

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn a_good_promotion_declaration_plans() {
    let repo = promoting(
        "      - {release: echo, path: image.digest, repository: registry.example.com/echo}\n",
        DIGEST,
    );
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
fn promoting_an_unknown_release_names_the_field_and_the_releases() {
    let repo = promoting(
        "      - {release: ehco, path: image.digest, repository: registry.example.com/echo}\n",
        DIGEST,
    );
    let err = fails(&repo, "dev");
    assert_mentions(
        &err,
        &[
            "environment.yaml",
            "spec.promotion.images[0].release",
            "unknown release \"ehco\"",
            "echo",
        ],
    );
}

#[test]
fn a_promoted_path_no_values_file_sets_names_the_files_read() {
    let repo = promoting(
        "      - {release: echo, path: image.sha, repository: registry.example.com/echo}\n",
        DIGEST,
    );
    let err = fails(&repo, "dev");
    assert_mentions(
        &err,
        &[
            "spec.promotion.images[0].path",
            "sets image.sha",
            "values/echo.yaml",
        ],
    );
}

#[test]
fn a_promoted_path_that_is_not_a_digest_names_the_values_file() {
    let repo = promoting(
        "      - {release: echo, path: image.digest, repository: registry.example.com/echo}\n",
        "sha256:abc",
    );
    let err = fails(&repo, "dev");
    assert_mentions(
        &err,
        &[
            "spec.promotion.images[0].path",
            "environments/dev/values/echo.yaml",
            "\"sha256:abc\"",
            "not a digest",
        ],
    );
}

#[test]
fn a_promoted_repository_with_a_tag_is_refused() {
    let repo = promoting(
        "      - {release: echo, path: image.digest, repository: \"registry.example.com:5000/echo:1.0\"}\n",
        DIGEST,
    );
    let err = fails(&repo, "dev");
    assert_mentions(
        &err,
        &[
            "spec.promotion.images[0].repository",
            "names a tag or digest",
        ],
    );
}

#[test]
fn promotion_from_itself_is_refused() {
    let repo = repo_with(&format!(
        "{}  promotion:\n    from: dev\n",
        environment("dev", GOOD)
    ));
    let err = fails(&repo, "dev");
    assert_mentions(&err, &["spec.promotion.from", "cannot promote from itself"]);
}

#[test]
fn a_bad_soak_names_the_field() {
    let repo = repo_with(&format!(
        "{}  promotion:\n    from: prod\n    soak: ten minutes\n",
        environment("dev", GOOD)
    ));
    let err = fails(&repo, "dev");
    assert_mentions(&err, &["spec.promotion.soak"]);
}

#[test]
fn a_bad_prometheus_check_names_the_field() {
    // (the check, what the error names)
    let table = [
        (
            "{prometheus: {url: \"http://p:9090\", query: \"up\", condition: \"below 1\"}}",
            vec!["spec.promotion.checks[0].prometheus.condition", "\"below 1\" does not match"],
        ),
        (
            "{prometheus: {url: \"http://p:9090\", condition: \"< 1\"}}",
            vec!["spec.promotion.checks[0].prometheus", "\"query\" is a required property"],
        ),
        (
            "{prometheus: {url: \"http://p:9090\", query: \"up\", condition: \"< 1\"}, http: {url: \"http://x\"}}",
            vec!["spec.promotion.checks[0]", "has more than 1 property"],
        ),
        (
            "{prometheus: {url: \"http://p:9090\", query: \"up\", condition: \"< 1\", for: \"a while\"}}",
            vec!["spec.promotion.checks[0].prometheus.for", "does not match"],
        ),
    ];
    for (check, says) in table {
        let repo = repo_with(&format!(
            "{}  promotion:\n    from: prod\n    checks:\n      - {check}\n",
            environment("dev", GOOD)
        ));
        let err = fails(&repo, "dev");
        assert_mentions(&err, &says);
    }
    // `verify` takes the same checks, and a window.
    for (verify, says) in [
        (
            "{window: 10m, checks: [{prometheus: {url: \"http://p:9090\", query: \"up\", condition: \"below 1\"}}]}",
            vec!["spec.promotion.verify.checks[0].prometheus.condition", "does not match"],
        ),
        (
            "{checks: []}",
            vec!["spec.promotion.verify", "\"window\" is a required property"],
        ),
    ] {
        let repo = repo_with(&format!(
            "{}  promotion:\n    from: prod\n    verify: {verify}\n",
            environment("dev", GOOD)
        ));
        let err = fails(&repo, "dev");
        assert_mentions(&err, &says);
    }
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

// Containment: no path from an environment may lead out of the repository, whatever the
// spelling (`..`, absolute, a symlink to a file or a folder). Each is refused before helm runs.

/// A file outside the repository that a hostile commit would like the agent to read.
fn outside_file() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kubeconfig");
    std::fs::write(&file, "users: [{name: admin, user: {token: s3cr3t}}]\n").unwrap();
    (dir, file)
}

#[test]
fn a_values_path_with_dotdot_out_of_the_repository_is_refused() {
    let (outside, _) = outside_file();
    let repo = repo_with(&environment("dev", GOOD));
    let up = "../".repeat(3);
    let other = outside.path().file_name().unwrap().to_str().unwrap();
    let escape = format!("{up}{other}/kubeconfig");
    assert!(repo.path().join("environments/dev").join(&escape).is_file());
    repo.write(
        "environments/dev/environment.yaml",
        &environment("dev", &GOOD.replace("values/echo.yaml", &escape)),
    );
    let err = fails(&repo, "dev");
    assert_mentions(
        &err,
        &[
            "environment.yaml",
            "spec.releases[0].values[0]",
            "outside the repository",
        ],
    );
    assert!(!err.contains("s3cr3t"));
}

#[test]
fn an_absolute_values_path_is_refused() {
    let (_outside, file) = outside_file();
    let repo = repo_with(&environment(
        "dev",
        &GOOD.replace("values/echo.yaml", file.to_str().unwrap()),
    ));
    let err = fails(&repo, "dev");
    assert_mentions(&err, &["spec.releases[0].values[0]", "is an absolute path"]);
}

#[test]
fn a_values_file_that_is_a_symlink_out_of_the_repository_is_refused() {
    let (_outside, file) = outside_file();
    let repo = repo_with(&environment("dev", GOOD));
    let link = repo.path().join("environments/dev/values/echo.yaml");
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let err = fails(&repo, "dev");
    assert_mentions(
        &err,
        &[
            "spec.releases[0].values[0]",
            "\"values/echo.yaml\" is a symlink to",
            "outside the repository",
        ],
    );
}

#[test]
fn a_chart_folder_that_is_a_symlink_out_of_the_repository_is_refused() {
    let repo = repo_with(&environment("dev", GOOD));
    let outside = tempfile::tempdir().unwrap();
    copy_dir(&fixture_chart("values-echo"), &outside.path().join("echo"));
    std::os::unix::fs::symlink(
        outside.path().join("echo"),
        repo.path().join("charts/linked"),
    )
    .unwrap();
    repo.write(
        "environments/dev/environment.yaml",
        &environment("dev", &GOOD.replace("charts/values-echo", "charts/linked")),
    );
    let err = fails(&repo, "dev");
    assert_mentions(
        &err,
        &[
            "spec.releases[0].chart",
            "\"charts/linked\" resolves to",
            "outside the repository",
        ],
    );
}

#[test]
fn a_file_in_a_chart_that_links_out_of_the_repository_is_refused() {
    let (_outside, file) = outside_file();
    let repo = repo_with(&environment("dev", GOOD));
    std::os::unix::fs::symlink(&file, repo.path().join("charts/values-echo/config.txt")).unwrap();
    let err = fails(&repo, "dev");
    assert_mentions(
        &err,
        &[
            "spec.releases[0].chart",
            "config.txt is a symlink to",
            "outside the repository",
        ],
    );
}

#[test]
fn an_environment_name_that_is_a_path_is_refused() {
    let repo = repo_with(&environment("dev", GOOD));
    let err = fails(&repo, "../dev");
    assert_mentions(
        &err,
        &["\"../dev\" is not an environment name", "dev, prod"],
    );
}

// Weaker answers made clear.

#[test]
fn a_values_path_that_is_a_directory_says_so() {
    let repo = repo_with(&environment(
        "dev",
        &GOOD.replace("[values/echo.yaml]", "[values]"),
    ));
    let err = fails(&repo, "dev");
    assert_mentions(
        &err,
        &[
            "spec.releases[0].values[0]",
            "\"values\" is a directory, not a file",
        ],
    );
}

#[test]
fn a_wave_too_large_for_an_integer_names_the_field_not_the_yaml() {
    // As a float, and as an integer literal past 64 bits (once "invalid YAML … as u128").
    for wave in ["1e20", "99999999999999999999", "-99999999999999999999"] {
        let repo = repo_with(&environment("dev", &format!("{GOOD}      wave: {wave}\n")));
        let err = fails(&repo, "dev");
        assert_mentions(&err, &["spec.releases[0].wave"]);
        assert!(!err.contains("invalid YAML"), "{wave}: {err}");
        assert!(!err.contains("u128"), "{wave}: {err}");
    }
}

// helm is bounded: a timeout kills its whole process group, a signal is named, and helm sees
// none of the user's settings.

#[test]
fn a_template_that_never_finishes_is_killed_at_the_render_timeout() {
    let repo = repo_with(&environment("dev", GOOD));
    // Ten billion iterations: hours of work for helm, never an answer.
    repo.write(
        "charts/values-echo/templates/forever.yaml",
        "{{- range until 100000 }}{{- range until 100000 }}{{- end }}{{- end }}\n",
    );
    let cache = tempfile::tempdir().unwrap();
    let chart = repo.path().join("charts/values-echo");
    let out = sextant(
        cache.path(),
        &[
            "plan",
            "--env",
            "dev",
            "--repo",
            repo.path().to_str().unwrap(),
            "--render-timeout",
            "2s",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_mentions(
        &err,
        &[
            "release echo",
            "helm did not finish within 2s and was killed",
            "SEXTANT_RENDER_TIMEOUT",
        ],
    );
    assert_eq!(
        processes_mentioning(chart.to_str().unwrap()),
        Vec::<u32>::new(),
        "no helm of that chart is left running"
    );
}

/// A stand-in for helm: a shell script.
fn fake_helm(dir: &std::path::Path, body: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("helm");
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn plan_with_helm(helm: &std::path::Path) -> (String, tempfile::TempDir) {
    let repo = repo_with(&environment("dev", GOOD));
    let cache = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sextant"))
        .args([
            "plan",
            "--env",
            "dev",
            "--repo",
            repo.path().to_str().unwrap(),
        ])
        .env("SEXTANT_HELM", helm)
        .env("SEXTANT_CACHE_DIR", cache.path())
        .env("KUBECONFIG", "/root/.kube/config")
        .output()
        .unwrap();
    assert!(!out.status.success());
    (String::from_utf8_lossy(&out.stderr).into_owned(), cache)
}

#[test]
fn helm_killed_without_a_word_is_reported_with_the_signal() {
    let bin = tempfile::tempdir().unwrap();
    let (err, _) = plan_with_helm(&fake_helm(bin.path(), "kill -9 $$"));
    assert_mentions(
        &err,
        &[
            "release echo",
            "helm was killed by signal 9 (SIGKILL) and printed nothing",
        ],
    );
}

#[test]
fn helm_runs_with_its_own_folders_and_no_kubeconfig() {
    let bin = tempfile::tempdir().unwrap();
    let (err, cache) = plan_with_helm(&fake_helm(bin.path(), "env >&2; exit 1"));
    let home = cache.path().join("helm");
    assert_mentions(
        &err,
        &[
            &format!("HOME={}", home.display()),
            &format!("HELM_CACHE_HOME={}", home.join("cache").display()),
            &format!("HELM_CONFIG_HOME={}", home.join("config").display()),
            "KUBECONFIG=/dev/null",
        ],
    );
    assert!(!err.contains("/root/.kube"), "{err}");
}

#[test]
fn an_invalid_object_name_is_refused_at_plan_time_with_its_template() {
    let repo = repo_with(&environment("dev", GOOD));
    repo.write(
        "charts/values-echo/templates/bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\ndata: {a: b}\n",
    );
    let err = fails(&repo, "dev");
    assert_mentions(
        &err,
        &[
            "release echo",
            "values-echo/templates/bad.yaml",
            "field `metadata.name`",
            "\"Bad_Name\": a lowercase RFC 1123 subdomain",
        ],
    );
}

#[test]
fn an_integer_metadata_name_says_it_is_not_a_string() {
    let repo = repo_with(&environment("dev", GOOD));
    repo.write(
        "charts/values-echo/templates/number.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: 123\ndata: {a: b}\n",
    );
    let err = fails(&repo, "dev");
    assert_mentions(&err, &["metadata.name", "123"]);
    assert!(!err.contains("without metadata.name"), "{err}");
}

#[test]
fn a_required_kind_nothing_provides_fails_the_plan_naming_the_release_and_kind() {
    let echo = GOOD.replace(
        "      values: [values/echo.yaml]\n",
        "      values: [values/echo.yaml]\n      requires: [gateway.networking.k8s.io/v1/Gateway]\n",
    );
    let repo = repo_with(&environment("dev", &echo));
    let err = fails(&repo, "dev");
    assert_mentions(
        &err,
        &[
            "environment dev, release echo, field `requires`",
            "gateway.networking.k8s.io/v1/Gateway",
            "from: cluster",
        ],
    );
}

#[test]
fn a_malformed_required_kind_names_the_file_and_field() {
    let echo = GOOD.replace(
        "      values: [values/echo.yaml]\n",
        "      values: [values/echo.yaml]\n      requires: [Gateway]\n",
    );
    let repo = repo_with(&environment("dev", &echo));
    let err = fails(&repo, "dev");
    assert_mentions(
        &err,
        &[
            "environments/dev/environment.yaml",
            "spec.releases[0].requires[0]",
            "<group>/<version>/<Kind>",
        ],
    );
}

/// A signature policy that cannot be used names its field: both kinds, neither, a key that is
/// not PEM, both subjects, a pattern that is not a regular expression, an unknown field.
#[test]
fn a_bad_signature_policy_names_its_field() {
    let keyless = "keyless: {issuer: \"https://token.actions.githubusercontent.com\"";
    let rows: Vec<(String, Vec<&str>)> = vec![
        (
            format!("{{key: \"-----BEGIN PUBLIC KEY-----\", {keyless}, subject: s}}}}"),
            vec![
                "spec.promotion.images[0].verify.signature",
                "either key or keyless, not both",
            ],
        ),
        (
            "{attestations: [\"https://cyclonedx.org/bom\"]}".into(),
            vec![
                "spec.promotion.images[0].verify.signature",
                "give key (a PEM public key) or keyless",
            ],
        ),
        (
            "{key: \"ssh-ed25519 AAAA\"}".into(),
            vec![
                "spec.promotion.images[0].verify.signature.key",
                "does not match",
            ],
        ),
        (
            format!("{{{keyless}, subject: s, subjectRegExp: s}}}}"),
            vec![
                "spec.promotion.images[0].verify.signature.keyless",
                "subject or subjectRegExp, one of them",
            ],
        ),
        (
            format!("{{{keyless}, subjectRegExp: \"(unclosed\"}}}}"),
            vec![
                "spec.promotion.images[0].verify.signature.keyless.subjectRegExp",
                "not a regular expression",
            ],
        ),
        (
            format!("{{{keyless}, subjekt: s}}}}"),
            vec![
                "spec.promotion.images[0].verify.signature.keyless",
                "'subjekt' was unexpected",
            ],
        ),
    ];
    for (signature, says) in rows {
        let repo = promoting(
            &format!("      - {{release: echo, path: image.digest, repository: registry.example.com/echo, verify: {{signature: {signature}}}}}\n"),
            DIGEST,
        );
        let err = fails(&repo, "dev");
        assert_mentions(&err, &says);
    }
}
