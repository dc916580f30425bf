//! How errors are printed: the one walk of an error's chain of sources, and the one-line forms
//! that the job record, the Tekton `error` result and log fields carry. A leaf module: every
//! stage's errors come through here, so it depends on none of them.

/// An error and its sources, outermost first: the one walk of a chain that every printer uses.
pub fn sources<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(err), |e| e.source())
}

/// The messages of an error's chain, outermost first.
pub fn messages<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = String> + 'a {
    sources(err).map(ToString::to_string)
}

/// The whole chain on one line (`outer: cause: cause`, runs of whitespace made one space): what
/// the job record, the `error` result and warnings carry.
pub fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let text = messages(err).collect::<Vec<_>>().join(": ");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The chain on one line, leaving out a cause whose text the outer ones already say (object
/// stores and HTTP clients repeat their source's text in their own).
pub fn one_line_distinct(err: &(dyn std::error::Error + 'static)) -> String {
    let mut messages = messages(err);
    let mut text = messages.next().unwrap_or_default();
    for cause in messages {
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// An API error status as one bounded line, `<code> <reason>: <message>`: kube's own text
/// repeats the message and appends the whole `Status`, and a rejected Job's message holds its
/// entire pod template.
pub fn describe_status(status: &kube::core::Status) -> String {
    const LIMIT: usize = 600;
    let mut message = status.message.trim().to_string();
    if message.len() > LIMIT {
        let cut = (0..=LIMIT)
            .rev()
            .find(|&i| message.is_char_boundary(i))
            .unwrap_or(0);
        let dropped = message.len() - cut;
        message.truncate(cut);
        message.push_str(&format!(" … ({dropped} more bytes)"));
    }
    format!("{} {}: {message}", status.code, status.reason)
}
