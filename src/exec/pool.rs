//! Bounded concurrency: at most `size` commands at once, however many jobs feed the pool.
//!
//! A run gives every task of every job to one pool (docs/jobs.md), and the daemon gives every
//! run it starts to the same one, so jobs that fire together share its limit. The limit is
//! a fair semaphore whose permit is released on drop: a task waits in the order it asked.
//! A pool larger than reporter's descriptor limit can serve is made smaller, with a warning,
//! rather than letting commands fail to start.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, mpsc};

use crate::exec::descriptors;

/// A shared limit on concurrent tasks; clones share it.
#[derive(Debug, Clone)]
pub struct Pool {
    permits: Arc<Semaphore>,
    size: usize,
    /// The size asked for, which the descriptor limit may have made `size` smaller than.
    asked: usize,
}

impl Pool {
    /// A pool of `size`, or of as many as reporter's descriptor limit allows, with a
    /// warning ([`descriptors::pool_size`]).
    pub fn new(asked: usize) -> Pool {
        let size = descriptors::pool_size(asked.max(1));
        Pool {
            permits: Arc::new(Semaphore::new(size)),
            size,
            asked,
        }
    }

    /// The size asked for: a pool made smaller for the descriptor limit is not made again,
    /// with the same warning, for the same setting.
    pub fn asked(&self) -> usize {
        self.asked
    }

    /// Runs `work` on each of `tasks`, front first, each while it holds one of the pool's
    /// permits; results arrive on the returned channel in completion order (tag them to
    /// reorder). Must be called inside a Tokio runtime.
    pub fn run<T, O, F, Fut>(&self, tasks: Vec<T>, work: F) -> mpsc::UnboundedReceiver<O>
    where
        T: Send + 'static,
        O: Send + 'static,
        F: Fn(T) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = O> + Send,
    {
        // No more workers than could ever hold a permit, or than there are tasks.
        let workers = self.size.min(tasks.len());
        let queue = Arc::new(Mutex::new(VecDeque::from(tasks)));
        let (sender, receiver) = mpsc::unbounded_channel();
        for _ in 0..workers {
            let queue = Arc::clone(&queue);
            let permits = Arc::clone(&self.permits);
            let sender = sender.clone();
            let work = work.clone();
            tokio::spawn(async move {
                loop {
                    let Ok(_permit) = permits.acquire().await else {
                        break;
                    };
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Counts how many tasks run at once.
    #[derive(Clone, Default)]
    struct Gauge {
        running: Arc<AtomicUsize>,
        peak: Arc<AtomicUsize>,
    }

    impl Gauge {
        fn work(
            &self,
        ) -> impl Fn(usize) -> std::pin::Pin<Box<dyn Future<Output = usize> + Send>>
        + Clone
        + Send
        + 'static {
            let gauge = self.clone();
            move |i| {
                let gauge = gauge.clone();
                Box::pin(async move {
                    let now = gauge.running.fetch_add(1, Ordering::SeqCst) + 1;
                    gauge.peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    gauge.running.fetch_sub(1, Ordering::SeqCst);
                    i
                })
            }
        }
    }

    async fn collect(mut rx: mpsc::UnboundedReceiver<usize>) -> Vec<usize> {
        let mut all = Vec::new();
        while let Some(i) = rx.recv().await {
            all.push(i);
        }
        all.sort();
        all
    }

    #[test]
    fn never_runs_more_than_size_at_once() {
        let runtime = crate::exec::runtime().unwrap();
        let gauge = Gauge::default();
        let results = runtime
            .block_on(async { collect(Pool::new(3).run((0..20).collect(), gauge.work())).await });
        assert_eq!(gauge.peak.load(Ordering::SeqCst), 3);
        assert_eq!(results, (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn streams_of_one_pool_share_its_limit() {
        let runtime = crate::exec::runtime().unwrap();
        let gauge = Gauge::default();
        let pool = Pool::new(4);
        let (a, b) = runtime.block_on(async {
            let a = pool.run((0..12).collect(), gauge.work());
            let b = pool.run((100..112).collect(), gauge.work());
            tokio::join!(collect(a), collect(b))
        });
        assert_eq!(gauge.peak.load(Ordering::SeqCst), 4, "not 4 per stream");
        assert_eq!((a.len(), b.len()), (12, 12));
    }
}
