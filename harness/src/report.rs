//! A load-test run's report: Markdown plus three SVG plots.
//!
//! Contract: [`write_report`] creates `dir` if it is missing and writes into it
//! `report.md` (exactly the text [`markdown`] returns), `latency.svg` (p50, p99 and max
//! event → change latency per second of the run, skipping seconds without changes),
//! `cdf.svg` (the whole run's latency distribution, log-scaled latency axis) and
//! `throughput.svg` (events sent and changes observed per second). It returns the path of
//! `report.md`. Empty inputs (no seconds, no CDF points) give plots captioned "no data",
//! never a panic; I/O and plotting failures are returned as [`std::io::Error`]s.
//!
//! The Markdown has the title, the command in a code block, the start time, the verdict in
//! bold, the latency percentiles (and the driver's request latency when measured), the
//! counters, the three plots, a per-second table when the run lasted at most
//! [`MAX_TABLE_SECONDS`] seconds, and the notes. Latencies are shown in milliseconds below
//! one second and in seconds from one second on.
//!
//! ```
//! use segstream_harness::latency::Percentiles;
//! use segstream_harness::report::{markdown, Report};
//! let report = Report {
//!     title: "segstream load test".into(),
//!     command: "segstream-harness --rate 2000".into(),
//!     started_at: "2024-01-01T00:00:00Z".into(),
//!     verdict: "PASS: p99 1.23 s ≤ SLA 5 s".into(),
//!     pass: true,
//!     latency: Percentiles { count: 10, p50_ms: 800.0, p90_ms: 1000.0, p99_ms: 1230.0, p999_ms: 1230.0, max_ms: 1230.0 },
//!     ingest: None,
//!     cdf: Vec::new(),
//!     seconds: Vec::new(),
//!     partners: Vec::new(),
//!     counters: vec![("sent".into(), "10".into())],
//!     notes: vec!["All changes were correct.".into()],
//! };
//! let text = markdown(&report);
//! assert!(text.contains("**PASS: p99 1.23 s ≤ SLA 5 s**") && text.contains("| 800 ms |"));
//! ```

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::latency::Percentiles;

/// Runs longer than this many seconds get no per-second table (the plots show them).
pub const MAX_TABLE_SECONDS: usize = 120;

/// Size of each plot (pixels).
const PLOT_SIZE: (u32, u32) = (900, 450);

/// One second of the run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SecondStats {
    /// Seconds since the run started.
    pub second: u64,
    /// Events sent in this second.
    pub sent: u64,
    /// Segment changes observed in this second.
    pub changes: u64,
    /// Event → change latency of the changes observed in this second (count 0: none).
    pub latency: Percentiles,
}

/// One partner's event → receipt latency.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PartnerLatency {
    /// The partner.
    pub name: String,
    /// Over the whole run.
    pub overall: Percentiles,
    /// Per second of the run.
    pub per_second: Vec<(u64, Percentiles)>,
}

/// A run's report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// The report's title, e.g. "segstream load test: http → kafka, 2000 events/s".
    pub title: String,
    /// The command line that produced it.
    pub command: String,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// The verdict, e.g. "PASS: p99 1.23 s ≤ SLA 5 s".
    pub verdict: String,
    /// Whether the run passed.
    pub pass: bool,
    /// Event → change latency over the whole run.
    pub latency: Percentiles,
    /// The driver's request latency, if measured.
    pub ingest: Option<Percentiles>,
    /// `(latency ms, quantile)` points, as from [`crate::latency::LatencyRecorder::cdf`].
    pub cdf: Vec<(f64, f64)>,
    /// Each second of the run, in order.
    pub seconds: Vec<SecondStats>,
    /// Per partner: event → partner-receipt latency over the run and per second.
    pub partners: Vec<PartnerLatency>,
    /// `name → value` rows shown as a table (sent, accepted, rejected, errors, …).
    pub counters: Vec<(String, String)>,
    /// Paragraphs appended at the end (correctness check, what limited the rate, …).
    pub notes: Vec<String>,
}

