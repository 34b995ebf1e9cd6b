//! The send schedule: how many events are due by each instant of a run (open loop).
//!
//! Contract: a [`Schedule`] is a rate shape — `constant:R`, `ramp:A..B` (linear from A to
//! B events/s over the run) or `step:A+S/P` (A events/s, S more every P seconds) — and a
//! duration. [`Schedule::due_by`] is the number of events whose intended send instant is
//! at or before `t` seconds into the run; [`Schedule::instant_of`] is the intended
//! instant of the `n`-th event (0-based). The driver sends what is due whatever the
//! system's answers, and latency is measured from the intended instant, not from when
//! a busy sender got round to it: a stalled system therefore shows its stall in the
//! latency instead of hiding it by slowing the load (no coordinated omission).
//!
//! ```
//! use segstream_harness::schedule::Schedule;
//! let s = Schedule::parse("ramp:0..100", 10.0).unwrap();
//! assert_eq!(s.due_by(10.0), 500); // the area under the ramp
//! assert!((s.instant_of(124) - 5.0).abs() < 0.01); // the 125th event is due at 5 s
//! ```

/// How the rate changes over a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    /// `R` events/s throughout.
    Constant(f64),
    /// From `from` to `to` events/s, linearly over the run.
    Ramp {
        /// Rate at the start.
        from: f64,
        /// Rate at the end.
        to: f64,
    },
    /// `from` events/s, `step` more every `every_s` seconds.
    Step {
        /// Rate at the start.
        from: f64,
        /// Added at each step.
        step: f64,
        /// Seconds between steps.
        every_s: f64,
    },
}

/// A rate shape over a duration (see the module contract).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    /// The shape.
    pub shape: Shape,
    /// Length of the run, seconds.
    pub duration_s: f64,
}

fn number(text: &str, what: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("{what}: expected a non-negative number, got {text:?}")),
    }
}

impl Schedule {
    /// Parses `R` or `constant:R`, `ramp:A..B`, `step:A+S/P` (P in seconds, e.g. `10` or `10s`).
    pub fn parse(text: &str, duration_s: f64) -> Result<Schedule, String> {
        let (kind, spec) = text.split_once(':').unwrap_or(("constant", text));
        let shape = match kind {
            "constant" => Shape::Constant(number(spec, "rate")?),
            "ramp" => {
                let (from, to) = spec.split_once("..").ok_or("ramp: expected ramp:FROM..TO")?;
                Shape::Ramp {
                    from: number(from, "ramp start")?,
                    to: number(to, "ramp end")?,
                }
            }
            "step" => {
                let (from, rest) = spec.split_once('+').ok_or("step: expected step:FROM+STEP/PERIOD")?;
                let (step, every) = rest.split_once('/').ok_or("step: expected step:FROM+STEP/PERIOD")?;
                let every_s = number(every.trim_end_matches('s'), "step period")?;
                if every_s <= 0.0 {
                    return Err("step: the period must be longer than zero".into());
                }
                Shape::Step {
                    from: number(from, "step start")?,
                    step: number(step, "step size")?,
                    every_s,
                }
            }
            other => return Err(format!("unknown rate shape {other:?} (constant, ramp, step)")),
        };
        Ok(Schedule { shape, duration_s })
    }

    /// The rate at `t` seconds (events/s).
    pub fn rate_at(&self, t: f64) -> f64 {
        match self.shape {
            Shape::Constant(r) => r,
            Shape::Ramp { from, to } => from + (to - from) * (t / self.duration_s.max(1e-9)).clamp(0.0, 1.0),
            Shape::Step { from, step, every_s } => from + step * (t / every_s).floor().max(0.0),
        }
    }

    /// Events intended by `t` seconds (the integral of the rate), at most the run's total.
    pub fn due_by(&self, t: f64) -> u64 {
        let t = t.clamp(0.0, self.duration_s);
        let area = match self.shape {
            Shape::Constant(r) => r * t,
            Shape::Ramp { from, to } => from * t + (to - from) * t * t / (2.0 * self.duration_s.max(1e-9)),
            Shape::Step { from, step, every_s } => {
                let whole = (t / every_s).floor();
                // Steps completed: from·t plus step·every·(0 + 1 + … + (whole−1)) plus the partial step.
                from * t + step * every_s * whole * (whole - 1.0).max(0.0) / 2.0 + step * whole * (t - whole * every_s)
            }
        };
        (area + 1e-9).floor() as u64
    }

    /// Every event of the run.
    pub fn total(&self) -> u64 {
        self.due_by(self.duration_s)
    }

    /// The intended instant (seconds) of event `n` (0-based): the first `t` with `due_by(t) > n`.
    pub fn instant_of(&self, n: u64) -> f64 {
        let (mut low, mut high) = (0.0, self.duration_s);
        for _ in 0..40 {
            let mid = (low + high) / 2.0;
            if self.due_by(mid) > n {
                high = mid;
            } else {
                low = mid;
            }
        }
        high
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_parse_and_integrate() {
        let constant = Schedule::parse("2000", 30.0).unwrap();
        assert_eq!((constant.due_by(1.5), constant.total()), (3_000, 60_000));
        assert_eq!(Schedule::parse("constant:2000", 30.0).unwrap(), constant);
        let step = Schedule::parse("step:100+100/10s", 30.0).unwrap();
        assert_eq!(step.rate_at(25.0), 300.0);
        assert_eq!(step.due_by(10.0), 1_000);
        assert_eq!(step.due_by(15.0), 2_000);
        assert_eq!(step.total(), 1_000 + 2_000 + 3_000);
        let ramp = Schedule::parse("ramp:100..300", 10.0).unwrap();
        assert_eq!(ramp.total(), 2_000);
        assert_eq!(ramp.rate_at(5.0), 200.0);
        for bad in ["ramp:5", "step:1+2", "step:1+2/0", "wave:3", "-4", "constant:x"] {
            assert!(Schedule::parse(bad, 10.0).is_err(), "{bad}");
        }
    }

    #[test]
    fn intended_instants_follow_the_schedule_in_order() {
        let s = Schedule::parse("step:10+10/1", 5.0).unwrap();
        let instants: Vec<f64> = (0..s.total()).map(|n| s.instant_of(n)).collect();
        assert!(instants.windows(2).all(|w| w[0] <= w[1]));
        assert!((instants[9] - 1.0).abs() < 1e-6, "the 10th event at 1 s: {}", instants[9]);
        assert!((instants[10] - 1.05).abs() < 1e-6, "then 20/s: {}", instants[10]);
        for (n, t) in instants.iter().enumerate() {
            assert!(s.due_by(*t) > n as u64);
        }
    }
}
