//! Threads pinned to cores of their own for a render ([`crate::TemplateOptions::pin_threads`]).
//!
//! The two-core virtual machine the benchmarks run on has a scheduler that packs the threads
//! of a young process onto one core: in about four runs in ten, `perf sched timehist` showed
//! the caller and the pool thread sharing core 0 for the whole render, in turns of 4 ms, while
//! core 1 stayed idle (the run then took 23–27 ms instead of 16–19). Pinning each to a core of
//! its own removes those runs. It suits a one-shot process; a long-running host shares its
//! cores with other work and leaves it off.

use std::sync::OnceLock;

/// The cores of the pool's threads, decided by the first render that pins, before the pool
/// starts (see [`crate::engine::start_pool`]).
static POOL_CORES: OnceLock<Vec<usize>> = OnceLock::new();

/// The core the pool's thread `index` is pinned to, if pinning was asked for before the pool
/// started.
pub(crate) fn pool_core(index: usize) -> Option<usize> {
    let cores = POOL_CORES.get()?;
    cores.get(index % cores.len().max(1)).copied()
}

/// Pins the current thread to `core`; false where that cannot be done.
pub(crate) fn pin_current_thread(core: usize) -> bool {
    #[cfg(target_os = "linux")]
    {
        let mut set = rustix::thread::CpuSet::new();
        set.set(core);
        rustix::thread::sched_setaffinity(None, &set).is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = core;
        false
    }
}

/// The calling thread pinned to a core the pool's threads do not use, for as long as this
/// lives; its own cores are given back when it is dropped.
pub(crate) struct PinnedCaller {
    #[cfg(target_os = "linux")]
    previous: rustix::thread::CpuSet,
}

impl PinnedCaller {
    /// Pins the caller, and decides the pool's cores if the pool has not started; `None`
    /// when there is a single core to use, when the pool started unpinned (pinning the caller
    /// alone would not keep the threads apart), or off Linux.
    pub(crate) fn new(pool_started: bool) -> Option<PinnedCaller> {
        #[cfg(target_os = "linux")]
        {
            use rustix::thread::{CpuSet, sched_getaffinity, sched_getcpu};
            let previous = sched_getaffinity(None).ok()?;
            let allowed: Vec<usize> = (0..CpuSet::MAX_CPU)
                .filter(|&c| previous.is_set(c))
                .collect();
            if allowed.len() < 2 || (pool_started && POOL_CORES.get().is_none()) {
                return None;
            }
            // The caller keeps the core it is on; the pool takes the others.
            let here = Some(sched_getcpu())
                .filter(|c| allowed.contains(c))
                .unwrap_or(allowed[0]);
            let pool =
                POOL_CORES.get_or_init(|| allowed.iter().copied().filter(|&c| c != here).collect());
            let core = allowed.iter().copied().find(|c| !pool.contains(c))?;
            pin_current_thread(core).then_some(PinnedCaller { previous })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = pool_started;
            None
        }
    }
}

impl Drop for PinnedCaller {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        {
            let _ = rustix::thread::sched_setaffinity(None, &self.previous);
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use rustix::thread::{CpuSet, sched_getaffinity};

    fn cores_of(set: &CpuSet) -> Vec<usize> {
        (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect()
    }

    #[test]
    fn the_caller_is_pinned_apart_from_the_pool_and_gets_its_cores_back() {
        let before = cores_of(&sched_getaffinity(None).unwrap());
        {
            let pinned = PinnedCaller::new(false);
            if before.len() < 2 {
                assert!(pinned.is_none(), "one core: nothing to keep apart");
                return;
            }
            assert!(pinned.is_some());
            let now = cores_of(&sched_getaffinity(None).unwrap());
            assert_eq!(now.len(), 1, "{now:?}");
            let pool: Vec<usize> = (0..before.len() - 1).filter_map(pool_core).collect();
            assert_eq!(pool.len(), before.len() - 1);
            assert!(!pool.contains(&now[0]), "caller {now:?}, pool {pool:?}");
            assert!(pool.iter().all(|c| before.contains(c)));
        }
        assert_eq!(cores_of(&sched_getaffinity(None).unwrap()), before);
    }
}
