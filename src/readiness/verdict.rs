//! What a readiness rule decides, and the thresholds of the fail-fast rules.

use std::time::Duration;

/// The verdict on one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Still converging; the text says what is awaited ("2/3 replicas available").
    InProgress(String),
    /// Will not become ready by waiting; the text is the reason.
    Failed(String),
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        matches!(self, Readiness::Ready)
    }
    pub fn is_failed(&self) -> bool {
        matches!(self, Readiness::Failed(_))
    }
}

/// Thresholds of the fail-fast rules.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// How long an image pull may keep failing (registries hiccup) before it is a failure.
    pub image_pull_grace: Duration,
    /// How long a pod may stay unschedulable (the autoscaler may add a node) before it is a failure.
    pub unschedulable_grace: Duration,
    /// Restarts tolerated in CrashLoopBackOff before it is a failure.
    pub max_restarts: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            image_pull_grace: Duration::from_secs(60),
            unschedulable_grace: Duration::from_secs(120),
            max_restarts: 3,
        }
    }
}
