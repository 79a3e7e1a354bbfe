//! What the agent knows about built-in kinds: which are cluster-scoped, and the order Helm
//! installs them in (`helm/pkg/release/util/kind_sorter.go`, the order gitops-engine reuses).

/// Helm's install order. Kinds not listed come after these, sorted by name.
pub const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// Position of a kind in the install order; unknown kinds share the last position.
pub fn install_rank(kind: &str) -> usize {
    INSTALL_ORDER
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(INSTALL_ORDER.len())
}

/// Built-in cluster-scoped kinds, by (group, kind).
const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("networking.k8s.io", "IngressClass"),
    ("node.k8s.io", "RuntimeClass"),
    ("policy", "PodSecurityPolicy"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
];

/// API groups whose every kind is cluster-scoped although no chart renders their CRDs: Gatekeeper
/// makes one CRD per ConstraintTemplate, always with `scope: Cluster`, so a Constraint must not
/// get its release's namespace.
const CLUSTER_SCOPED_GROUPS: &[&str] = &["constraints.gatekeeper.sh"];

pub fn is_builtin_cluster_scoped(group: &str, kind: &str) -> bool {
    CLUSTER_SCOPED_GROUPS.contains(&group)
        || CLUSTER_SCOPED
            .iter()
            .any(|(g, k)| *g == group && *k == kind)
}

/// The API groups Kubernetes itself serves (<https://kubernetes.io/docs/reference/using-api/#api-groups>,
/// the groups of the v1.33 API reference): their kinds need no CustomResourceDefinition. A group
/// ending in `.k8s.io` is not enough: `gateway.networking.k8s.io` and `*.x-k8s.io` are CRDs.
const BUILTIN_GROUPS: &[&str] = &[
    "",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "internal.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
    "storagemigration.k8s.io",
];

/// Whether the kinds of `group` are built into the API server (no CRD provides them).
pub fn is_builtin_group(group: &str) -> bool {
    BUILTIN_GROUPS.contains(&group)
}

/// Splits `apiVersion` into (group, version); the core group is empty.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_come_before_workloads_and_unknown_kinds_last() {
        assert!(install_rank("Namespace") < install_rank("ConfigMap"));
        assert!(install_rank("CustomResourceDefinition") < install_rank("Deployment"));
        assert!(install_rank("Service") < install_rank("Deployment"));
        assert_eq!(install_rank("ServiceMonitor"), INSTALL_ORDER.len());
    }

    #[test]
    fn splits_core_and_grouped_api_versions() {
        assert_eq!(split_api_version("v1"), ("", "v1"));
        assert_eq!(split_api_version("apps/v1"), ("apps", "v1"));
        assert!(is_builtin_cluster_scoped("", "Namespace"));
        assert!(!is_builtin_cluster_scoped("apps", "Deployment"));
        assert!(is_builtin_cluster_scoped(
            "constraints.gatekeeper.sh",
            "K8sRequiredLabels"
        ));
    }
}
