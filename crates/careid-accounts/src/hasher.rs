//! The one way careid runs argon2: a fixed pool of worker threads, each owning one argon2
//! memory arena allocated when it starts and reused for every job, fed by a bounded queue.
//! The hashing itself is `careid-policy`'s.
//!
//! DESIGN.md, "Performance shape": a flood of sign-ins queues or is refused with 503, it
//! never grows memory or starves the runtime threads that serve tokens. A full queue, or
//! no answer within `max_wait`, is [`AccountsError::Busy`]. (The previous design ran each
//! hash on `spawn_blocking`'s ever-changing threads with a fresh ~19 MiB allocation per
//! call, and glibc kept what it had once handed out: 440 MB after a load test.)

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    thread,
    time::Duration,
};

use careid_policy::{HashParams, HashWorkspace, PasswordHash, PlainPassword, PolicyError};
use tokio::{sync::oneshot, time::timeout};

use crate::{AccountsConfig, AccountsError};

/// Jobs the queue holds per worker. Each is a few hundred bytes (a password, maybe a PHC
/// string, a reply channel), so the bound is about how long a caller may be kept waiting,
/// not about memory: 256 per worker lets 256 concurrent sign-ins per core queue rather
/// than be refused, and at OWASP parameters that queue drains well within the default
/// `hash_max_wait_ms`.
const QUEUE_PER_WORKER: usize = 256;

/// A unit of work for a worker: runs on the worker's arena and sends its own reply.
type Job = Box<dyn FnOnce(&mut Arena) + Send>;

/// Runs every argon2 call on a fixed pool of worker threads, off the async runtime.
///
/// Clones share the pool. The workers stop once the last clone is dropped: the queue
/// closes, and each worker finishes the job in hand and exits.
#[derive(Debug, Clone)]
pub struct Hasher {
    jobs: flume::Sender<Job>,
    workers: usize,
    max_wait: Duration,
    params: HashParams,
}

impl Hasher {
    /// A hasher for new hashes made with `params`, on `workers` threads (0 means one per
    /// core), refusing a call it cannot answer within `max_wait`.
    pub fn new(params: HashParams, workers: usize, max_wait: Duration) -> Self {
        let workers = workers_for(workers);
        Self::with_queue(
            params,
            workers,
            workers.saturating_mul(QUEUE_PER_WORKER),
            max_wait,
        )
    }

    /// As [`Hasher::new`], with room for `queue` waiting jobs (at least one).
    pub fn with_queue(
        params: HashParams,
        workers: usize,
        queue: usize,
        max_wait: Duration,
    ) -> Self {
        spawn(params, workers, queue, max_wait).0
    }

    /// The hasher the configuration describes.
    pub fn from_config(config: &AccountsConfig) -> Self {
        Self::new(config.hash, config.hash_workers, config.hash_max_wait())
    }

    /// The parameters new hashes are made with.
    pub fn params(&self) -> &HashParams {
        &self.params
    }

    /// How many worker threads hash: at most this many hashes run at once.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Hashes a new password with the configured parameters.
    pub async fn hash(&self, password: PlainPassword) -> Result<PasswordHash, AccountsError> {
        Ok(self.run(move |arena| arena.hash(&password)).await??)
    }

    /// Whether `password` matches `hash`.
    pub async fn verify(
        &self,
        password: PlainPassword,
        hash: PasswordHash,
    ) -> Result<bool, AccountsError> {
        self.run(move |arena| arena.verify(&password, &hash)).await
    }

    /// Spends the time of a real verification and discards it, for an unknown email or an
    /// account without a password (so timing does not tell which emails exist).
    pub async fn dummy_verify(&self, password: PlainPassword) -> Result<(), AccountsError> {
        self.run(move |arena| arena.dummy_verify(&password)).await
    }

