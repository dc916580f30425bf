//! How the executor marks the objects it creates and recognises them later: the label keys and
//! values, the label selector of a job's objects, and the ownership check that apply (refuse to
//! take over another owner's object) and finally (never delete what is not the job's) share.

use std::collections::BTreeMap;

pub const MANAGED_BY: &str = "modelops-executor";
pub const PART_OF: &str = "modelops";
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const LABEL_PART_OF: &str = "app.kubernetes.io/part-of";
pub const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
pub const LABEL_JOB_ID: &str = "modelops.io/job-id";
pub const LABEL_PIPELINE: &str = "modelops.io/pipeline";

/// The component label value of scoring flows; workloads with it run after the services.
pub const SCORING_FLOW: &str = "scoring-flow";

/// The labels every object of the job carries (the job record's too, with its own job label).
pub fn labels(job_id: &str, pipeline: &str) -> serde_json::Value {
    serde_json::json!({
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_PART_OF: PART_OF,
        LABEL_JOB_ID: job_label(job_id),
        LABEL_PIPELINE: crate::names::label_value(pipeline),
    })
}

/// The value of the job label for a job id (ids longer than a label value are shortened).
pub fn job_label(job_id: &str) -> String {
    crate::names::label_value(job_id)
}

/// Which of a job's objects a selector picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selecting {
    /// Everything with the job label (pods, whose labels come from the charts' pod templates).
    JobLabel,
    /// The job's objects without the scoring flows' ones.
    WithoutFlows,
    /// Objects that carry both the job label and the executor's managed-by label: what may be
    /// deleted.
    Owned,
}

/// The label selector of a job's objects, by the value of its job label.
pub fn selector(job_label: &str, selecting: Selecting) -> String {
    let job = format!("{LABEL_JOB_ID}={job_label}");
    match selecting {
        Selecting::JobLabel => job,
        Selecting::WithoutFlows => format!("{job},{LABEL_COMPONENT}!={SCORING_FLOW}"),
        Selecting::Owned => format!("{job},{LABEL_MANAGED_BY}={MANAGED_BY}"),
    }
}

/// Whose an existing object is, by its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// Managed by the executor for this job.
    Ours,
    /// Managed by the executor for the job with this label value.
    OtherJob(String),
    /// Managed by the executor, without a job label.
    NoJobLabel,
    /// Not managed by the executor: the managed-by label's value, if any.
    NotManaged(Option<String>),
}

pub type Labels = BTreeMap<String, String>;

/// Whose the object with these labels is, seen from the job whose job label is `job_label`.
pub fn ownership(labels: Option<&Labels>, job_label: &str) -> Ownership {
    let label = |key: &str| labels.and_then(|l| l.get(key)).map(String::as_str);
    match (label(LABEL_MANAGED_BY), label(LABEL_JOB_ID)) {
        (Some(MANAGED_BY), Some(job)) if job == job_label => Ownership::Ours,
        (Some(MANAGED_BY), Some(other)) => Ownership::OtherJob(other.to_string()),
        (Some(MANAGED_BY), None) => Ownership::NoJobLabel,
        (manager, _) => Ownership::NotManaged(manager.map(str::to_string)),
    }
}

/// Whether the object with these labels is the job's own (both labels; one is not enough).
pub fn is_ours(labels: Option<&Labels>, job_label: &str) -> bool {
    ownership(labels, job_label) == Ownership::Ours
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_needs_both_labels() {
        let mut labels = Labels::new();
        assert_eq!(ownership(None, "job-1"), Ownership::NotManaged(None));
        labels.insert(LABEL_JOB_ID.into(), "job-1".into());
        assert!(!is_ours(Some(&labels), "job-1"));
        labels.insert(LABEL_MANAGED_BY.into(), MANAGED_BY.into());
        assert!(is_ours(Some(&labels), "job-1"));
        assert_eq!(
            ownership(Some(&labels), "job-2"),
            Ownership::OtherJob("job-1".into())
        );
        labels.remove(LABEL_JOB_ID);
        assert_eq!(ownership(Some(&labels), "job-1"), Ownership::NoJobLabel);
        labels.insert(LABEL_MANAGED_BY.into(), "helm".into());
        assert_eq!(
            ownership(Some(&labels), "job-1"),
            Ownership::NotManaged(Some("helm".into()))
        );
    }

    #[test]
    fn selectors_are_the_ones_each_caller_used() {
        assert_eq!(selector("j", Selecting::JobLabel), "modelops.io/job-id=j");
        assert_eq!(
            selector("j", Selecting::WithoutFlows),
            "modelops.io/job-id=j,app.kubernetes.io/component!=scoring-flow"
        );
        assert_eq!(
            selector("j", Selecting::Owned),
            "modelops.io/job-id=j,app.kubernetes.io/managed-by=modelops-executor"
        );
    }
}
