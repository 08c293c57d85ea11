//! The SVG chart: latency p50/p95/p99 per second above (lines), requests and errors per second
//! below (one bar per second), with the run's headline figures on top. Plotters with only its
//! SVG backend: text is left to the browser's fonts, so no font files are needed.

use plotters::prelude::*;

use crate::report::{Report, SecondReport};

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 820;
const HEADER: u32 = 78;
const FONT: &str = "sans-serif";
/// Room above the highest value, so the legend (upper right) does not hide the data.
const HEADROOM: f64 = 1.4;

const P50: RGBColor = RGBColor(31, 119, 180);
const P95: RGBColor = RGBColor(255, 127, 14);
const P99: RGBColor = RGBColor(214, 39, 40);
const RPS: RGBColor = RGBColor(44, 160, 44);
const ERR: RGBColor = RGBColor(200, 30, 30);
const GRID: RGBColor = RGBColor(232, 232, 232);
const TEXT: RGBColor = RGBColor(40, 40, 40);
const MUTED: RGBColor = RGBColor(100, 100, 100);

/// Legend labels of the latency series.
pub const LATENCY_SERIES: [&str; 3] = ["p50", "p95", "p99"];
/// Legend label of the throughput series.
pub const RPS_SERIES: &str = "requests/s";
/// Legend label of the error series.
pub const ERROR_SERIES: &str = "errors/s";

/// Picks one value of a second of the timeline.
type Pick = fn(&SecondReport) -> Option<f64>;

fn err(e: impl std::fmt::Display) -> String {
    format!("drawing the chart: {e}")
}

/// The seconds worth plotting: a trailing sliver of a second (in-flight requests ending just
/// after the deadline) holds too few answers for meaningful percentiles.
fn plotted(report: &Report) -> Vec<&SecondReport> {
    let n = report.timeline.len();
    report
        .timeline
        .iter()
        .enumerate()
        .filter(|(i, s)| n == 1 || *i + 1 < n || s.span_seconds >= 0.5)
        .map(|(_, s)| s)
        .collect()
}

/// Renders the chart of a report as an SVG document.
pub fn render_svg(report: &Report) -> Result<String, String> {
    let seconds = plotted(report);
    let x = |s: &SecondReport| {
        #[allow(clippy::cast_precision_loss)]
        let start = s.second as f64;
        start + s.span_seconds / 2.0
    };
    let x_max = seconds
        .last()
        .map_or(1.0, |s| x(s) + s.span_seconds / 2.0)
        .max(1.0);
    let lat_max = seconds
        .iter()
        .filter_map(|s| s.p99_ms)
        .fold(0.0f64, f64::max)
        .max(0.1)
        * HEADROOM;
    let rps_max = seconds
        .iter()
        .map(|s| s.rps)
        .fold(0.0f64, f64::max)
        .max(1.0)
        * HEADROOM;
    let series = |pick: Pick| -> Vec<(f64, f64)> {
        seconds
            .iter()
            .filter_map(|s| pick(s).map(|v| (x(s), v)))
            .collect()
    };

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (header, body) = root.split_vertically(HEADER);
        let (title, subtitle) = headline(report);
        header
            .draw_text(&title, &(FONT, 24).into_font().color(&TEXT), (24, 14))
            .map_err(err)?;
        header
            .draw_text(&subtitle, &(FONT, 16).into_font().color(&MUTED), (24, 48))
            .map_err(err)?;

        let (top, bottom) = body.split_vertically((HEIGHT - HEADER) * 56 / 100);

        let mut lat = ChartBuilder::on(&top)
            .caption("Latency per second", (FONT, 19).into_font().color(&TEXT))
            .margin_left(16)
            .margin_right(28)
            .margin_top(6)
            .x_label_area_size(42)
            .y_label_area_size(78)
            .build_cartesian_2d(0f64..x_max, 0f64..lat_max)
            .map_err(err)?;
        lat.configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_desc("seconds since start")
            .y_desc("latency (ms)")
            .axis_desc_style((FONT, 15))
            .label_style((FONT, 13))
            .y_label_formatter(&|v| format_tick(*v, lat_max))
            .x_label_formatter(&|v| format_tick(*v, x_max))
            .draw()
            .map_err(err)?;
        let picks: [(&str, RGBColor, Pick); 3] = [
            (LATENCY_SERIES[2], P99, |s| s.p99_ms),
            (LATENCY_SERIES[1], P95, |s| s.p95_ms),
            (LATENCY_SERIES[0], P50, |s| s.p50_ms),
        ];
        for (label, color, pick) in picks {
            lat.draw_series(LineSeries::new(series(pick), color.stroke_width(2)).point_size(2))
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(3))
                });
        }
        lat.configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 14))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.25))
            .draw()
            .map_err(err)?;

        let mut thr = ChartBuilder::on(&bottom)
            .caption("Throughput per second", (FONT, 19).into_font().color(&TEXT))
            .margin_left(16)
            .margin_right(28)
            .margin_top(6)
            .margin_bottom(8)
            .x_label_area_size(42)
            .y_label_area_size(78)
            .build_cartesian_2d(0f64..x_max, 0f64..rps_max)
            .map_err(err)?;
        thr.configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_desc("seconds since start")
            .y_desc("requests per second")
            .axis_desc_style((FONT, 15))
            .label_style((FONT, 13))
            .y_label_formatter(&|v| format_count_tick(*v, rps_max))
            .x_label_formatter(&|v| format_tick(*v, x_max))
            .draw()
            .map_err(err)?;
        // One bar per second of the run (narrower for the last, partial one): honest about
        // what a bucket holds, and visible even for a run shorter than a second.
        let bar = |s: &SecondReport, height: f64, color: ShapeStyle| {
            #[allow(clippy::cast_precision_loss)]
            let left = s.second as f64;
            let gap = s.span_seconds * 0.08;
            Rectangle::new(
                [(left + gap, 0.0), (left + s.span_seconds - gap, height)],
                color,
            )
        };
        thr.draw_series(
            seconds
                .iter()
                .map(|s| bar(s, s.rps, RPS.mix(0.45).filled())),
        )
        .map_err(err)?
        .label(RPS_SERIES)
        .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 22, y + 6)], RPS.mix(0.45).filled()));
        thr.draw_series(
            seconds
                .iter()
                .filter(|s| s.errors > 0)
                .map(|s| bar(s, s.errors_per_second(), ERR.mix(0.85).filled())),
        )
        .map_err(err)?
        .label(ERROR_SERIES)
        .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 22, y + 6)], ERR.mix(0.85).filled()));
        thr.configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 14))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.25))
            .draw()
            .map_err(err)?;

        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// The headline: what ran, and the figures a reader wants first.
