//! Charts as inline SVG, drawn here: the price of an auction over time, and bids per hour.

use std::fmt::Write as _;

use maud::{Markup, html};
use salvo::http::{HeaderValue, StatusCode};
use salvo::oapi::endpoint;
use salvo::prelude::*;

use crate::{app, model, refuse};

const W: f64 = 640.0;
const H: f64 = 220.0;
const PAD: f64 = 36.0;

/// A line chart of `(x, y)` points with labelled ends; `title` is read by screen readers.
pub fn line(title: &str, points: &[(f64, f64)], x_label: (&str, &str), y_unit: &str) -> Markup {
    if points.is_empty() {
        return html! {
            svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {W} {H}")) role="img" class="chart" {
                title { (title) }
                text x="20" y="110" { "No data yet" }
            }
        };
    }
    let (x0, x1) = points
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let y1 = points.iter().fold(0.0f64, |m, p| m.max(p.1)).max(1e-12);
    let sx = |x: f64| PAD + (x - x0) / (x1 - x0).max(1e-9) * (W - 2.0 * PAD);
    let sy = |y: f64| H - PAD - y / y1 * (H - 2.0 * PAD);
    let mut path = String::new();
    for (x, y) in points {
        let _ = write!(path, "{:.1},{:.1} ", sx(*x), sy(*y));
    }
    let (bottom, right) = (H - PAD, W - PAD);
    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {W} {H}")) role="img" class="chart" {
            title { (title) }
            line x1=(PAD) y1=(bottom) x2=(right) y2=(bottom) stroke="#888" {}
            line x1=(PAD) y1=(PAD) x2=(PAD) y2=(bottom) stroke="#888" {}
            polyline fill="none" stroke="#c8a24a" stroke-width="2" points=(path) {}
            text x=(PAD) y=(H - 10.0) font-size="11" { (x_label.0) }
            text x=(right) y=(H - 10.0) font-size="11" text-anchor="end" { (x_label.1) }
            text x="4" y=(PAD - 8.0) font-size="11" { (trim(y1)) " " (y_unit) }
        }
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn svg(res: &mut Response, body: Markup) {
    res.headers_mut()
        .insert("content-type", HeaderValue::from_static("image/svg+xml"));
    let _ = res.write_body(body.into_string());
}

/// The SVG of an auction's price over time.
pub fn price_svg(r: &store::Reader, auction: u64) -> model::Result<Markup> {
    let series = model::price_series(r, auction)?;
    let points: Vec<(f64, f64)> = series.iter().map(|(t, p)| (t.0 as f64, *p)).collect();
    let label =
        |i: Option<&(store::Timestamp, f64)>| i.map_or_else(String::new, |(t, _)| t.rfc3339());
    Ok(line(
        &format!("Price of auction {auction} over time"),
        &points,
        (&label(series.first()), &label(series.last())),
        "ETH",
    ))
}

/// The SVG of accepted bids per hour.
pub fn bids_svg(r: &store::Reader) -> model::Result<Markup> {
    let hours = model::bids_per_hour(r)?;
    let points: Vec<(f64, f64)> = hours
        .iter()
        .map(|(h, n)| (*h as f64, f64::from(*n)))
        .collect();
    let label = |h: Option<&(i64, u32)>| {
        h.and_then(|(h, _)| chrono::DateTime::from_timestamp(h * 3600, 0))
            .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:00Z").to_string())
    };
    Ok(line(
        "Accepted bids per hour",
        &points,
        (&label(hours.first()), &label(hours.last())),
        "bids",
    ))
}

/// An auction's price over time (SVG).
#[endpoint(tags("reports"), parameters(("id" = u64, Path, description = "auction id")))]
pub async fn price(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let Some(id) = req
        .param::<String>("id")
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return refuse(
            res,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the id is a number",
        );
    };
    match app
        .store
        .read()
        .map_err(|e| e.to_string())
        .and_then(|r| price_svg(&r, id))
    {
        Ok(s) => svg(res, s),
        Err(e) => refuse(res, StatusCode::INTERNAL_SERVER_ERROR, "storage", e),
    }
}

/// Accepted bids per hour (SVG).
#[endpoint(tags("reports"))]
pub async fn bids_per_hour(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    match app
        .store
        .read()
        .map_err(|e| e.to_string())
        .and_then(|r| bids_svg(&r))
    {
        Ok(s) => svg(res, s),
        Err(e) => refuse(res, StatusCode::INTERNAL_SERVER_ERROR, "storage", e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_draw_their_points() {
        let s = line("t<", &[(0.0, 1.0), (10.0, 2.0)], ("a", "b"), "ETH").into_string();
        assert!(s.contains("<polyline") && s.contains("t&lt;"));
        assert!(s.contains("36.0,"), "{s}");
        assert!(
            line("t", &[], ("", ""), "")
                .into_string()
                .contains("No data")
        );
    }
}