    /// Whether `password` matches one of `recent`, newest first (the password history).
    /// Up to [`careid_policy::HISTORY_DEPTH`] verifications in one job.
    pub async fn is_reused(
        &self,
        password: PlainPassword,
        recent: Vec<PasswordHash>,
    ) -> Result<bool, AccountsError> {
        self.run(move |arena| arena.is_reused(&password, &recent))
            .await
    }

    /// Occupies every worker and fills the queue, so that every call is busy until the
    /// returned guard is dropped.
    #[cfg(test)]
    pub(crate) async fn hold_all_for_test(&self) -> HoldGuard {
        let guard = self.hold_workers_for_test().await;
        loop {
            let release = guard.release.clone();
            let job: Job = Box::new(move |_| while release.recv().is_ok() {});
            if self.jobs.try_send(job).is_err() {
                break guard;
            }
        }
    }

    /// Occupies every worker with a job that lasts until the returned guard is dropped,
    /// and leaves the queue empty.
    #[cfg(test)]
    pub(crate) async fn hold_workers_for_test(&self) -> HoldGuard {
        let (hold, release) = flume::bounded::<()>(1);
        let (started_tx, started) = flume::bounded::<()>(self.workers);
        for _ in 0..self.workers {
            let release = release.clone();
            let started_tx = started_tx.clone();
            let job: Job = Box::new(move |_| {
                let _ = started_tx.send(());
                while release.recv().is_ok() {}
            });
            self.jobs.send_async(job).await.unwrap();
        }
        for _ in 0..self.workers {
            started.recv_async().await.unwrap();
        }
        HoldGuard {
            hold: Some(hold),
            release,
            jobs: self.jobs.clone(),
        }
    }

    /// Queues `work` for a worker and waits for its answer: `Busy` when the queue is full
    /// or no answer comes within `max_wait`.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Arena) -> T + Send + 'static,
    ) -> Result<T, AccountsError> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |arena| {
            // The caller gave up (timed out, or its request was dropped): skip the work, so
            // that a backlog of abandoned jobs drains at once instead of burning the cores.
            if !reply.is_closed() {
                let _ = reply.send(work(arena));
            }
        });
        metrics::gauge!("careid_hash_queue_length").set(self.jobs.len() as f64);
        let queued = std::time::Instant::now();
        self.jobs.try_send(job).map_err(|err| match err {
            flume::TrySendError::Full(_) => AccountsError::Busy,
            flume::TrySendError::Disconnected(_) => AccountsError::HashWorkerFailed,
        })?;
        let answered = timeout(self.max_wait, answer).await;
        // Queue wait and the hash itself: what a sign-in spends on argon2.
        metrics::histogram!("careid_hash_wait_seconds").record(queued.elapsed().as_secs_f64());
        match answered {
            Ok(Ok(value)) => Ok(value),
            // The worker dropped the reply: the job panicked.
            Ok(Err(_)) => Err(AccountsError::HashWorkerFailed),
            Err(_) => Err(AccountsError::Busy),
        }
    }
}

/// Keeps the jobs of [`Hasher::hold_all_for_test`] running until dropped.
#[cfg(test)]
pub(crate) struct HoldGuard {
    hold: Option<flume::Sender<()>>,
    release: flume::Receiver<()>,
    jobs: flume::Sender<Job>,
}

#[cfg(test)]
impl Drop for HoldGuard {
    /// Ends the held jobs and returns once the queue has room again, so that the next call
    /// cannot find it still full of them.
    fn drop(&mut self) {
        drop(self.hold.take());
        while !self.jobs.is_empty() {
            thread::yield_now();
        }
    }
}

/// `workers`, with 0 meaning one per core.
fn workers_for(workers: usize) -> usize {
    if workers == 0 {
        thread::available_parallelism().map_or(1, usize::from)
    } else {
        workers
    }
}

