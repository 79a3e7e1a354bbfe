//! The per-kind behaviour table: which resources exist, their scope, subresources and
//! whether spec changes bump `metadata.generation`. Built-ins are a static table; each
//! served version of a `CustomResourceDefinition` adds a row.

use serde_json::Value;

/// Where a scale subresource finds its numbers (the CRD `subresources.scale` paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

impl ScalePaths {
    fn builtin() -> Self {
        Self {
            spec_replicas: ".spec.replicas".into(),
            status_replicas: ".status.replicas".into(),
            label_selector: Some(".spec.selector".into()),
        }
    }
}

/// One served resource of one group-version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub status: bool,
    pub scale: Option<ScalePaths>,
    /// Spec changes bump `metadata.generation` (workload and custom kinds do; core ones do not).
    pub generation: bool,
    /// Defined by a CRD (objects keep all fields; the CRD owns the row).
    pub custom: bool,
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// (group, version, kind, plural, namespaced, short names, status, scale)
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    bool,
    bool,
);

#[rustfmt::skip]
const BUILTINS: &[Row] = &[
    ("", "v1", "Namespace", "namespaces", false, &["ns"], true, false),
    ("", "v1", "Pod", "pods", true, &["po"], true, false),
    ("", "v1", "Service", "services", true, &["svc"], true, false),
    ("", "v1", "ConfigMap", "configmaps", true, &["cm"], false, false),
    ("", "v1", "Secret", "secrets", true, &[], false, false),
    ("", "v1", "ServiceAccount", "serviceaccounts", true, &["sa"], false, false),
    ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, &["pvc"], true, false),
    ("", "v1", "PersistentVolume", "persistentvolumes", false, &["pv"], true, false),
    ("", "v1", "Endpoints", "endpoints", true, &["ep"], false, false),
    ("", "v1", "Event", "events", true, &["ev"], false, false),
    ("events.k8s.io", "v1", "Event", "events", true, &[], false, false),
    ("", "v1", "Node", "nodes", false, &["no"], true, false),
    ("", "v1", "ReplicationController", "replicationcontrollers", true, &["rc"], true, true),
    ("", "v1", "LimitRange", "limitranges", true, &["limits"], false, false),
    ("", "v1", "ResourceQuota", "resourcequotas", true, &["quota"], true, false),
    ("apps", "v1", "Deployment", "deployments", true, &["deploy"], true, true),
    ("apps", "v1", "StatefulSet", "statefulsets", true, &["sts"], true, true),
    ("apps", "v1", "DaemonSet", "daemonsets", true, &["ds"], true, false),
    ("apps", "v1", "ReplicaSet", "replicasets", true, &["rs"], true, true),
    ("apps", "v1", "ControllerRevision", "controllerrevisions", true, &[], false, false),
    ("batch", "v1", "Job", "jobs", true, &[], true, false),
    ("batch", "v1", "CronJob", "cronjobs", true, &["cj"], true, false),
    ("networking.k8s.io", "v1", "Ingress", "ingresses", true, &["ing"], true, false),
    ("networking.k8s.io", "v1", "IngressClass", "ingressclasses", false, &[], false, false),
    ("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", true, &["netpol"], false, false),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles", true, &[], false, false),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true, &[], false, false),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false, &[], false, false),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", false, &[], false, false),
    ("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true, &["pdb"], true, false),
    ("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, &["hpa"], true, false),
    ("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, &["hpa"], true, false),
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", false, &["crd", "crds"], true, false),
    ("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", false, &[], false, false),
    ("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", false, &[], false, false),
    ("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies", false, &[], true, false),
    ("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicyBinding", "validatingadmissionpolicybindings", false, &[], false, false),
    ("coordination.k8s.io", "v1", "Lease", "leases", true, &[], false, false),
    ("storage.k8s.io", "v1", "StorageClass", "storageclasses", false, &["sc"], false, false),
    ("storage.k8s.io", "v1", "CSIDriver", "csidrivers", false, &[], false, false),
    ("storage.k8s.io", "v1", "VolumeAttachment", "volumeattachments", false, &[], true, false),
    ("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", false, &["pc"], false, false),
    ("apiregistration.k8s.io", "v1", "APIService", "apiservices", false, &[], true, false),
];

/// Groups whose objects carry `metadata.generation`.
const GENERATION_GROUPS: &[&str] = &[
    "apps",
    "batch",
    "networking.k8s.io",
    "policy",
    "autoscaling",
    "apiextensions.k8s.io",
    "admissionregistration.k8s.io",
];

/// Every resource the server serves right now, built-in and custom.
#[derive(Debug, Clone)]
pub struct Registry {
    types: Vec<ResourceType>,
}

impl Default for Registry {
    fn default() -> Self {
        let types = BUILTINS
            .iter()
            .map(
                |&(group, version, kind, plural, namespaced, short, status, scale)| ResourceType {
                    group: group.into(),
                    version: version.into(),
                    kind: kind.into(),
                    plural: plural.into(),
                    singular: kind.to_lowercase(),
                    namespaced,
                    short_names: short.iter().map(|s| s.to_string()).collect(),
                    status,
                    scale: scale.then(ScalePaths::builtin),
                    generation: GENERATION_GROUPS.contains(&group),
                    custom: false,
                },
            )
            .collect();
        Self { types }
    }
}

impl Registry {
    pub fn all(&self) -> &[ResourceType] {
        &self.types
    }

    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
    }

    pub fn find_kind(&self, group: &str, version: &str, kind: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.kind == kind)
    }

    /// Whether any resource is served under this group-version.
    pub fn serves(&self, group: &str, version: &str) -> bool {
        self.types
            .iter()
            .any(|t| t.group == group && t.version == version)
    }

    /// Groups in first-seen order, each with its versions (the first is preferred).
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for t in &self.types {
            match groups.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) if !versions.contains(&t.version) => {
                    versions.push(t.version.clone())
                }
                Some(_) => {}
                None => groups.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        groups
    }

    /// Replace the rows a CRD defines with those its current spec serves.
    pub fn set_crd(&mut self, crd: &Value) {
        let Some(name) = crd.pointer("/metadata/name").and_then(Value::as_str) else {
            return;
        };
        self.remove_crd(name);
        self.types.extend(crd_types(crd));
    }

    pub fn remove_crd(&mut self, crd_name: &str) {
        self.types
            .retain(|t| !(t.custom && format!("{}.{}", t.plural, t.group) == crd_name));
    }
}

