//! Small SVG charts for the report: lines over time and stacked bars, with axes and a legend.

use std::fmt::Write;

const W: f64 = 720.0;
const H: f64 = 300.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 160.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 40.0;
const COLOURS: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn frame(out: &mut String, title: &str, x_label: &str, y_label: &str, y_max: f64) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(out, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = write!(
        out,
        r#"<text x="{LEFT}" y="18" font-size="13" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let (x0, y0, x1) = (LEFT, H - BOTTOM, W - RIGHT);
    let _ = write!(
        out,
        r#"<line x1="{x0}" y1="{TOP}" x2="{x0}" y2="{y0}" stroke="black"/><line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="black"/>"#
    );
    for i in 0..=4 {
        let v = y_max * i as f64 / 4.0;
        let y = y0 - (y0 - TOP) * i as f64 / 4.0;
        let _ = write!(
            out,
            r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            x0 - 4.0,
            y + 4.0,
            short(v)
        );
    }
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
        (x0 + x1) / 2.0,
        H - 8.0,
        escape(x_label)
    );
    let _ = write!(
        out,
        r#"<text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">{}</text>"#,
        (TOP + y0) / 2.0,
        (TOP + y0) / 2.0,
        escape(y_label)
    );
}

fn short(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 100.0 || v == 0.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn legend(out: &mut String, names: &[&str]) {
    for (i, name) in names.iter().enumerate() {
        let y = TOP + 14.0 * i as f64;
        let _ = write!(
            out,
            r#"<rect x="{}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{}" y="{:.1}">{}</text>"#,
            W - RIGHT + 10.0,
            y,
            COLOURS[i % COLOURS.len()],
            W - RIGHT + 24.0,
            y + 9.0,
            escape(name)
        );
    }
}

/// Lines (or dots, when `dots`) of `(x, y)` series.
pub fn lines(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(&str, Vec<(f64, f64)>)],
    dots: bool,
) -> String {
    let all = series.iter().flat_map(|s| s.1.iter());
    let (mut xmin, mut xmax, mut ymax) = (f64::MAX, f64::MIN, 0.0f64);
    for (x, y) in all {
        xmin = xmin.min(*x);
        xmax = xmax.max(*x);
        ymax = ymax.max(*y);
    }
    if xmin > xmax {
        (xmin, xmax) = (0.0, 1.0);
    }
    if xmax == xmin {
        xmax = xmin + 1.0;
    }
    let ymax = if ymax <= 0.0 { 1.0 } else { ymax * 1.1 };
    let mut out = String::new();
    frame(&mut out, title, x_label, y_label, ymax);
    let (x0, y0, x1) = (LEFT, H - BOTTOM, W - RIGHT);
    for i in 0..=4 {
        let v = xmin + (xmax - xmin) * i as f64 / 4.0;
        let x = x0 + (x1 - x0) * i as f64 / 4.0;
        let _ = write!(
            out,
            r#"<text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"#,
            y0 + 14.0,
            short(v)
        );
    }
    let px = |x: f64| x0 + (x - xmin) / (xmax - xmin) * (x1 - x0);
    let py = |y: f64| y0 - y / ymax * (y0 - TOP);
    for (i, (_, points)) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        if dots {
            for (x, y) in points {
                let _ = write!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="1.8" fill="{colour}"/>"#,
                    px(*x),
                    py(*y)
                );
            }
        } else if !points.is_empty() {
            let path: Vec<String> = points
                .iter()
                .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
                .collect();
            let _ = write!(
                out,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>"#,
                path.join(" ")
            );
        }
    }
    legend(&mut out, &series.iter().map(|s| s.0).collect::<Vec<_>>());
    out.push_str("</svg>\n");
    out
}

/// Stacked bars: one bar per category, one layer per series.
pub fn bars(
    title: &str,
    x_label: &str,
    y_label: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
) -> String {
    let totals: Vec<f64> = (0..categories.len())
        .map(|c| {
            series
                .iter()
                .map(|s| s.1.get(c).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let ymax = totals.iter().copied().fold(0.0, f64::max);
    let ymax = if ymax <= 0.0 { 1.0 } else { ymax * 1.1 };
    let mut out = String::new();
    frame(&mut out, title, x_label, y_label, ymax);
    let (x0, y0, x1) = (LEFT, H - BOTTOM, W - RIGHT);
    let n = categories.len().max(1) as f64;
    let slot = (x1 - x0) / n;
    for (c, name) in categories.iter().enumerate() {
        let x = x0 + slot * c as f64 + slot * 0.15;
        let mut base = 0.0;
        for (i, (_, values)) in series.iter().enumerate() {
            let v = values.get(c).copied().unwrap_or(0.0);
            if v > 0.0 {
                let h = v / ymax * (y0 - TOP);
                let y = y0 - base - h;
                let _ = write!(
                    out,
                    r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}" fill="{}"/>"#,
                    slot * 0.7,
                    COLOURS[i % COLOURS.len()]
                );
                base += h;
            }
        }
        if categories.len() <= 40 || c % 5 == 0 {
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
                x + slot * 0.35,
                y0 + 14.0,
                escape(name)
            );
        }
    }
    legend(
        &mut out,
        &series.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
    );
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_well_formed_svg_with_their_labels() {
        let l = lines(
            "RSS",
            "s",
            "MiB",
            &[("rss", vec![(0.0, 1.0), (1.0, 2.0)])],
            false,
        );
        assert!(l.starts_with("<svg") && l.trim_end().ends_with("</svg>"));
        assert!(l.contains("polyline") && l.contains(">rss<"));
        let b = bars(
            "Bids",
            "day",
            "bids",
            &["1".into(), "2".into()],
            &[("a<b".into(), vec![1.0, 2.0])],
        );
        assert_eq!(b.matches("<rect").count(), 1 + 2 + 1);
        assert!(b.contains("a&lt;b"));
        // Empty series still draw a frame.
        assert!(lines("x", "", "", &[], true).contains("</svg>"));
    }
}
