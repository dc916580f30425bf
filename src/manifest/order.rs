//! Install and uninstall order as data, in the spirit of Helm's `kind_sorter.go`, with the waves
//! of DESIGN §7: scoring services must be ready before scoring flows start.

use super::Object;
use crate::preprocess::LABEL_COMPONENT;

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

/// Kinds with a fixed wave, in the order they are applied inside it.
const KIND_ORDER: [(&str, Wave); 17] = [
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

/// The component label value of scoring flows; workloads with it run after the services.
pub const SCORING_FLOW: &str = "scoring-flow";

impl Wave {
    /// Workloads and custom resources go by component: flows after services.
    pub fn of(object: &Object) -> Wave {
        Wave::of_kind(object.kind(), object.label(LABEL_COMPONENT))
    }

    /// The wave of a kind with this `app.kubernetes.io/component` label, for callers that hold
    /// only an object's metadata (finally).
    pub fn of_kind(kind: &str, component: Option<&str>) -> Wave {
        match KIND_ORDER.iter().find(|(k, _)| *k == kind) {
            Some((_, wave)) => *wave,
            None if component == Some(SCORING_FLOW) => Wave::ScoringFlows,
            None => Wave::ScoringServices,
        }
    }
}

/// Install order: by wave, then kind order inside the wave, then name (then kind, for kinds
/// without a fixed place).
pub(super) fn rank(
    kind: &str,
    name: &str,
    component: Option<&str>,
) -> (Wave, usize, String, String) {
    let kind_rank = KIND_ORDER
        .iter()
        .position(|(k, _)| *k == kind)
        .unwrap_or(KIND_ORDER.len());
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
    use serde_json::json;

    fn object(kind: &str, name: &str, component: &str) -> Object {
        Object {
            template: "t".into(),
            document: 1,
            value: json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "labels": {LABEL_COMPONENT: component}}}),
        }
    }

    #[test]
    fn services_before_flows_before_autoscalers() {
        let mut objects = [
            object("HorizontalPodAutoscaler", "scoringflow-f", SCORING_FLOW),
            object("Job", "f", SCORING_FLOW),
            object("Deployment", "s", "scoring-service"),
            object("Service", "s", "scoring-service"),
            object("ConfigMap", "f-config", SCORING_FLOW),
            object("Namespace", "n", "scoring-service"),
        ];
        objects.sort_by_cached_key(|o| rank(o.kind(), o.name(), o.component()));
        let kinds: Vec<&str> = objects.iter().map(Object::kind).collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "ConfigMap",
                "Service",
                "Deployment",
                "Job",
                "HorizontalPodAutoscaler"
            ]
        );
    }

    #[test]
    fn waves_from_metadata_match_waves_of_objects() {
        for (kind, component) in [
            ("Job", SCORING_FLOW),
            ("Deployment", SCORING_FLOW),
            ("Deployment", "scoring-service"),
            ("SeldonDeployment", "scoring-service"),
            ("ConfigMap", SCORING_FLOW),
            ("HorizontalPodAutoscaler", SCORING_FLOW),
        ] {
            let whole = Wave::of(&object(kind, "x", component));
            assert_eq!(
                Wave::of_kind(kind, Some(component)),
                whole,
                "{kind} {component}"
            );
        }
        assert_eq!(Wave::of_kind("Job", None), Wave::ScoringServices);
    }
}
