//! Bounded concurrency: a queue of tasks served by a fixed number of workers.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

/// Starts `size` workers that take tasks from the front of `tasks` and run `work` on each;
/// results arrive on the returned channel in completion order (tag them to reorder).
/// Must be called inside a Tokio runtime.
pub fn spawn<T, O, F, Fut>(tasks: Vec<T>, size: usize, work: F) -> mpsc::UnboundedReceiver<O>
where
    T: Send + 'static,
    O: Send + 'static,
    F: Fn(T) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = O> + Send,
{
    let workers = size.clamp(1, tasks.len().max(1));
    let queue = Arc::new(Mutex::new(VecDeque::from(tasks)));
    let (sender, receiver) = mpsc::unbounded_channel();
    for _ in 0..workers {
        let queue = Arc::clone(&queue);
        let sender = sender.clone();
        let work = work.clone();
        tokio::spawn(async move {
            loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                let Some(task) = next else { break };
                if sender.send(work(task).await).is_err() {
                    break;
                }
            }
        });
    }
    receiver
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn never_runs_more_than_size_at_once() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let results: Vec<usize> = runtime.block_on(async {
            let (running, peak) = (running.clone(), peak.clone());
            let mut rx = spawn((0..20).collect(), 3, move |i: usize| {
                let (running, peak) = (running.clone(), peak.clone());
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    i
                }
            });
            let mut all = Vec::new();
            while let Some(i) = rx.recv().await {
                all.push(i);
            }
            all
        });
        assert_eq!(peak.load(Ordering::SeqCst), 3);
        let mut sorted = results.clone();
        sorted.sort();
        assert_eq!(sorted, (0..20).collect::<Vec<_>>());
    }
}