/// Starts `workers` threads on a queue of `queue` jobs, and gives the hasher that feeds
/// them and the threads' handles.
fn spawn(
    params: HashParams,
    workers: usize,
    queue: usize,
    max_wait: Duration,
) -> (Hasher, Vec<thread::JoinHandle<()>>) {
    let workers = workers_for(workers);
    let (jobs, inbox) = flume::bounded::<Job>(queue.max(1));
    let mut handles = Vec::with_capacity(workers);
    for index in 0..workers {
        let inbox = inbox.clone();
        let spawned = thread::Builder::new()
            .name(format!("careid-hash-{index}"))
            .spawn(move || work(&params, &inbox));
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(err) => tracing::error!(%err, index, "could not start a hashing worker"),
        }
    }
    // With no worker at all the queue has no receiver left, and every call fails at once
    // with `HashWorkerFailed` rather than waiting out `max_wait`.
    let hasher = Hasher {
        jobs,
        workers: handles.len(),
        max_wait,
        params,
    };
    (hasher, handles)
}

/// One worker's life: make its arena, then run jobs until the queue closes.
fn work(params: &HashParams, inbox: &flume::Receiver<Job>) {
    let mut arena = Arena::new(params);
    while let Ok(job) = inbox.recv() {
        // A panicking job drops its reply, which its caller sees; the worker, and the
        // pool's size, survive it. Its arena needs no repair: argon2 overwrites every
        // block before reading it.
        if catch_unwind(AssertUnwindSafe(|| job(&mut arena))).is_err() {
            tracing::error!("a hashing job panicked");
        }
    }
}

/// A worker's argon2 state: its workspace, or why the configured parameters cannot have
/// one. With bad parameters, new hashes fail with the reason while stored hashes (whose
/// parameters are their own) still verify, each on a temporary arena.
enum Arena {
    Ready(HashWorkspace),
    Unusable(String),
}

impl Arena {
    fn new(params: &HashParams) -> Self {
        match HashWorkspace::new(params) {
            Ok(workspace) => Self::Ready(workspace),
            Err(err) => {
                tracing::error!(%err, "the configured argon2 parameters cannot hash");
                Self::Unusable(err.to_string())
            }
        }
    }

    fn hash(&mut self, password: &PlainPassword) -> Result<PasswordHash, PolicyError> {
        match self {
            Self::Ready(workspace) => workspace.hash(password),
            Self::Unusable(why) => Err(PolicyError::Hash(why.clone())),
        }
    }

    fn verify(&mut self, password: &PlainPassword, hash: &PasswordHash) -> bool {
        match self {
            Self::Ready(workspace) => workspace.verify(password, hash),
            Self::Unusable(_) => careid_policy::verify_password(password, hash),
        }
    }

    fn dummy_verify(&mut self, password: &PlainPassword) {
        if let Self::Ready(workspace) = self {
            workspace.dummy_verify(password);
        }
    }

