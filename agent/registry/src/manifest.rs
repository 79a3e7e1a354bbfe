//! Reading manifests, pure: an image index or an image manifest (OCI or Docker v2), the index
//! entry for a platform, and the platform an image config names. OCI and ECR share it.

use crate::types::Platform;
use serde::Deserialize;

pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Every manifest type asked for: an index or a single image, OCI or Docker.
pub(crate) const ACCEPTED: &[&str] = &[OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

/// The most a config blob may be; real ones are a few KiB.
pub(crate) const MAX_CONFIG_BYTES: i64 = 4 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Manifest {
    Index {
        media_type: String,
        entries: Vec<Entry>,
    },
    Image {
        media_type: String,
        config: Descriptor,
    },
}

impl Manifest {
    pub(crate) fn media_type(&self) -> &str {
        match self {
            Manifest::Index { media_type, .. } | Manifest::Image { media_type, .. } => media_type,
        }
    }
}

/// An index entry: a child manifest and the platform the index says it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub digest: String,
    pub platform: Option<EntryPlatform>,
    /// A build attestation (buildx), not an image.
    pub attestation: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct EntryPlatform {
    pub os: String,
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl EntryPlatform {
    fn label(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: i64,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "schemaVersion", default)]
    schema_version: i64,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<RawEntry>>,
    #[serde(default)]
    config: Option<Descriptor>,
}

#[derive(Deserialize)]
struct RawEntry {
    digest: String,
    #[serde(default)]
    platform: Option<EntryPlatform>,
    #[serde(default)]
    annotations: Option<std::collections::BTreeMap<String, String>>,
}

/// Manifest bytes the registry answered that are not an image manifest or index Sextant reads.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ManifestError {
    #[error("the manifest is not JSON a manifest can be: {0}")]
    NotJson(serde_json::Error),
    #[error("schemaVersion {0} is not an image manifest or index Sextant reads (2)")]
    SchemaVersion(i64),
    #[error("media type {0} is not an image manifest or index")]
    MediaType(String),
    #[error("an image index without manifests")]
    IndexWithoutManifests,
    #[error("an image manifest without a config")]
    ImageWithoutConfig,
}

/// Reads manifest bytes. `declared` is the media type the registry gave with them (a
/// `Content-Type`, ECR's `imageManifestMediaType`); the manifest's own `mediaType` wins.
pub(crate) fn parse(bytes: &[u8], declared: Option<&str>) -> Result<Manifest, ManifestError> {
    let raw: Raw = serde_json::from_slice(bytes).map_err(ManifestError::NotJson)?;
    if raw.schema_version != 2 {
        return Err(ManifestError::SchemaVersion(raw.schema_version));
    }
    let media_type = raw.media_type.clone().or_else(|| {
        declared
            .filter(|d| ACCEPTED.contains(d))
            .map(str::to_string)
    });
    let is_index = match media_type.as_deref() {
        Some(OCI_INDEX | DOCKER_LIST) => true,
        Some(OCI_MANIFEST | DOCKER_MANIFEST) => false,
        Some(other) => return Err(ManifestError::MediaType(other.to_string())),
        // OCI lets mediaType be left out: the shape tells.
        None => raw.manifests.is_some(),
    };
    if is_index {
        let entries = raw
            .manifests
            .ok_or(ManifestError::IndexWithoutManifests)?
            .into_iter()
            .map(|e| Entry {
                attestation: e
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("vnd.docker.reference.type"))
                    .is_some_and(|t| t == "attestation-manifest"),
                digest: e.digest,
                platform: e.platform,
            })
            .collect();
        Ok(Manifest::Index {
            media_type: media_type.unwrap_or_else(|| OCI_INDEX.to_string()),
            entries,
        })
    } else {
        let config = raw.config.ok_or(ManifestError::ImageWithoutConfig)?;
        Ok(Manifest::Image {
            media_type: media_type.unwrap_or_else(|| OCI_MANIFEST.to_string()),
            config,
        })
    }
}

