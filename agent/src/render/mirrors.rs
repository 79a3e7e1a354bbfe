//! Chart mirrors: where a remote chart is really fetched from. Pure: a repository URL in, the
//! URL to pull from out. Air-gapped clusters and tests point upstream repositories at a mirror
//! they serve themselves (a Helm repository or an OCI registry), without editing Git.
//!
//! A mirror maps a repository URL prefix to another URL; the longest prefix that matches on a
//! `/` boundary wins, and the rest of the path is kept (`https://charts.example.com/stable` under
//! a mirror of `https://charts.example.com` becomes `<mirror>/stable`). The mirror's scheme
//! decides how helm pulls: `http(s)://` is a Helm repository (`index.yaml`), `oci://` an OCI
//! registry over TLS, and `oci+http://` an OCI registry over plain HTTP (helm's `--plain-http`,
//! for an in-cluster registry without TLS or a test registry on 127.0.0.1). So a Helm repository
//! may be mirrored into a registry and the other way round.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MirrorError {
    #[error("chart mirror {entry:?}: expected `REPOSITORY=MIRROR` (entries separated by commas)")]
    Syntax { entry: String },
    #[error("chart mirror {url:?}: {what} must start with http://, https:// or oci://{extra}")]
    Scheme {
        url: String,
        what: &'static str,
        extra: &'static str,
    },
    #[error("chart mirror for {from:?} is given twice")]
    Duplicate { from: String },
}

/// How helm reaches where a chart is pulled from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A classic Helm repository: `helm pull NAME --repo URL`.
    HelmRepository { url: String },
    /// An OCI registry path: `helm pull oci://PATH/NAME`; `plain_http` adds `--plain-http`.
    Oci { url: String, plain_http: bool },
}

impl Location {
    /// The location of an upstream repository URL as written in an environment.
    fn upstream(url: &str) -> Location {
        if url.starts_with("oci://") {
            Location::Oci {
                url: url.to_string(),
                plain_http: false,
            }
        } else {
            Location::HelmRepository {
                url: url.to_string(),
            }
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::HelmRepository { url } => f.write_str(url),
            Location::Oci {
                url,
                plain_http: false,
            } => f.write_str(url),
            Location::Oci {
                url,
                plain_http: true,
            } => write!(f, "{url} (plain HTTP)"),
        }
    }
}

/// Where one chart is pulled from, and whether a mirror chose it (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub location: Location,
    /// The upstream repository when a mirror was used.
    pub mirror_of: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Mirror {
    from: String,
    to: String,
}

/// The configured mirrors, longest prefix first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChartMirrors {
    mirrors: Vec<Mirror>,
}

fn trim(url: &str) -> &str {
    url.trim().trim_end_matches('/')
}

fn check_scheme(url: &str, what: &'static str, mirror: bool) -> Result<(), MirrorError> {
    let ok = ["http://", "https://", "oci://"]
        .iter()
        .chain(mirror.then_some(&"oci+http://"))
        .any(|s| url.starts_with(s) && url.len() > s.len());
    if ok {
        Ok(())
    } else {
        Err(MirrorError::Scheme {
            url: url.to_string(),
            what,
            extra: if mirror { " (or oci+http://)" } else { "" },
        })
    }
}

impl ChartMirrors {
    /// Builds the table from `(repository, mirror)` pairs, as the settings file lists them.
    pub fn new<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ChartMirrors, MirrorError> {
        let mut mirrors: Vec<Mirror> = Vec::new();
        for (from, to) in pairs {
            let (from, to) = (trim(from), trim(to));
            check_scheme(from, "the repository", false)?;
            check_scheme(to, "the mirror", true)?;
            if mirrors.iter().any(|m| m.from == from) {
                return Err(MirrorError::Duplicate {
                    from: from.to_string(),
                });
            }
            mirrors.push(Mirror {
                from: from.to_string(),
                to: to.to_string(),
            });
        }
        mirrors.sort_by_key(|m| std::cmp::Reverse(m.from.len()));
        Ok(ChartMirrors { mirrors })
    }