/// Writes `report.md`, `latency.svg`, `cdf.svg`, `throughput.svg` and `seconds.csv`
/// (each second's counts and latency, for tools such as `scripts/soak`) into `dir`
/// (created if missing); returns the path of report.md.
pub fn write_report(dir: &Path, report: &Report) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("seconds.csv"), seconds_csv(&report.seconds))?;
    std::fs::write(dir.join("latency.svg"), latency_svg(&report.seconds)?)?;
    std::fs::write(dir.join("cdf.svg"), cdf_svg(&report.cdf)?)?;
    std::fs::write(dir.join("throughput.svg"), throughput_svg(&report.seconds)?)?;
    if !report.partners.is_empty() {
        std::fs::write(dir.join("partners.svg"), partners_svg(&report.partners)?)?;
    }
    let path = dir.join("report.md");
    std::fs::write(&path, markdown(report))?;
    Ok(path)
}

/// Each second as `second,sent,changes,latency_count,p50_ms,p99_ms,max_ms`, with a header.
pub fn seconds_csv(seconds: &[SecondStats]) -> String {
    let mut csv = String::from("second,sent,changes,latency_count,p50_ms,p99_ms,max_ms\n");
    for s in seconds {
        let l = &s.latency;
        // Writing into a String cannot fail.
        let _ = writeln!(
            csv,
            "{},{},{},{},{:.0},{:.0},{:.0}",
            s.second, s.sent, s.changes, l.count, l.p50_ms, l.p99_ms, l.max_ms
        );
    }
    csv
}

/// The Markdown text alone (what report.md holds), for tests and for printing.
pub fn markdown(report: &Report) -> String {
    let mut md = String::new();
    // Writing into a String cannot fail.
    let _ = write_markdown(&mut md, report);
    md
}

fn write_markdown(md: &mut String, report: &Report) -> std::fmt::Result {
    writeln!(md, "# {}\n", one_line(&report.title))?;

    let fence = "`".repeat(longest_backtick_run(&report.command).max(2) + 1);
    writeln!(md, "{fence}sh\n{}\n{fence}\n", report.command.trim_end())?;
    writeln!(md, "Started at {}.\n", one_line(&report.started_at))?;

    let verdict = one_line(&report.verdict);
    let upper = verdict.to_uppercase();
    let prefix = match (upper.starts_with("PASS") || upper.starts_with("FAIL"), report.pass) {
        (true, _) => "",
        (false, true) => "PASS: ",
        (false, false) => "FAIL: ",
    };
    writeln!(md, "**{prefix}{verdict}**\n")?;

    writeln!(md, "## Latency\n")?;
    writeln!(md, "| latency | count | p50 | p90 | p99 | p99.9 | max |")?;
    writeln!(md, "|---|--:|--:|--:|--:|--:|--:|")?;
    percentile_row(md, "event → change", &report.latency)?;
    if let Some(ingest) = &report.ingest {
        percentile_row(md, "ingest request", ingest)?;
    }
    for partner in &report.partners {
        percentile_row(md, &format!("event → partner {}", cell(&partner.name)), &partner.overall)?;
    }
    writeln!(md)?;

    writeln!(md, "## Counters\n")?;
    if report.counters.is_empty() {
        writeln!(md, "No counters were recorded.\n")?;
    } else {
        writeln!(md, "| counter | value |")?;
        writeln!(md, "|---|--:|")?;
        for (name, value) in &report.counters {
            writeln!(md, "| {} | {} |", cell(name), cell(value))?;
        }
        writeln!(md)?;
    }

    writeln!(md, "## Plots\n")?;
    writeln!(md, "![Event → change latency per second: p50, p99 and max](latency.svg)\n")?;
    writeln!(md, "![Event → change latency distribution (CDF)](cdf.svg)\n")?;
    writeln!(md, "![Events sent and changes observed per second](throughput.svg)\n")?;
    if !report.partners.is_empty() {
        writeln!(
            md,
            "![Event → partner receipt latency per second: p99 of each partner](partners.svg)\n"
        )?;
    }

    writeln!(md, "## Per second\n")?;
    if report.seconds.is_empty() {
        writeln!(md, "No per-second data was recorded.\n")?;
    } else if report.seconds.len() > MAX_TABLE_SECONDS {
        writeln!(
            md,
            "The run lasted {} seconds, too many for a table; the plots above show each second.\n",
            report.seconds.len()
        )?;
    } else {
        writeln!(md, "| second | sent | changes | p50 | p99 | max |")?;
        writeln!(md, "|--:|--:|--:|--:|--:|--:|")?;
        for s in &report.seconds {
            let (p50, p99, max) = if s.latency.count == 0 {
                ("–".to_string(), "–".to_string(), "–".to_string())
            } else {
                (
                    format_ms(s.latency.p50_ms),
                    format_ms(s.latency.p99_ms),
                    format_ms(s.latency.max_ms),
                )
            };
            writeln!(md, "| {} | {} | {} | {p50} | {p99} | {max} |", s.second, s.sent, s.changes)?;
        }
        writeln!(md)?;
    }

    if !report.notes.is_empty() {
        writeln!(md, "## Notes\n")?;
        for note in &report.notes {
            writeln!(md, "{}\n", note.trim())?;
        }
    }
    Ok(())
}

