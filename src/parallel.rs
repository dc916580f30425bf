//! Data parallelism for the few CPU-heavy steps (rendering, parsing and emitting thousands of
//! objects), with scoped threads: results keep the input order, so output stays deterministic.

pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
        .min(8)
}

/// `items.iter().map(f)` on up to `threads()` threads, in order.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads().min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let per_thread = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> = items
            .chunks(per_thread)
            .map(|chunk| scope.spawn(move || chunk.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a worker thread panicked"))
            .collect()
    })
}

/// Runs `produce` on this thread and `consume` on what it produces, on the other threads while
/// it produces and on this one too once it is done (a bounded queue keeps memory flat); the
/// results are in production order. If `produce` fails, its error is returned once the queue is
/// drained.
pub fn pipeline<I: Send, O: Send, E>(
    produce: impl FnOnce(&mut dyn FnMut(I)) -> Result<(), E>,
    consume: impl Fn(I) -> O + Sync,
) -> Result<Vec<O>, E> {
    let (sender, receiver) = std::sync::mpsc::sync_channel::<(usize, I)>(threads() * 2);
    let receiver = std::sync::Mutex::new(receiver);
    let drain = || {
        let mut results = Vec::new();
        loop {
            let next = receiver.lock().expect("a worker panicked").recv();
            match next {
                Ok((position, item)) => results.push((position, consume(item))),
                Err(_) => return results,
            }
        }
    };
    std::thread::scope(|scope| {
        let workers: Vec<_> = (1..threads().max(2)).map(|_| scope.spawn(drain)).collect();
        let mut position = 0;
        let produced = produce(&mut |item| {
            // Fails only when every worker is gone, i.e. panicked; the join below reports that.
            let _ = sender.send((position, item));
            position += 1;
        });
        drop(sender);
        let mut results = drain();
        for worker in workers {
            results.extend(worker.join().expect("a worker thread panicked"));
        }
        produced?;
        results.sort_unstable_by_key(|(position, _)| *position);
        Ok(results.into_iter().map(|(_, result)| result).collect())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_order() {
        let items: Vec<u32> = (0..1000).collect();
        assert_eq!(
            super::map(&items, |x| x * 2),
            items.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
        assert!(super::map(&Vec::<u32>::new(), |x| *x).is_empty());
    }

    #[test]
    fn pipeline_keeps_production_order_and_reports_the_producers_error() {
        let results = super::pipeline(
            |emit| {
                (0..500).for_each(&mut *emit);
                Ok::<(), String>(())
            },
            |x: u32| x * 2,
        );
        assert_eq!(results, Ok((0..500).map(|x| x * 2).collect()));
        let failed = super::pipeline(
            |emit| {
                emit(1);
                Err("broken".to_string())
            },
            |x: u32| x,
        );
        assert_eq!(failed, Err("broken".to_string()));
    }
}
