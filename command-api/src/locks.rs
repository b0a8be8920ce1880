//! One lock per stream, made when a command first needs it and gone when nobody holds or waits
//! for it: commands of this process on the same stream take turns instead of deciding on the
//! same version and then conflicting (the loser's retry would read the stream again and append
//! again). Unlike a fixed set of striped locks, two streams never share one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

#[derive(Default)]
pub struct StreamLocks {
    locks: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
}

/// A held stream lock; dropping it lets the next command on the stream go.
pub struct StreamGuard<'a> {
    locks: &'a StreamLocks,
    stream_id: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl StreamLocks {
    /// The stream's lock if nobody holds it (`Ok`), else what to wait on for it (`Err`).
    pub fn try_lock(&self, stream_id: &str) -> Result<StreamGuard<'_>, WaitFor<'_>> {
        let lock = self.lock_of(stream_id);
        let stream_id = stream_id.to_owned();
        match Arc::clone(&lock).try_lock_owned() {
            Ok(guard) => Ok(StreamGuard { locks: self, stream_id, guard: Some(guard) }),
            Err(_) => Err(WaitFor { locks: self, stream_id, lock }),
        }
    }

    fn lock_of(&self, stream_id: &str) -> Arc<AsyncMutex<()>> {
        // A poisoned map only ever held complete entries: go on with it.
        let mut locks = self.locks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(locks.entry(stream_id.to_owned()).or_default())
    }

    /// Streams with a lock right now (held or waited for).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.locks.lock().map_or(0, |locks| locks.len())
    }
}

/// A stream lock somebody else holds.
pub struct WaitFor<'a> {
    locks: &'a StreamLocks,
    stream_id: String,
    lock: Arc<AsyncMutex<()>>,
}

impl<'a> WaitFor<'a> {
    pub async fn lock(self) -> StreamGuard<'a> {
        let guard = self.lock.lock_owned().await;
        StreamGuard { locks: self.locks, stream_id: self.stream_id, guard: Some(guard) }
    }
}

impl Drop for StreamGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut locks = self.locks.locks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Only the map still has it: nobody holds it and nobody waits for it.
        if locks.get(&self.stream_id).is_some_and(|lock| Arc::strong_count(lock) == 1) {
            locks.remove(&self.stream_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_command_on_a_stream_waits_for_the_first_and_the_lock_is_then_gone() {
        let locks = StreamLocks::default();
        let Ok(first) = locks.try_lock("user-1") else { panic!("nobody holds user-1 yet") };
        let Ok(other) = locks.try_lock("user-2") else { panic!("another stream is not held") };
        let Err(wait) = locks.try_lock("user-1") else { panic!("user-1 is held") };
        // A waiter that gives up leaves the lock as it was.
        drop(wait);
        drop(other);
        assert_eq!(locks.len(), 1, "user-2 is free and forgotten; user-1 is still held");
        let Err(wait) = locks.try_lock("user-1") else { panic!("user-1 is still held") };
        let (second, ()) = tokio::join!(wait.lock(), async { drop(first) });
        assert_eq!(locks.len(), 1, "user-1 is held by the second command");
        drop(second);
        assert_eq!(locks.len(), 0, "no lock is kept for a stream nobody uses");
    }
}