    /// Parses `SEXTANT_CHART_MIRRORS`: `REPOSITORY=MIRROR[,REPOSITORY=MIRROR…]`.
    pub fn parse(spec: &str) -> Result<ChartMirrors, MirrorError> {
        let pairs = spec
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|entry| {
                entry
                    .split_once('=')
                    .filter(|(a, b)| !a.trim().is_empty() && !b.trim().is_empty())
                    .ok_or_else(|| MirrorError::Syntax {
                        entry: entry.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        ChartMirrors::new(pairs)
    }

    pub fn is_empty(&self) -> bool {
        self.mirrors.is_empty()
    }

    /// Where to pull charts of `repository` from.
    pub fn resolve(&self, repository: &str) -> Resolved {
        let repo = trim(repository);
        let hit = self.mirrors.iter().find_map(|m| {
            let rest = repo.strip_prefix(m.from.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then(|| format!("{}{rest}", m.to))
        });
        match hit {
            None => Resolved {
                location: Location::upstream(repo),
                mirror_of: None,
            },
            Some(url) => Resolved {
                location: match url.strip_prefix("oci+http://") {
                    Some(rest) => Location::Oci {
                        url: format!("oci://{rest}"),
                        plain_http: true,
                    },
                    None => Location::upstream(&url),
                },
                mirror_of: Some(repo.to_string()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oci(url: &str, plain_http: bool) -> Location {
        Location::Oci {
            url: url.into(),
            plain_http,
        }
    }

    fn repo(url: &str) -> Location {
        Location::HelmRepository { url: url.into() }
    }

    #[test]
    fn without_a_mirror_the_upstream_is_used() {
        let m = ChartMirrors::default();
        let r = m.resolve("https://charts.jetstack.io/");
        assert_eq!(r.location, repo("https://charts.jetstack.io"));
        assert_eq!(r.mirror_of, None);
        assert_eq!(
            m.resolve("oci://ghcr.io/org/charts").location,
            oci("oci://ghcr.io/org/charts", false)
        );
    }

    #[test]
    fn a_helm_repository_is_mirrored_by_prefix_keeping_the_rest_of_the_path() {
        let m = ChartMirrors::parse("https://charts.example.com=http://127.0.0.1:8080/mirror/")
            .unwrap();
        assert_eq!(
            m.resolve("https://charts.example.com/stable").location,
            repo("http://127.0.0.1:8080/mirror/stable")
        );
        let r = m.resolve("https://charts.example.com");
        assert_eq!(r.location, repo("http://127.0.0.1:8080/mirror"));
        assert_eq!(r.mirror_of.as_deref(), Some("https://charts.example.com"));
    }

    #[test]
    fn a_prefix_matches_only_on_a_path_boundary() {
        let m = ChartMirrors::parse("https://charts.example.com=http://m").unwrap();
        assert_eq!(
            m.resolve("https://charts.example.community").location,
            repo("https://charts.example.community")
        );
    }

    #[test]
    fn the_longest_prefix_wins_whatever_the_order() {
        let m =
            ChartMirrors::parse("oci://ghcr.io=oci://all, oci://ghcr.io/team=oci://team").unwrap();
        assert_eq!(
            m.resolve("oci://ghcr.io/team/charts").location,
            oci("oci://team/charts", false)
        );
        assert_eq!(
            m.resolve("oci://ghcr.io/other").location,
            oci("oci://all/other", false)
        );
    }

    #[test]
    fn oci_plus_http_means_a_registry_over_plain_http() {
        let m =
            ChartMirrors::new([("oci://public.ecr.aws/x", "oci+http://127.0.0.1:5000/x")]).unwrap();
        let r = m.resolve("oci://public.ecr.aws/x");
        assert_eq!(r.location, oci("oci://127.0.0.1:5000/x", true));
        assert_eq!(
            r.location.to_string(),
            "oci://127.0.0.1:5000/x (plain HTTP)"
        );
    }

    #[test]
    fn a_helm_repository_may_be_mirrored_into_a_registry() {
        let m =
            ChartMirrors::parse("https://grafana.github.io/helm-charts=oci://reg/grafana").unwrap();
        assert_eq!(
            m.resolve("https://grafana.github.io/helm-charts").location,
            oci("oci://reg/grafana", false)
        );
    }

    #[test]
    fn bad_entries_are_refused_with_the_entry_named() {
        assert_eq!(
            ChartMirrors::parse("https://a").unwrap_err(),
            MirrorError::Syntax {
                entry: "https://a".into()
            }
        );
        assert!(matches!(
            ChartMirrors::parse("ftp://a=http://b").unwrap_err(),
            MirrorError::Scheme {
                what: "the repository",
                ..
            }
        ));
        assert!(matches!(
            ChartMirrors::parse("oci+http://a=http://b").unwrap_err(),
            MirrorError::Scheme {
                what: "the repository",
                ..
            }
        ));
        assert!(matches!(
            ChartMirrors::parse("https://a=b").unwrap_err(),
            MirrorError::Scheme {
                what: "the mirror",
                ..
            }
        ));
        assert_eq!(
            ChartMirrors::parse("https://a=http://b,https://a/=http://c").unwrap_err(),
            MirrorError::Duplicate {
                from: "https://a".into()
            }
        );
        assert!(ChartMirrors::parse(" , ").unwrap().is_empty());
    }
}
