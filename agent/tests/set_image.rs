//! `sextant set-image`: CI's bump of dev, with the format-preserving editor.

mod support;

use support::*;

const OLD: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const NEW: &str = "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

fn repo() -> TempRepo {
    let repo = TempRepo::new();
    repo.chart("values-echo")
        .write(
            "environments/dev/environment.yaml",
            &environment(
                "dev",
                "    - name: echo\n      namespace: echo\n      chart: charts/values-echo\n      values: [values/base.yaml, values/echo.yaml]\n",
            ),
        )
        .write("environments/dev/values/base.yaml", &format!("image:\n  digest: {OLD}\n"))
        .write(
            "environments/dev/values/echo.yaml",
            &format!("# echo in dev\nimage:\n  tag: '1.0'   # for humans\n  digest: {OLD}  # CI bumps this\nreplicaCount: 2\n"),
        );
    repo
}

#[test]
fn set_image_edits_the_last_file_setting_the_key_and_nothing_else() {
    let repo = repo();
    let cache = tempfile::tempdir().unwrap();
    let out = sextant_ok(
        cache.path(),
        &[
            "set-image",
            "--env",
            "dev",
            "--repo",
            repo.path().to_str().unwrap(),
            "--release",
            "echo",
            "--digest",
            NEW,
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("environments/dev/values/echo.yaml: image.digest set to {NEW}\n")
    );
    let echo =
        std::fs::read_to_string(repo.path().join("environments/dev/values/echo.yaml")).unwrap();
    assert_eq!(
        echo,
        format!("# echo in dev\nimage:\n  tag: '1.0'   # for humans\n  digest: {NEW}  # CI bumps this\nreplicaCount: 2\n")
    );
    let base =
        std::fs::read_to_string(repo.path().join("environments/dev/values/base.yaml")).unwrap();
    assert!(
        base.contains(OLD),
        "the earlier file is left: Helm's last-wins reads echo.yaml"
    );
}

#[test]
fn set_image_refuses_a_bad_digest_and_an_unknown_release() {
    let repo = repo();
    let cache = tempfile::tempdir().unwrap();
    let root = repo.path().to_str().unwrap();
    for (args, says) in [
        (
            vec!["--release", "echo", "--digest", "sha256:abc"],
            "is not a digest",
        ),
        (
            vec!["--release", "ehco", "--digest", NEW],
            "unknown release \"ehco\"",
        ),
        (
            vec!["--release", "echo", "--digest", NEW, "--path", "image.sha"],
            "no values file sets image.sha",
        ),
    ] {
        let mut all = vec!["set-image", "--env", "dev", "--repo", root];
        all.extend(args);
        let out = sextant(cache.path(), &all);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{says}: {err}");
    }
    let echo =
        std::fs::read_to_string(repo.path().join("environments/dev/values/echo.yaml")).unwrap();
    assert!(echo.contains(OLD), "nothing written on a refusal");
}