/// The resource rows one CRD serves, one per served version.
pub fn crd_types(crd: &Value) -> Vec<ResourceType> {
    let spec = &crd["spec"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let names = &spec["names"];
    let kind = text(&names["kind"]);
    let plural = text(&names["plural"]);
    let group = text(&spec["group"]);
    if kind.is_empty() || plural.is_empty() || group.is_empty() {
        return Vec::new();
    }
    let singular = names["singular"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_lowercase());
    let short_names: Vec<String> = names["shortNames"]
        .as_array()
        .map(|a| a.iter().map(text).collect())
        .unwrap_or_default();
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    versions
        .iter()
        .filter(|v| v["served"].as_bool().unwrap_or(true))
        .map(|v| {
            let sub = &v["subresources"];
            let scale = sub["scale"].as_object().map(|s| ScalePaths {
                spec_replicas: s
                    .get("specReplicasPath")
                    .map(text)
                    .unwrap_or_else(|| ".spec.replicas".into()),
                status_replicas: s
                    .get("statusReplicasPath")
                    .map(text)
                    .unwrap_or_else(|| ".status.replicas".into()),
                label_selector: s.get("labelSelectorPath").map(text),
            });
            ResourceType {
                group: group.clone(),
                version: text(&v["name"]),
                kind: kind.clone(),
                plural: plural.clone(),
                singular: singular.clone(),
                namespaced,
                short_names: short_names.clone(),
                status: sub.get("status").is_some(),
                scale,
                generation: true,
                custom: true,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builtins_cover_the_chart_groups() {
        let r = Registry::default();
        for (g, v) in [
            ("", "v1"),
            ("apps", "v1"),
            ("batch", "v1"),
            ("autoscaling", "v2"),
            ("storage.k8s.io", "v1"),
            ("apiregistration.k8s.io", "v1"),
        ] {
            assert!(r.serves(g, v), "{g}/{v}");
        }
        assert!(r.find("apps", "v1", "deployments").unwrap().scale.is_some());
    }

    #[test]
    fn crd_serves_each_served_version_and_removal_drops_them() {
        let crd = json!({"metadata": {"name": "widgets.example.com"}, "spec": {
            "group": "example.com", "scope": "Cluster",
            "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [{"name": "v1", "served": true, "subresources": {"status": {}}},
                         {"name": "v2", "served": true}, {"name": "v0", "served": false}]}});
        let mut r = Registry::default();
        r.set_crd(&crd);
        let v1 = r.find("example.com", "v1", "widgets").unwrap();
        assert!(!v1.namespaced && v1.status);
        assert!(r.find("example.com", "v2", "widgets").is_some());
        assert!(r.find("example.com", "v0", "widgets").is_none());
        r.remove_crd("widgets.example.com");
        assert!(!r.serves("example.com", "v1"));
    }
}
