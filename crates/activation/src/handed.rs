//! What each partner has been handed: the tick of the newest change per (user, segment),
//! so a replay after a crash never hands a partner an older change after a newer one.
//!
//! Why: a batch coalesces a (user, segment)'s changes to the last one, and the older
//! ones count as finished. If the process dies after the newer change reached the
//! partner but before the offsets were committed, the replay re-reads the older change
//! in a batch of its own and would send it *after* the newer one — and a partner that
//! drops the newer one's repeat by its delivery id would keep the wrong state. So before
//! a request goes out, the pipeline [`Handed::record`]s the ticks it carries, and before
//! a batch is sent it drops every change older than what the partner was already handed
//! ([`Handed::latest`]). A change *equal* to it is sent again (same delivery id): it may
//! not have arrived. Recording before sending means a crash between the two drops no
//! change for good: the newer change is itself in the replay.
//!
//! Contract: [`NoHanded`] remembers nothing (the embedded deployment, whose log does not
//! survive the process); the distributed deployment keeps it in Redis
//! (`segstream_redis::partner_state`), through [`HandedFns`].

/// What partners were handed (see the module contract).
pub trait Handed: Send + Sync {
    /// For each `(user, segment)`, the tick of the newest change handed to `partner`.
    fn latest(&self, partner: &str, keys: &[(String, String)]) -> Result<Vec<Option<u64>>, String>;
    /// Records `(user, segment, tick)` as handed to `partner`.
    fn record(&self, partner: &str, changes: &[(String, String, u64)]) -> Result<(), String>;
}

/// Remembers nothing.
pub struct NoHanded;

impl Handed for NoHanded {
    fn latest(&self, _partner: &str, keys: &[(String, String)]) -> Result<Vec<Option<u64>>, String> {
        Ok(vec![None; keys.len()])
    }

    fn record(&self, _partner: &str, _changes: &[(String, String, u64)]) -> Result<(), String> {
        Ok(())
    }
}

/// A store given by two functions (a reader and a writer).
pub struct HandedFns<L, R> {
    /// Reads the latest ticks.
    pub latest: L,
    /// Records ticks.
    pub record: R,
}

impl<L, R> Handed for HandedFns<L, R>
where
    L: Fn(&str, &[(String, String)]) -> Result<Vec<Option<u64>>, String> + Send + Sync,
    R: Fn(&str, &[(String, String, u64)]) -> Result<(), String> + Send + Sync,
{
    fn latest(&self, partner: &str, keys: &[(String, String)]) -> Result<Vec<Option<u64>>, String> {
        (self.latest)(partner, keys)
    }

    fn record(&self, partner: &str, changes: &[(String, String, u64)]) -> Result<(), String> {
        (self.record)(partner, changes)
    }
}

/// An in-memory store (tests, and a single process that restarts its pipelines).
#[derive(Default)]
pub struct MemoryHanded(std::sync::Mutex<std::collections::HashMap<(String, String, String), u64>>);

impl Handed for MemoryHanded {
    fn latest(&self, partner: &str, keys: &[(String, String)]) -> Result<Vec<Option<u64>>, String> {
        let map = self.0.lock().map_err(|_| "poisoned".to_string())?;
        Ok(keys
            .iter()
            .map(|(u, s)| map.get(&(partner.to_string(), u.clone(), s.clone())).copied())
            .collect())
    }

    fn record(&self, partner: &str, changes: &[(String, String, u64)]) -> Result<(), String> {
        let mut map = self.0.lock().map_err(|_| "poisoned".to_string())?;
        for (u, s, tick) in changes {
            let entry = map.entry((partner.to_string(), u.clone(), s.clone())).or_insert(*tick);
            *entry = (*entry).max(*tick);
        }
        Ok(())
    }
}
