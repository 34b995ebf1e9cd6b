//! The durable sink operator: hands complete times to a writer and holds progress
//! until the writer says they are durable.
//!
//! Contract: input updates `(data, tick, diff)` are stashed by tick; once the input
//! frontier has passed a tick, its updates are consolidated (zero diffs removed) and
//! handed to the [`DurableWriter`] in increasing tick order — one call per tick that
//! has updates. The operator keeps a capability for every handed-over tick until the
//! writer's [`DurableWriter::durable_through`] reaches it, so the frontier of its
//! (empty) output stream is the *durable frontier*: every update before it has been
//! written. Timely's progress tracking takes the minimum over all workers and
//! processes, so a probe on the output tells any worker what is durable everywhere.
//! The writer does its I/O elsewhere (a thread); the operator never blocks, and
//! re-activates itself every few milliseconds while writes are outstanding.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use segstream_dataflows::operators::durable_sink::{durable_sink, DurableWriter};
//! use timely::dataflow::operators::{Probe, ToStream};
//!
//! /// Writes at once, into shared memory.
//! struct Memory(Arc<Mutex<Vec<(u64, Vec<(&'static str, isize)>)>>>, Option<u64>);
//! impl DurableWriter<&'static str> for Memory {
//!     fn submit(&mut self, tick: u64, updates: Vec<(&'static str, isize)>) {
//!         self.0.lock().unwrap().push((tick, updates));
//!         self.1 = Some(tick);
//!     }
//!     fn durable_through(&self) -> Option<u64> { self.1 }
//! }
//! let written = Arc::new(Mutex::new(Vec::new()));
//! let sink = Memory(Arc::clone(&written), None);
//! timely::example(move |scope| {
//!     let updates = vec![("a", 5u64, 1isize), ("b", 5, 1), ("a", 5, -1), ("c", 2, 1)].to_stream(scope).container::<Vec<_>>();
//!     durable_sink(updates, sink).probe();
//! });
//! // "a" cancelled out; ticks arrive in order.
//! assert_eq!(*written.lock().unwrap(), vec![(2, vec![("c", 1)]), (5, vec![("b", 1)])]);
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use differential_dataflow::consolidation::consolidate;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;

/// How often the operator checks on outstanding writes.
const RECHECK: Duration = Duration::from_millis(5);

/// Where complete ticks go (see the module contract).
pub trait DurableWriter<D>: 'static {
    /// Takes the consolidated updates of one complete tick; calls come in increasing tick order.
    fn submit(&mut self, tick: u64, updates: Vec<(D, isize)>);
    /// The latest submitted tick such that it and every earlier one are durable.
    fn durable_through(&self) -> Option<u64>;
}

/// The updates of one tick waiting for the input frontier, with a capability for it.
type Pending<D> = (Capability<u64>, Vec<(D, isize)>);

/// The durable sink (see the module contract).
pub fn durable_sink<'s, D, W>(updates: StreamVec<'s, u64, (D, u64, isize)>, mut writer: W) -> StreamVec<'s, u64, ()>
where
    D: Ord + Clone + 'static,
    W: DurableWriter<D>,
{
    let scope = updates.scope();
    updates.unary_frontier::<CapacityContainerBuilder<Vec<()>>, _, _, _>(Pipeline, "DurableSink", move |_capability, info| {
        let activator = scope.activator_for(info.address);
        let mut stash: BTreeMap<u64, Pending<D>> = BTreeMap::new();
        let mut outstanding: BTreeMap<u64, Capability<u64>> = BTreeMap::new();
        move |(input, frontier), output| {
            let port = output.output_index();
            input.for_each(|capability, data| {
                for (datum, tick, diff) in data.drain(..) {
                    stash
                        .entry(tick)
                        .or_insert_with(|| (capability.delayed(&tick, port), Vec::new()))
                        .1
                        .push((datum, diff));
                }
            });
            while let Some(entry) = stash.first_entry() {
                if frontier.less_equal(entry.key()) {
                    break;
                }
                let tick = *entry.key();
                let (capability, mut batch) = entry.remove();
                consolidate(&mut batch);
                if !batch.is_empty() {
                    writer.submit(tick, batch);
                    outstanding.insert(tick, capability);
                }
            }
            if let Some(durable) = writer.durable_through() {
                outstanding.retain(|tick, _| *tick > durable);
            }
            if !outstanding.is_empty() {
                activator.activate_after(RECHECK);
            }
        }
    })
}
