//! Every kind the executor treats specially, as one table (Helm's `kind_sorter.go` is one table
//! too): where it lives, when it is applied, whether `wait` watches it, whether `finally` sweeps
//! it by label, and whether it is plain data. A kind that is not in the table is a namespaced
//! workload or custom resource: applied by component (services, then flows), awaited, swept
//! only when the record names it, never plain data.

/// Apply waves; the cluster stage applies one wave at a time and may wait between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Wave {
    Namespaces,
    Definitions,
    Configuration,
    Services,
    ScoringServices,
    ScoringFlows,
    Autoscalers,
}

/// Where objects of a kind live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Namespaced,
    /// Outside namespaces: a rendered object of the kind gets no namespace.
    Cluster,
}

/// How the executor treats one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub name: &'static str,
    /// The version `finally` lists it with when it sweeps the kind.
    pub api_version: &'static str,
    pub scope: Scope,
    /// Its fixed apply wave; kinds without one go by their component label.
    pub wave: Option<Wave>,
    /// `wait` watches it until it is ready; otherwise it only needs to exist.
    pub awaited: bool,
    /// `finally` lists it by the job label besides what the record names (the charts render it).
    pub swept: bool,
    /// Ready as soon as it exists, and owns nothing (no dependents to delete first).
    pub plain_data: bool,
}

const fn kind(
    name: &'static str,
    api_version: &'static str,
    scope: Scope,
    wave: Option<Wave>,
    (awaited, swept, plain_data): (bool, bool, bool),
) -> Kind {
    Kind {
        name,
        api_version,
        scope,
        wave,
        awaited,
        swept,
        plain_data,
    }
}

use super::ownership::SCORING_FLOW;
use Scope::{Cluster, Namespaced};
use Wave::{Autoscalers, Configuration, Definitions, Namespaces, Services};

// (awaited, swept, plain data), spelled out so each row reads as one line of the table.
const DATA: (bool, bool, bool) = (false, false, true);
const SWEPT_DATA: (bool, bool, bool) = (false, true, true);
const OTHER: (bool, bool, bool) = (false, false, false);

/// The kinds with a fixed wave come first, in the order they are applied inside their wave.
#[rustfmt::skip]
pub const KINDS: [Kind; 27] = [
    kind("Namespace", "v1", Cluster, Some(Namespaces), DATA),
    kind("CustomResourceDefinition", "apiextensions.k8s.io/v1", Cluster, Some(Definitions), OTHER),
    kind("PriorityClass", "scheduling.k8s.io/v1", Cluster, Some(Configuration), DATA),
    kind("ServiceAccount", "v1", Namespaced, Some(Configuration), SWEPT_DATA),
    kind("Secret", "v1", Namespaced, Some(Configuration), SWEPT_DATA),
    kind("ConfigMap", "v1", Namespaced, Some(Configuration), SWEPT_DATA),
    kind("PersistentVolumeClaim", "v1", Namespaced, Some(Configuration), (true, true, false)),
    kind("ClusterRole", "rbac.authorization.k8s.io/v1", Cluster, Some(Configuration), DATA),
    kind("ClusterRoleBinding", "rbac.authorization.k8s.io/v1", Cluster, Some(Configuration), DATA),
    kind("Role", "rbac.authorization.k8s.io/v1", Namespaced, Some(Configuration), DATA),
    kind("RoleBinding", "rbac.authorization.k8s.io/v1", Namespaced, Some(Configuration), DATA),
    kind("NetworkPolicy", "networking.k8s.io/v1", Namespaced, Some(Configuration), DATA),
    // Owns endpoints (and may own a load balancer): only needs to exist, but is not plain data.
    kind("Service", "v1", Namespaced, Some(Services), (false, true, false)),
    kind("Ingress", "networking.k8s.io/v1", Namespaced, Some(Services), (true, false, true)),
    kind("PodDisruptionBudget", "policy/v1", Namespaced, Some(Autoscalers), SWEPT_DATA),
    kind("HorizontalPodAutoscaler", "autoscaling/v2", Namespaced, Some(Autoscalers), SWEPT_DATA),
    kind("VerticalPodAutoscaler", "autoscaling.k8s.io/v1", Namespaced, Some(Autoscalers), (true, false, false)),
    kind("StorageClass", "storage.k8s.io/v1", Cluster, None, OTHER),
    kind("PersistentVolume", "v1", Cluster, None, OTHER),
    kind("IngressClass", "networking.k8s.io/v1", Cluster, None, OTHER),
    kind("RuntimeClass", "node.k8s.io/v1", Cluster, None, OTHER),
    kind("ValidatingWebhookConfiguration", "admissionregistration.k8s.io/v1", Cluster, None, OTHER),
    kind("MutatingWebhookConfiguration", "admissionregistration.k8s.io/v1", Cluster, None, OTHER),
    kind("APIService", "apiregistration.k8s.io/v1", Cluster, None, OTHER),
    kind("Job", "batch/v1", Namespaced, None, (true, true, false)),
    kind("Deployment", "apps/v1", Namespaced, None, (true, true, false)),
    kind("StatefulSet", "apps/v1", Namespaced, None, (true, true, false)),
];

/// What a kind outside the table is: a namespaced workload or custom resource.
const UNLISTED: Kind = kind("", "", Namespaced, None, (true, false, false));

/// How the executor treats `name`.
pub fn of(name: &str) -> &'static Kind {
    KINDS.iter().find(|k| k.name == name).unwrap_or(&UNLISTED)
}

pub fn is_cluster_scoped(name: &str) -> bool {
    of(name).scope == Cluster
}

/// Kinds that are ready as soon as they exist (and own nothing).
pub fn is_plain_data(name: &str) -> bool {
    of(name).plain_data
}

