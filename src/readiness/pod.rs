//! Pods: ready, in progress, or failed for a reason that waiting will not fix.

use super::conditions::{condition, condition_message};
use super::verdict::{Policy, Readiness};
use jiff::Timestamp;
use serde_json::Value;

/// Waiting reasons that are permanent however long we wait.
const BROKEN_AT_ONCE: [&str; 2] = ["InvalidImageName", "ErrImageNeverPull"];
/// Waiting reasons that may be transient (a registry hiccup, a Secret about to be created).
const BROKEN_AFTER_GRACE: [&str; 5] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

/// Judges a pod. Without `now`, the rules that need a grace period never fire.
pub fn pod(object: &Value, policy: &Policy, now: Option<Timestamp>) -> Readiness {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let phase = object
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("Pending");
    match phase {
        "Failed" => return Readiness::Failed(format!("pod/{name}: {}", failure(object))),
        "Succeeded" => return Readiness::Ready,
        _ => {}
    }
    let clock = Clock { now };
    let created = object
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str);
    let created_age = clock.age(created);
    for status in container_statuses(object) {
        if let Some(broken) = broken_container(status, policy, created_age) {
            return Readiness::Failed(format!("pod/{name}: {broken}"));
        }
    }
    if let Some(scheduled) = condition(object, "PodScheduled")
        && scheduled.get("status").and_then(Value::as_str) == Some("False")
    {
        return unscheduled(scheduled, name, policy, &clock, created);
    }
    if condition(object, "Ready")
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str)
        == Some("True")
    {
        return Readiness::Ready;
    }
    let waiting: Vec<String> = container_statuses(object)
        .filter_map(|s| {
            let reason = s.pointer("/state/waiting/reason").and_then(Value::as_str)?;
            Some(format!(
                "{} {reason}",
                s.get("name").and_then(Value::as_str).unwrap_or("?")
            ))
        })
        .collect();
    if waiting.is_empty() {
        Readiness::InProgress(format!("pod/{name}: {phase}, not ready"))
    } else {
        Readiness::InProgress(format!(
            "pod/{name}: {phase}, waiting: {}",
            waiting.join(", ")
        ))
    }
}

/// How long ago a timestamp of the object was, when the caller gave the time.
struct Clock {
    now: Option<Timestamp>,
}

impl Clock {
    fn age(&self, since: Option<&str>) -> Option<std::time::Duration> {
        let since: Timestamp = since?.parse().ok()?;
        std::time::Duration::try_from(self.now?.duration_since(since)).ok()
    }
}

/// A failed pod's reason, message and the exits of its containers.
fn failure(object: &Value) -> String {
    let reason = object.pointer("/status/reason").and_then(Value::as_str);
    let message = object.pointer("/status/message").and_then(Value::as_str);
    let detail = [reason, message]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(": ");
    let containers = terminated_summary(object);
    match (detail.is_empty(), containers.is_empty()) {
        (true, true) => "pod failed".to_string(),
        (false, true) => format!("pod failed: {detail}"),
        (true, false) => format!("pod failed: {containers}"),
        (false, false) => format!("pod failed: {detail}; {containers}"),
    }
}

/// Why a container will not start however long we wait, if that is so: a broken image reference
/// at once, a pull or configuration error after the grace period, a crash loop after the allowed
/// restarts.
fn broken_container(
    status: &Value,
    policy: &Policy,
    pod_age: Option<std::time::Duration>,
) -> Option<String> {
    let container = status.get("name").and_then(Value::as_str).unwrap_or("?");
    let waiting = status.pointer("/state/waiting")?;
    let reason = waiting
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let message = waiting
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let described = if message.is_empty() {
        reason.to_string()
    } else {
        format!("{reason}: {message}")
    };
    if BROKEN_AT_ONCE.contains(&reason) {
        return Some(format!("container {container}: {described}"));
    }
    if BROKEN_AFTER_GRACE.contains(&reason) && pod_age.is_some_and(|a| a >= policy.image_pull_grace)
    {
        return Some(format!(
            "container {container}: {described} (for more than {}s)",
            policy.image_pull_grace.as_secs()
        ));
    }
    let restarts = status
        .get("restartCount")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if reason == "CrashLoopBackOff" && restarts >= policy.max_restarts {
        let last = status
            .pointer("/lastState/terminated")
            .map(describe_terminated)
            .filter(|last| !last.is_empty())
            .map(|last| format!("; last exit: {last}"))
            .unwrap_or_default();
        return Some(format!(
            "container {container}: CrashLoopBackOff after {restarts} restarts{last}"
        ));
    }
    None
}

/// A pod the scheduler has not placed: failed once it has been unschedulable for the grace
/// period, else in progress.
fn unscheduled(
    scheduled: &Value,
    name: &str,
    policy: &Policy,
    clock: &Clock,
    created: Option<&str>,
) -> Readiness {
    let since = scheduled
        .get("lastTransitionTime")
        .and_then(Value::as_str)
        .or(created);
    let text = condition_message(scheduled);
    if scheduled.get("reason").and_then(Value::as_str) == Some("Unschedulable")
        && clock
            .age(since)
            .is_some_and(|a| a >= policy.unschedulable_grace)
    {
        return Readiness::Failed(format!(
            "pod/{name}: unschedulable for more than {}s: {text}",
            policy.unschedulable_grace.as_secs()
        ));
    }
    Readiness::InProgress(format!("pod/{name}: not scheduled: {text}"))
}