/// The index entry for `platform`, or the platforms the index does have.
pub(crate) fn pick<'a>(
    entries: &'a [Entry],
    platform: &Platform,
) -> Result<&'a Entry, Vec<String>> {
    entries
        .iter()
        .filter(|e| !e.attestation)
        .find(|e| {
            e.platform
                .as_ref()
                .is_some_and(|p| platform.accepts(&p.os, &p.architecture, p.variant.as_deref()))
        })
        .ok_or_else(|| {
            entries
                .iter()
                .filter(|e| !e.attestation)
                .map(|e| {
                    e.platform
                        .as_ref()
                        .map_or_else(|| "unknown".into(), EntryPlatform::label)
                })
                .collect()
        })
}

/// The platform an image config names, if it names one.
pub(crate) fn config_platform(bytes: &[u8]) -> Option<EntryPlatform> {
    serde_json::from_slice::<EntryPlatform>(bytes).ok()
}

/// Whether an image's config against the platform asked for: `Err` lists what it is instead.
pub(crate) fn check_config(bytes: &[u8], platform: &Platform) -> Result<(), Vec<String>> {
    match config_platform(bytes) {
        Some(p) if platform.accepts(&p.os, &p.architecture, p.variant.as_deref()) => Ok(()),
        Some(p) => Err(vec![p.label()]),
        None => Err(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(s: &str) -> Platform {
        s.parse().unwrap()
    }

    const INDEX: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:arm","size":1,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:att","size":1,"platform":{"os":"unknown","architecture":"unknown"},"annotations":{"vnd.docker.reference.type":"attestation-manifest"}},
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:amd","size":1,"platform":{"os":"linux","architecture":"amd64"}}]}"#;

    #[test]
    fn an_index_gives_the_entry_for_the_platform() {
        let Manifest::Index {
            media_type,
            entries,
        } = parse(INDEX.as_bytes(), None).unwrap()
        else {
            panic!("an index")
        };
        assert_eq!(media_type, OCI_INDEX);
        assert_eq!(
            pick(&entries, &platform("linux/amd64")).unwrap().digest,
            "sha256:amd"
        );
        assert_eq!(
            pick(&entries, &platform("linux/arm64")).unwrap().digest,
            "sha256:arm"
        );
        assert_eq!(
            pick(&entries, &platform("linux/s390x")).unwrap_err(),
            vec!["linux/arm64/v8", "linux/amd64"],
            "attestations are not platforms"
        );
    }

    #[test]
    fn the_shape_tells_when_the_media_type_is_left_out() {
        let index = r#"{"schemaVersion":2,"manifests":[{"digest":"sha256:a","size":1}]}"#;
        let Manifest::Index {
            media_type,
            entries,
        } = parse(index.as_bytes(), None).unwrap()
        else {
            panic!("an index")
        };
        assert_eq!(media_type, OCI_INDEX);
        assert_eq!(
            pick(&entries, &platform("linux/amd64")).unwrap_err(),
            vec!["unknown"]
        );
        let image = r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:c","size":2},"layers":[]}"#;
        let m = parse(image.as_bytes(), Some(DOCKER_MANIFEST)).unwrap();
        assert_eq!(
            m.media_type(),
            DOCKER_MANIFEST,
            "the declared type when the body has none"
        );
        let Manifest::Image { config, .. } = m else {
            panic!("an image")
        };
        assert_eq!(config.digest, "sha256:c");
    }

    #[test]
    fn what_is_not_an_image_manifest_or_index_is_named() {
        assert!(parse(b"{\"schemaVersion\":1,\"fsLayers\":[]}", None)
            .unwrap_err()
            .to_string()
            .contains("schemaVersion 1"));
        assert!(parse(b"not json", None)
            .unwrap_err()
            .to_string()
            .contains("not JSON"));
        let helm = r#"{"schemaVersion":2,"mediaType":"application/vnd.cncf.helm.chart.v1+json"}"#;
        assert!(parse(helm.as_bytes(), None)
            .unwrap_err()
            .to_string()
            .contains("application/vnd.cncf.helm.chart.v1+json is not"));
    }

    #[test]
    fn a_config_is_checked_against_the_platform() {
        let amd =
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        assert_eq!(check_config(amd, &platform("linux/amd64")), Ok(()));
        assert_eq!(
            check_config(amd, &platform("linux/arm64")),
            Err(vec!["linux/amd64".to_string()])
        );
        let chart = br#"{"name":"app","version":"1.0.0"}"#;
        assert_eq!(check_config(chart, &platform("linux/amd64")), Err(vec![]));
    }
}