fn percentile_row(md: &mut String, name: &str, p: &Percentiles) -> std::fmt::Result {
    if p.count == 0 {
        return writeln!(md, "| {name} | 0 | – | – | – | – | – |");
    }
    writeln!(
        md,
        "| {name} | {} | {} | {} | {} | {} | {} |",
        p.count,
        format_ms(p.p50_ms),
        format_ms(p.p90_ms),
        format_ms(p.p99_ms),
        format_ms(p.p999_ms),
        format_ms(p.max_ms)
    )
}

/// A latency for people: "850 ms", "1.23 s", "12.3 s", "125 s".
fn format_ms(ms: f64) -> String {
    if !ms.is_finite() {
        return format!("{ms} ms");
    }
    if ms.abs() < 1000.0 {
        format!("{} ms", format_number(ms))
    } else {
        format!("{} s", format_number(ms / 1000.0))
    }
}

/// `v` with three significant digits (whole numbers as they are), without trailing zeros.
fn format_number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let decimals = (2 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// `text` on one line (Markdown headings and table cells cannot span lines).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` as a table cell.
fn cell(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// How latencies are plotted: divided by `divisor`, in `unit`.
struct LatencyUnit {
    divisor: f64,
    unit: &'static str,
}

impl LatencyUnit {
    /// Seconds when the largest latency is at least one second, else milliseconds.
    fn for_max(max_ms: f64) -> LatencyUnit {
        if max_ms >= 1000.0 {
            LatencyUnit {
                divisor: 1000.0,
                unit: "s",
            }
        } else {
            LatencyUnit { divisor: 1.0, unit: "ms" }
        }
    }
}

/// One line of a plot.
struct Series {
    label: String,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

const BLUE_: RGBColor = RGBColor(31, 119, 180);
const ORANGE_: RGBColor = RGBColor(255, 127, 14);
const RED_: RGBColor = RGBColor(214, 39, 40);
const GREEN_: RGBColor = RGBColor(44, 160, 44);

fn plot_error<E: std::fmt::Display>(error: E) -> io::Error {
    io::Error::other(format!("plotting failed: {error}"))
}

fn latency_svg(seconds: &[SecondStats]) -> io::Result<String> {
    let with_changes: Vec<&SecondStats> = seconds.iter().filter(|s| s.latency.count > 0).collect();
    let max_ms = with_changes
        .iter()
        .map(|s| s.latency.max_ms)
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let unit = LatencyUnit::for_max(max_ms);
    let line = |label: &str, color, value: fn(&Percentiles) -> f64| Series {
        label: label.to_string(),
        color,
        points: with_changes
            .iter()
            .map(|s| (s.second as f64, value(&s.latency) / unit.divisor))
            .collect(),
    };
    let series = [
        line("max", RED_, |p| p.max_ms),
        line("p99", ORANGE_, |p| p.p99_ms),
        line("p50", BLUE_, |p| p.p50_ms),
    ];
    let caption = "Event → change latency per second";
    let y_desc = format!("latency ({})", unit.unit);
    linear_chart(caption, "second of run", &y_desc, &series)
}

fn partners_svg(partners: &[PartnerLatency]) -> io::Result<String> {
    const COLORS: [RGBColor; 4] = [BLUE_, ORANGE_, GREEN_, RED_];
    let max_ms = partners
        .iter()
        .flat_map(|p| p.per_second.iter().map(|(_, l)| l.p99_ms))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let unit = LatencyUnit::for_max(max_ms);
    let series: Vec<Series> = partners
        .iter()
        .enumerate()
        .map(|(i, p)| Series {
            label: format!("{} p99", p.name),
            color: COLORS[i % COLORS.len()],
            points: p
                .per_second
                .iter()
                .filter(|(_, l)| l.count > 0)
                .map(|(second, l)| (*second as f64, l.p99_ms / unit.divisor))
                .collect(),
        })
        .collect();
    let y_desc = format!("latency ({})", unit.unit);
    linear_chart("Event → partner receipt latency per second", "second of run", &y_desc, &series)
}

fn throughput_svg(seconds: &[SecondStats]) -> io::Result<String> {
    let series = [
        Series {
            label: "events sent".into(),
            color: BLUE_,
            points: seconds.iter().map(|s| (s.second as f64, s.sent as f64)).collect(),
        },
        Series {
            label: "changes observed".into(),
            color: GREEN_,
            points: seconds.iter().map(|s| (s.second as f64, s.changes as f64)).collect(),
        },
    ];
    linear_chart("Throughput per second", "second of run", "per second", &series)
}

fn cdf_svg(cdf: &[(f64, f64)]) -> io::Result<String> {
    let points: Vec<(f64, f64)> = cdf
        .iter()
        .copied()
        .filter(|(ms, q)| ms.is_finite() && *ms > 0.0 && q.is_finite())
        .collect();
    let caption = "Event → change latency distribution";
    if points.is_empty() {
        return empty_chart(caption, "latency", "share of changes ≤ latency");
    }
    let (min_ms, max_ms) = points
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), (ms, _)| (lo.min(*ms), hi.max(*ms)));
    let unit = LatencyUnit::for_max(max_ms);
    // The x axis is log10(latency in `unit`) on a linear scale, labelled with latencies at
    // 1-2-5 steps (every step from 1 to 9 when the range is narrow).
    let shift = unit.divisor.log10();
    let (lo, hi) = (min_ms.log10() - shift - 0.1, max_ms.log10() - shift + 0.1);
    let ticks = |multipliers: &[f64]| -> Vec<f64> {
        (lo.floor() as i32..=hi.ceil() as i32)
            .flat_map(|decade| multipliers.iter().map(move |m| m.log10() + f64::from(decade)))
            .filter(|v| (lo..=hi).contains(v))
            .collect()
    };
    let every = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
    let mut bold = ticks(&[1.0, 2.0, 5.0]);
    if bold.len() < 4 {
        bold = ticks(&every);
    }
    let x_axis = Ticked {
        inner: (lo..hi).into(),
        bold,
        light: ticks(&every),
    };
    let series = [Series {
        label: "share ≤ latency".into(),
        color: BLUE_,
        points: points.iter().map(|(ms, q)| (ms.log10() - shift, q.clamp(0.0, 1.0))).collect(),
    }];
    let x_desc = format!("latency ({}, log scale)", unit.unit);
    let x_format = |v: &f64| format_number(10f64.powf(*v));
    render(|root| {
        let chart = chart_builder(root, caption)
            .build_cartesian_2d(x_axis, 0.0..1.0)
            .map_err(plot_error)?;
        draw(chart, (&x_desc, &x_format), "share of changes ≤ latency", &series, false)
    })
}

/// A linear f64 axis with the given key points (labelled ones `bold`, grid lines `light`).
struct Ticked {
    inner: RangedCoordf64,
    bold: Vec<f64>,
    light: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.bold.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// A chart with linear axes starting at zero, fitted to `series`.
fn linear_chart(caption: &str, x_desc: &str, y_desc: &str, series: &[Series]) -> io::Result<String> {
    let all = || {
        series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|(x, y)| x.is_finite() && y.is_finite())
    };
    if all().next().is_none() {
        return empty_chart(caption, x_desc, y_desc);
    }
    let x_max = all().map(|p| p.0).fold(0.0, f64::max);
    let y_max = all().map(|p| p.1).fold(0.0, f64::max);
    let x_range = 0.0..(x_max + 1.0);
    // Headroom above the data for the legend.
    let y_range = 0.0..if y_max > 0.0 { y_max * 1.25 } else { 1.0 };
    render(|root| {
        let chart = chart_builder(root, caption)
            .build_cartesian_2d(x_range, y_range)
            .map_err(plot_error)?;
        draw(chart, (x_desc, &|v: &f64| format_number(*v)), y_desc, series, true)
    })
}

/// A chart with axes and a "no data" caption.
fn empty_chart(caption: &str, x_desc: &str, y_desc: &str) -> io::Result<String> {
    let caption = format!("{caption} (no data)");
    render(|root| {
        let chart = chart_builder(root, &caption)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)
            .map_err(plot_error)?;
        draw(chart, (x_desc, &|v: &f64| format_number(*v)), y_desc, &[], false)
    })
}