/// Whether `wait` watches objects of this kind (namespaced ones; the rest only need to exist).
pub fn is_awaited(name: &str) -> bool {
    of(name).awaited
}

/// Kinds whose deletion can wait for owned objects (ReplicaSets, Pods).
pub fn has_dependents(name: &str) -> bool {
    !is_plain_data(name) && name != "Service"
}

/// (apiVersion, kind) of every kind `finally` lists by the job label.
pub fn swept() -> impl Iterator<Item = (&'static str, &'static str)> {
    KINDS
        .iter()
        .filter(|k| k.swept)
        .map(|k| (k.api_version, k.name))
}

impl Wave {
    /// The wave of a kind with this `app.kubernetes.io/component` label: workloads and custom
    /// resources go by component, flows after services.
    pub fn of_kind(kind: &str, component: Option<&str>) -> Wave {
        match of(kind).wave {
            Some(wave) => wave,
            None if component == Some(SCORING_FLOW) => Wave::ScoringFlows,
            None => Wave::ScoringServices,
        }
    }
}

/// Install order: by wave, then kind order inside the wave, then name (then kind, for kinds
/// without a fixed place).
pub fn install_rank(
    kind: &str,
    name: &str,
    component: Option<&str>,
) -> (Wave, usize, String, String) {
    let with_wave = KINDS.iter().take_while(|k| k.wave.is_some()).count();
    let kind_rank = KINDS[..with_wave]
        .iter()
        .position(|k| k.name == kind)
        .unwrap_or(with_wave);
    (
        Wave::of_kind(kind, component),
        kind_rank,
        name.to_string(),
        kind.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The six lists this table replaced (issue 13), column by column: the table must say
    /// exactly what they said.
    #[test]
    fn table_says_what_the_lists_it_replaced_said() {
        let cluster_scoped = [
            "Namespace",
            "CustomResourceDefinition",
            "ClusterRole",
            "ClusterRoleBinding",
            "PriorityClass",
            "StorageClass",
            "PersistentVolume",
            "IngressClass",
            "RuntimeClass",
            "ValidatingWebhookConfiguration",
            "MutatingWebhookConfiguration",
            "APIService",
        ];
        let kind_order = [
            ("Namespace", Wave::Namespaces),
            ("CustomResourceDefinition", Wave::Definitions),
            ("PriorityClass", Wave::Configuration),
            ("ServiceAccount", Wave::Configuration),
            ("Secret", Wave::Configuration),
            ("ConfigMap", Wave::Configuration),
            ("PersistentVolumeClaim", Wave::Configuration),
            ("ClusterRole", Wave::Configuration),
            ("ClusterRoleBinding", Wave::Configuration),
            ("Role", Wave::Configuration),
            ("RoleBinding", Wave::Configuration),
            ("NetworkPolicy", Wave::Configuration),
            ("Service", Wave::Services),
            ("Ingress", Wave::Services),
            ("PodDisruptionBudget", Wave::Autoscalers),
            ("HorizontalPodAutoscaler", Wave::Autoscalers),
            ("VerticalPodAutoscaler", Wave::Autoscalers),
        ];
        let not_awaited = [
            "ConfigMap",
            "Secret",
            "Service",
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "NetworkPolicy",
        ];
        let mut sweep_kinds = vec![
            ("autoscaling/v2", "HorizontalPodAutoscaler"),
            ("batch/v1", "Job"),
            ("apps/v1", "Deployment"),
            ("apps/v1", "StatefulSet"),
            ("v1", "Service"),
            ("v1", "ConfigMap"),
            ("v1", "Secret"),
            ("v1", "ServiceAccount"),
            ("v1", "PersistentVolumeClaim"),
            ("policy/v1", "PodDisruptionBudget"),
        ];
        let plain_data = [
            "ConfigMap",
            "Secret",
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "ClusterRole",
            "ClusterRoleBinding",
            "Namespace",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "HorizontalPodAutoscaler",
            "PriorityClass",
            "Ingress",
        ];
        let mut names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
        names.extend(["Pod", "SeldonDeployment", "InferenceService", "DaemonSet"]);
        for name in names {
            assert_eq!(
                is_cluster_scoped(name),
                cluster_scoped.contains(&name),
                "{name}"
            );
            assert_eq!(is_plain_data(name), plain_data.contains(&name), "{name}");
            let wave = kind_order.iter().find(|(k, _)| *k == name).map(|(_, w)| *w);
            assert_eq!(of(name).wave, wave, "{name}");
            // `wait` watched the namespaced objects not in NOT_AWAITED.
            let namespaced = !cluster_scoped.contains(&name);
            assert_eq!(
                is_awaited(name) && namespaced,
                namespaced && !not_awaited.contains(&name),
                "{name}"
            );
            assert_eq!(
                has_dependents(name),
                !plain_data.contains(&name) && name != "Service",
                "{name}"
            );
        }
        let order: Vec<&str> = KINDS.iter().take(17).map(|k| k.name).collect();
        let old_order: Vec<&str> = kind_order.iter().map(|(k, _)| *k).collect();
        assert_eq!(order, old_order);
        let mut swept: Vec<_> = swept().collect();
        swept.sort();
        sweep_kinds.sort();
        assert_eq!(swept, sweep_kinds);
    }

    #[test]
    fn unlisted_kinds_go_by_component_after_every_listed_kind() {
        assert_eq!(Wave::of_kind("Job", Some(SCORING_FLOW)), Wave::ScoringFlows);
        assert_eq!(
            Wave::of_kind("SeldonDeployment", None),
            Wave::ScoringServices
        );
        assert_eq!(install_rank("Job", "a", None).1, 17);
        assert_eq!(install_rank("ConfigMap", "a", None).1, 5);
    }
}