fn container_statuses(object: &Value) -> impl Iterator<Item = &Value> {
    ["/status/initContainerStatuses", "/status/containerStatuses"]
        .into_iter()
        .filter_map(|p| object.pointer(p).and_then(Value::as_array))
        .flatten()
}

fn describe_terminated(terminated: &Value) -> String {
    let reason = terminated
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or("terminated");
    let code = terminated.get("exitCode").and_then(Value::as_i64);
    let message = terminated
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut text = reason.to_string();
    if let Some(code) = code {
        text.push_str(&format!(" (exit code {code})"));
    }
    if !message.is_empty() {
        text.push_str(&format!(": {message}"));
    }
    text
}

/// "container x: Error (exit code 2)" for every container that terminated unsuccessfully.
fn terminated_summary(object: &Value) -> String {
    container_statuses(object)
        .filter_map(|s| {
            let terminated = s.pointer("/state/terminated")?;
            if terminated.get("exitCode").and_then(Value::as_i64) == Some(0) {
                return None;
            }
            Some(format!(
                "container {}: {}",
                s.get("name").and_then(Value::as_str).unwrap_or("?"),
                describe_terminated(terminated)
            ))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        crate::yaml::parse_one(text).unwrap()
    }

    fn at(text: &str) -> Option<Timestamp> {
        Some(text.parse().unwrap())
    }

    const CREATED: &str = "metadata: {name: p, creationTimestamp: '2026-01-01T00:00:00Z'}\n";

    #[test]
    fn ready_and_succeeded() {
        let ready = yaml(&format!(
            "kind: Pod\n{CREATED}status:\n  phase: Running\n  conditions: [{{type: Ready, status: 'True'}}]"
        ));
        assert_eq!(pod(&ready, &Policy::default(), None), Readiness::Ready);
        assert_eq!(
            pod(
                &yaml(&format!("kind: Pod\n{CREATED}status: {{phase: Succeeded}}")),
                &Policy::default(),
                None
            ),
            Readiness::Ready
        );
    }

    #[test]
    fn failed_pod_names_container_exit() {
        let failed = yaml(&format!(
            "kind: Pod\n{CREATED}status:\n  phase: Failed\n  containerStatuses:\n  - name: scorer\n    state: {{terminated: {{reason: Error, exitCode: 2, message: model file corrupt}}}}"
        ));
        assert_eq!(
            pod(&failed, &Policy::default(), None),
            Readiness::Failed(
                "pod/p: pod failed: container scorer: Error (exit code 2): model file corrupt"
                    .into()
            )
        );
    }

    #[test]
    fn image_pull_errors_fail_after_grace_only() {
        let pulling = yaml(&format!(
            "kind: Pod\n{CREATED}status:\n  phase: Pending\n  containerStatuses:\n  - name: scorer\n    state: {{waiting: {{reason: ImagePullBackOff, message: 'Back-off pulling image \"x:1\"'}}}}"
        ));
        let policy = Policy::default();
        assert!(
            matches!(pod(&pulling, &policy, at("2026-01-01T00:00:30Z")), Readiness::InProgress(t) if t.contains("scorer ImagePullBackOff"))
        );
        let verdict = pod(&pulling, &policy, at("2026-01-01T00:01:01Z"));
        assert_eq!(verdict, Readiness::Failed("pod/p: container scorer: ImagePullBackOff: Back-off pulling image \"x:1\" (for more than 60s)".into()));
        let invalid = yaml(&format!(
            "kind: Pod\n{CREATED}status:\n  containerStatuses:\n  - name: s\n    state: {{waiting: {{reason: InvalidImageName}}}}"
        ));
        assert!(
            pod(&invalid, &policy, None).is_failed(),
            "an invalid image name never heals"
        );
    }

    #[test]
    fn crash_loop_fails_beyond_max_restarts() {
        let crashing = |restarts: i64| {
            yaml(&format!(
                "kind: Pod\n{CREATED}status:\n  phase: Running\n  containerStatuses:\n  - name: scorer\n    restartCount: {restarts}\n    state: {{waiting: {{reason: CrashLoopBackOff}}}}\n    lastState: {{terminated: {{reason: Error, exitCode: 137}}}}"
            ))
        };
        let policy = Policy {
            max_restarts: 3,
            ..Policy::default()
        };
        assert!(matches!(
            pod(&crashing(2), &policy, None),
            Readiness::InProgress(_)
        ));
        assert_eq!(
            pod(&crashing(3), &policy, None),
            Readiness::Failed("pod/p: container scorer: CrashLoopBackOff after 3 restarts; last exit: Error (exit code 137)".into())
        );
    }

    #[test]
    fn unschedulable_fails_after_grace() {
        let pending = yaml(&format!(
            "kind: Pod\n{CREATED}status:\n  phase: Pending\n  conditions: [{{type: PodScheduled, status: 'False', reason: Unschedulable, lastTransitionTime: '2026-01-01T00:00:10Z', message: '0/2 nodes are available: 2 node(s) didn''t match Pod''s node affinity/selector.'}}]"
        ));
        let policy = Policy::default();
        assert!(
            matches!(pod(&pending, &policy, at("2026-01-01T00:01:00Z")), Readiness::InProgress(t) if t.contains("not scheduled"))
        );
        let verdict = pod(&pending, &policy, at("2026-01-01T00:02:10Z"));
        assert!(
            matches!(&verdict, Readiness::Failed(t) if t.contains("unschedulable for more than 120s") && t.contains("node affinity/selector")),
            "{verdict:?}"
        );
    }
}