fn headline(report: &Report) -> (String, String) {
    let c = &report.config;
    let title = format!(
        "Load test of {}: {} users, {:.1} s, mix {}",
        c.url, c.users, report.elapsed_seconds, c.mix
    );
    let mut subtitle = format!(
        "{} requests, {} req/s, errors {:.2}%",
        group_digits(report.requests),
        group_digits(round_count(report.rps)),
        report.error_rate * 100.0
    );
    if let Some(l) = report.latency_ms {
        subtitle.push_str(&format!(
            ", latency p50 {} ms, p95 {} ms, p99 {} ms",
            format_ms(l.p50),
            format_ms(l.p95),
            format_ms(l.p99)
        ));
    }
    if let Some(rate) = report.cache.as_ref().and_then(|c| c.hit_rate.as_deref()) {
        subtitle.push_str(&format!(", cache hit rate {rate}"));
    }
    (title, subtitle)
}

fn format_ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A tick label with as many decimals as the tick step (about a tenth of the axis) needs.
fn format_tick(v: f64, axis_max: f64) -> String {
    let step = axis_max / 10.0;
    if step >= 1.0 {
        format!("{v:.0}")
    } else if step >= 0.1 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A requests-per-second tick: in thousands (`12.5k`) on an axis that reaches 10,000.
fn format_count_tick(v: f64, axis_max: f64) -> String {
    if axis_max >= 10_000.0 {
        format!("{:.1}k", v / 1_000.0)
    } else {
        format!("{v:.0}")
    }
}

/// `v` rounded to a whole count (negative and NaN give 0).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn round_count(v: f64) -> u64 {
    // `as` saturates; rates are far below u64::MAX anyway.
    v.max(0.0).round() as u64
}

/// `1234567` as `1,234,567`.
fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1_000), "1,000");
        assert_eq!(group_digits(1_234_567), "1,234,567");
        assert_eq!(round_count(22_505.4), 22_505);
        assert_eq!(round_count(f64::NAN), 0);
        assert_eq!(format_count_tick(5_000.0, 40_000.0), "5.0k");
        assert_eq!(format_count_tick(500.0, 600.0), "500");
        assert_eq!(format_tick(2.5, 5.0), "2.5");
        assert_eq!(format_tick(20.0, 350.0), "20");
        assert_eq!(format_ms(0.84), "0.84");
        assert_eq!(format_ms(159.6), "160");
    }
}
