//! segstream-harness: how users load-test segstream before they trust it — realistic
//! traffic, end-to-end latency against the five-second SLA, and reports.
//!
//! Contract: empty for now. The crate exists so the workspace has the layout of
//! `docs/architecture.md`; its contents arrive with the harness issue.