/// The SVG text `paint` draws on a white [`PLOT_SIZE`] canvas.
fn render<F>(paint: F) -> io::Result<String>
where
    F: for<'a, 'b> FnOnce(&'a DrawingArea<SVGBackend<'b>, Shift>) -> io::Result<()>,
{
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, PLOT_SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        paint(&root)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

fn chart_builder<'a, 'b>(root: &'a DrawingArea<SVGBackend<'b>, Shift>, caption: &str) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(caption, ("sans-serif", 26))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(70);
    builder
}

/// Draws the mesh (x axis described and labelled by `x_axis`), `series` (when `points_too`,
/// with a dot on every point) and, for more than one series, their legend.
fn draw<'a, 'b: 'a, X, Y>(
    mut chart: ChartContext<'a, SVGBackend<'b>, Cartesian2d<X, Y>>,
    (x_desc, x_format): (&str, &dyn Fn(&f64) -> String),
    y_desc: &str,
    series: &[Series],
    points_too: bool,
) -> io::Result<()>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let y_format = |v: &f64| format_number(*v);
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .axis_desc_style(("sans-serif", 18))
        .label_style(("sans-serif", 16))
        .x_label_formatter(x_format)
        .y_label_formatter(&y_format)
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(plot_error)?;
    for s in series.iter().filter(|s| !s.points.is_empty()) {
        let style = ShapeStyle::from(&s.color).stroke_width(2);
        let points = s.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite());
        let line = LineSeries::new(points, style).point_size(if points_too || s.points.len() == 1 { 2 } else { 0 });
        let color = s.color;
        chart
            .draw_series(line)
            .map_err(plot_error)?
            .label(s.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], ShapeStyle::from(&color).stroke_width(2)));
    }
    if series.iter().filter(|s| !s.points.is_empty()).count() > 1 {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 16))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(plot_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::LatencyRecorder;

    fn percentiles(p50_ms: f64) -> Percentiles {
        Percentiles {
            count: 100,
            p50_ms,
            p90_ms: p50_ms * 1.5,
            p99_ms: p50_ms * 2.0,
            p999_ms: p50_ms * 2.5,
            max_ms: p50_ms * 3.0,
        }
    }

    fn sample(seconds: u64) -> Report {
        let mut recorder = LatencyRecorder::default();
        let mut stats = Vec::new();
        for second in 0..seconds {
            for i in 0..50 {
                recorder.record(second, 200 + second * 10 + i * 20);
            }
        }
        for (second, latency) in recorder.per_second() {
            stats.push(SecondStats {
                second,
                sent: 2000 - second,
                changes: 50,
                latency,
            });
        }
        // A second without changes.
        stats.push(SecondStats {
            second: seconds,
            sent: 2000,
            changes: 0,
            latency: Percentiles::default(),
        });
        Report {
            title: "segstream load test: http → kafka, 2000 events/s".into(),
            command: "segstream-harness run --rate 2000 --duration 60s".into(),
            started_at: "2024-05-01T12:00:00Z".into(),
            verdict: "PASS: p99 1.23 s ≤ SLA 5 s".into(),
            pass: true,
            latency: recorder.overall(),
            ingest: Some(percentiles(4.0)),
            cdf: recorder.cdf(),
            seconds: stats,
            partners: Vec::new(),
            counters: vec![("sent".into(), "120000".into()), ("rejected | late".into(), "0".into())],
            notes: vec![
                "Every change matched the reference model.".into(),
                "The driver limited the rate.".into(),
            ],
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        std::env::temp_dir().join(format!("segstream-report-{name}-{}-{nanos}", std::process::id()))
    }

    #[test]
    fn markdown_has_the_verdict_percentiles_counters_plots_and_notes() {
        let latency = Percentiles {
            count: 100,
            p50_ms: 850.0,
            p90_ms: 1280.0,
            p99_ms: 1700.0,
            p999_ms: 2130.0,
            max_ms: 2550.0,
        };
        let report = Report { latency, ..sample(3) };
        let md = markdown(&report);
        assert!(md.starts_with("# segstream load test: http → kafka, 2000 events/s\n"), "{md}");
        assert!(md.contains("```sh\nsegstream-harness run --rate 2000 --duration 60s\n```"), "{md}");
        assert!(md.contains("2024-05-01T12:00:00Z"));
        assert!(md.contains("**PASS: p99 1.23 s ≤ SLA 5 s**"));
        assert!(
            md.contains("| event → change | 100 | 850 ms | 1.28 s | 1.7 s | 2.13 s | 2.55 s |"),
            "{md}"
        );
        assert!(md.contains("| ingest request | 100 | 4 ms | 6 ms | 8 ms | 10 ms | 12 ms |"), "{md}");
        assert!(md.contains("| sent | 120000 |"));
        assert!(md.contains("| rejected \\| late | 0 |"));
        for plot in ["(latency.svg)", "(cdf.svg)", "(throughput.svg)"] {
            assert!(md.contains(plot), "{plot}");
        }
        assert!(md.contains("| 3 | 2000 | 0 | – | – | – |"), "{md}");
        assert!(md.contains("Every change matched the reference model.\n\nThe driver limited the rate.\n"));
    }

    #[test]
    fn long_runs_get_no_per_second_table_and_failures_say_so() {
        let report = Report {
            verdict: "p99 7.5 s > SLA 5 s".into(),
            pass: false,
            ingest: None,
            ..sample(200)
        };
        let md = markdown(&report);
        assert!(md.contains("**FAIL: p99 7.5 s > SLA 5 s**"));
        assert!(md.contains("the plots above show each second"));
        assert!(!md.contains("| second |"));
        assert!(!md.contains("ingest request"));
    }

    #[test]
    fn backticks_in_the_command_get_a_longer_fence() {
        let md = markdown(&Report {
            command: "echo ```x```".into(),
            ..Report::default()
        });
        assert!(md.contains("````sh\necho ```x```\n````\n"), "{md}");
    }

    #[test]
    fn numbers_are_formatted_for_people() {
        assert_eq!(format_ms(1.0), "1 ms");
        assert_eq!(format_ms(999.0), "999 ms");
        assert_eq!(format_ms(1000.0), "1 s");
        assert_eq!(format_ms(1234.0), "1.23 s");
        assert_eq!(format_ms(12_345.0), "12.3 s");
        assert_eq!(format_ms(125_000.0), "125 s");
        assert_eq!(format_number(0.25), "0.25");
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(2500.0), "2500");
    }

    #[test]
    fn write_report_writes_the_markdown_and_three_plots() -> io::Result<()> {
        let dir = temp_dir("full");
        let report = sample(30);
        let path = write_report(&dir, &report)?;
        assert_eq!(path, dir.join("report.md"));
        assert_eq!(std::fs::read_to_string(&path)?, markdown(&report));
        for name in ["latency.svg", "cdf.svg", "throughput.svg"] {
            let svg = std::fs::read_to_string(dir.join(name))?;
            assert!(
                svg.starts_with("<svg") || svg.starts_with("<?xml"),
                "{name}: {}",
                &svg[..svg.len().min(80)]
            );
            assert!(svg.contains("<path") || svg.contains("<polyline"), "{name} has no line");
            assert!(!svg.contains("no data"), "{name}");
        }
        // The latencies reach 1.47 s, so the plots show seconds.
        assert!(std::fs::read_to_string(dir.join("latency.svg"))?.contains("latency (s)"));
        assert!(std::fs::read_to_string(dir.join("cdf.svg"))?.contains("latency (s, log scale)"));
        std::fs::remove_dir_all(&dir)
    }

    #[test]
    fn empty_and_degenerate_data_do_not_panic() -> io::Result<()> {
        let dir = temp_dir("empty").join("nested");
        write_report(&dir, &Report::default())?;
        for name in ["report.md", "latency.svg", "cdf.svg", "throughput.svg"] {
            assert!(dir.join(name).is_file(), "{name}");
        }
        for name in ["latency.svg", "cdf.svg", "throughput.svg"] {
            assert!(std::fs::read_to_string(dir.join(name))?.contains("no data"), "{name}");
        }
        // One second with changes and one without (millisecond latencies), one CDF point.
        let report = Report {
            cdf: vec![(2500.0, 1.0)],
            seconds: vec![
                SecondStats {
                    second: 0,
                    sent: 0,
                    changes: 0,
                    latency: Percentiles::default(),
                },
                SecondStats {
                    second: 1,
                    sent: 5,
                    changes: 1,
                    latency: percentiles(100.0),
                },
            ],
            ..Report::default()
        };
        write_report(&dir, &report)?;
        assert!(std::fs::read_to_string(dir.join("latency.svg"))?.contains("latency (ms)"));
        assert!(std::fs::read_to_string(dir.join("cdf.svg"))?.contains("<polyline"));
        // Non-finite and non-positive values are skipped.
        let report = Report {
            cdf: vec![(0.0, 0.5), (f64::NAN, 0.7), (f64::INFINITY, 1.0)],
            ..Report::default()
        };
        write_report(&dir, &report)?;
        assert!(std::fs::read_to_string(dir.join("cdf.svg"))?.contains("no data"));
        std::fs::remove_dir_all(dir.parent().unwrap_or(&dir))
    }

    #[test]
    fn seconds_are_written_as_csv_rows() {
        let second = SecondStats {
            second: 3,
            sent: 2_000,
            changes: 41,
            latency: Percentiles {
                count: 40,
                p50_ms: 1_100.4,
                p99_ms: 1_290.0,
                max_ms: 1_302.0,
                ..Percentiles::default()
            },
        };
        let csv = seconds_csv(&[second]);
        assert_eq!(
            csv,
            "second,sent,changes,latency_count,p50_ms,p99_ms,max_ms\n3,2000,41,40,1100,1290,1302\n"
        );
    }
}