    fn is_reused(&mut self, password: &PlainPassword, recent: &[PasswordHash]) -> bool {
        match self {
            Self::Ready(workspace) => workspace.is_reused(password, recent),
            Self::Unusable(_) => careid_policy::is_reused(password, recent),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;
    use crate::testing::CHEAP;

    const PASSWORD: &str = "Tulip-Harbor-42";

    /// Long enough that a test which waited for it would be stopped by its own guard.
    const FOREVER: Duration = Duration::from_secs(3600);

    fn hasher(workers: usize) -> Hasher {
        Hasher::new(CHEAP, workers, FOREVER)
    }

    fn password() -> PlainPassword {
        PlainPassword::new(PASSWORD)
    }

    #[tokio::test]
    async fn a_hashed_password_verifies_and_a_wrong_one_does_not() {
        let hasher = hasher(2);
        let hash = hasher.hash(password()).await.unwrap();
        assert!(hasher.verify(password(), hash.clone()).await.unwrap());
        assert!(
            !hasher
                .verify(PlainPassword::new("Tulip-Harbor-43"), hash.clone())
                .await
                .unwrap()
        );
        assert!(hasher.is_reused(password(), vec![hash]).await.unwrap());
        assert!(hasher.dummy_verify(password()).await.is_ok());
    }

    #[tokio::test]
    async fn a_hash_stored_with_other_parameters_still_verifies() {
        let hasher = hasher(1);
        for params in [
            HashParams {
                memory_kib: 4096,
                ..CHEAP
            },
            HashParams {
                memory_kib: 64,
                iterations: 3,
                parallelism: 2,
            },
        ] {
            let old = careid_policy::hash_password(&password(), &params).unwrap();
            assert!(hasher.verify(password(), old.clone()).await.unwrap());
            assert!(
                !hasher
                    .verify(PlainPassword::new("Tulip-Harbor-43"), old)
                    .await
                    .unwrap()
            );
        }
    }

    #[tokio::test]
    async fn zero_workers_means_one_per_core() {
        let hasher = hasher(0);
        assert_eq!(
            hasher.workers(),
            thread::available_parallelism().map_or(1, usize::from)
        );
        assert!(hasher.dummy_verify(password()).await.is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_hashes_on_two_workers_all_succeed() {
        let hasher = Hasher::new(CHEAP, 2, FOREVER);
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let hasher = hasher.clone();
                tokio::spawn(async move {
                    let text = format!("Tulip-Harbor-{i}");
                    let hash = hasher.hash(PlainPassword::new(text.clone())).await?;
                    hasher.verify(PlainPassword::new(text), hash).await
                })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap().unwrap());
        }
    }

    #[tokio::test]
    async fn every_call_is_busy_while_the_workers_and_queue_are_held() {
        let hasher = Hasher::new(CHEAP, 1, FOREVER);
        let held = hasher.hold_all_for_test().await;
        assert!(matches!(
            hasher.hash(password()).await,
            Err(AccountsError::Busy)
        ));
        assert!(matches!(
            hasher
                .verify(password(), PasswordHash::from_phc(String::new()))
                .await,
            Err(AccountsError::Busy)
        ));
        assert!(matches!(
            hasher.dummy_verify(password()).await,
            Err(AccountsError::Busy)
        ));
        assert!(matches!(
            hasher.is_reused(password(), vec![]).await,
            Err(AccountsError::Busy)
        ));
        drop(held);
        assert!(hasher.dummy_verify(password()).await.is_ok());
    }

    #[tokio::test]
    async fn a_full_queue_is_busy_at_once_and_the_queued_jobs_still_finish() {
        // One worker, held; room for three jobs; a wait that would never end.
        let hasher = Hasher::with_queue(CHEAP, 1, 3, FOREVER);
        let held = hasher.hold_workers_for_test().await;
        let (done, mut results) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..5 {
            let hasher = hasher.clone();
            let done = done.clone();
            tokio::spawn(async move {
                let _ = done.send(hasher.hash(password()).await);
            });
        }
        // Three calls queue; the two that find the queue full are refused while the
        // worker is still held, long before anything is hashed.
        for _ in 0..2 {
            let refused = timeout(Duration::from_secs(30), results.recv()).await;
            assert!(matches!(refused, Ok(Some(Err(AccountsError::Busy)))));
        }
        drop(held);
        for _ in 0..3 {
            let answered = timeout(Duration::from_secs(30), results.recv()).await;
            assert!(matches!(answered, Ok(Some(Ok(_)))), "{answered:?}");
        }
    }

    #[tokio::test]
    async fn a_job_whose_caller_gave_up_is_skipped() {
        // The caller times out while the worker is held; the job it left in the queue
        // must not be hashed once the worker is free.
        let hasher = Hasher::with_queue(CHEAP, 1, 4, Duration::from_millis(1));
        let held = hasher.hold_workers_for_test().await;
        let (ran_tx, ran) = flume::unbounded::<()>();
        let abandoned = hasher.run(move |_| {
            let _ = ran_tx.send(());
        });
        assert!(matches!(abandoned.await, Err(AccountsError::Busy)));
        drop(held);
        // A later job runs after the abandoned one in the same queue.
        let later = Hasher {
            max_wait: FOREVER,
            ..hasher.clone()
        };
        later.dummy_verify(password()).await.unwrap();
        assert!(ran.try_recv().is_err());
    }

    #[test]
    fn the_workers_stop_when_the_last_clone_is_dropped() {
        let (hasher, handles) = spawn(CHEAP, 2, 8, FOREVER);
        let clone = hasher.clone();
        drop(hasher);
        drop(clone);
        let (joined_tx, joined) = mpsc::channel();
        thread::spawn(move || {
            for handle in handles {
                handle.join().unwrap();
            }
            let _ = joined_tx.send(());
        });
        assert!(joined.recv_timeout(Duration::from_secs(30)).is_ok());
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_and_the_worker_lives_on() {
        let hasher = Hasher::new(CHEAP, 1, FOREVER);
        let failed = hasher.run(|_| -> bool { panic!("a bug in a job") }).await;
        assert!(matches!(failed, Err(AccountsError::HashWorkerFailed)));
        let hash = hasher.hash(password()).await.unwrap();
        assert!(hasher.verify(password(), hash).await.unwrap());
    }

    /// This process's resident and peak memory in MiB, from /proc/self/status.
    fn memory_mib() -> (u64, u64) {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let field = |name: &str| -> u64 {
            let line = status.lines().find(|line| line.starts_with(name)).unwrap();
            let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
            kib / 1024
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Many verifications through the pool, as a flood of sign-ins, at the OWASP
    /// parameters. Ignored because resident memory is the whole process's: run it alone,
    /// `cargo test -p careid-accounts --lib -- --ignored --nocapture memory_stays_flat`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "measures the whole process's memory; run it alone"]
    async fn memory_stays_flat_through_a_flood_of_verifications() {
        const TASKS: usize = 64;
        let hasher = Hasher::new(HashParams::default(), 0, FOREVER);
        let hash = hasher.hash(password()).await.unwrap();
        let flood = |rounds: usize| {
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let (hasher, hash) = (hasher.clone(), hash.clone());
                    tokio::spawn(async move {
                        for _ in 0..rounds {
                            assert!(hasher.verify(password(), hash.clone()).await.unwrap());
                        }
                    })
                })
                .collect();
            async move {
                for task in tasks {
                    task.await.unwrap();
                }
            }
        };
        // Every worker has hashed at least once after the first round.
        flood(1).await;
        let (warm, _) = memory_mib();
        let rounds = 2000 / TASKS;
        flood(rounds).await;
        let (after, peak) = memory_mib();
        println!(
            "{} workers; after warm-up VmRSS {warm} MiB; after {} verifications \
             VmRSS {after} MiB, VmHWM {peak} MiB",
            hasher.workers(),
            rounds * TASKS
        );
        // Each worker keeps one arena of ~19 MiB; nothing else should stay behind.
        assert!(after <= warm + 8, "grew from {warm} to {after} MiB");
    }

    #[tokio::test]
    async fn out_of_range_parameters_fail_new_hashes_but_stored_ones_verify() {
        let bad = HashParams {
            memory_kib: 1,
            ..CHEAP
        };
        let hasher = Hasher::new(bad, 1, FOREVER);
        assert!(matches!(
            hasher.hash(password()).await,
            Err(AccountsError::Hash(_))
        ));
        let stored = careid_policy::hash_password(&password(), &CHEAP).unwrap();
        assert!(hasher.verify(password(), stored.clone()).await.unwrap());
        assert!(hasher.is_reused(password(), vec![stored]).await.unwrap());
        assert!(hasher.dummy_verify(password()).await.is_ok());
    }
}
