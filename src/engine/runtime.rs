//! The generator's own runtime: the users run on threads named
//! [`health::THREAD_NAME`](super::health), so the generator's CPU can be told apart from an
//! embedded target's, with a probe measuring how late its timers fire.

use std::sync::Arc;

use super::EngineError;
use super::health::{self, LagProbe, Monitor};

/// The generator's runtime. Dropped without waiting for its tasks (users cut off at a hard
/// stop are abandoned), which is also allowed inside an async context.
pub(super) struct GenRuntime {
    rt: Option<tokio::runtime::Runtime>,
    probe: tokio::task::JoinHandle<()>,
}

impl GenRuntime {
    /// A runtime of `threads` threads (`None`: one per available core) with its timer
    /// probe running, and the monitor that samples both.
    pub fn start(threads: Option<usize>) -> Result<(GenRuntime, Monitor), EngineError> {
        let cores = threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores)
            .thread_name(health::THREAD_NAME)
            .enable_all()
            .build()
            .map_err(|e| EngineError::Config(format!("starting the generator's runtime: {e}")))?;
        let probe = Arc::new(LagProbe::default());
        let task = rt.spawn(probe.clone().run());
        let gen_rt = GenRuntime {
            rt: Some(rt),
            probe: task,
        };
        Ok((gen_rt, Monitor::new(probe, cores)))
    }

    pub fn spawn<F>(&self, f: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.rt {
            Some(rt) => rt.spawn(f),
            None => tokio::spawn(f),
        }
    }

    /// The run is over: stop probing.
    pub fn stop_probe(&self) {
        self.probe.abort();
    }
}

impl Drop for GenRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// 1,000 users need 1,000+ sockets: raise the soft open-files limit to the hard limit.
pub fn raise_nofile_limit() {
    #[cfg(unix)]
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 && l.rlim_cur < l.rlim_max {
            l.rlim_cur = l.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}
