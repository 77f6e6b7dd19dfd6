//! The miss-ratio curve: miss ratio against cache size, one line per policy (and Belady), as SVG.
//!
//! The x axis is logarithmic when the capacities span a factor of ten or more, which is how
//! miss-ratio curves are usually read. All capacities of one curve must be in the same unit.

use plotters::prelude::*;

use super::SimError;
use super::report::SimReport;

const WIDTH: u32 = 900;
const HEIGHT: u32 = 560;

/// Render `report` as an SVG document.
pub fn miss_ratio_svg(report: &SimReport) -> Result<String, SimError> {
    let caps = &report.capacities;
    let Some(first) = caps.first() else {
        return Err(SimError::Plot("no capacities to plot".into()));
    };
    let by_bytes = first.capacity.is_bytes();
    if caps.iter().any(|c| c.capacity.is_bytes() != by_bytes) {
        return Err(SimError::Plot(
            "the capacities mix object counts and bytes; plot one unit at a time".into(),
        ));
    }
    // One series per row name, in first-seen order, each point (capacity, miss ratio).
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for c in caps {
        for p in c.policies.iter().chain(&c.belady) {
            let point = (c.capacity.amount() as f64, p.miss_ratio);
            match series.iter_mut().find(|(name, _)| *name == p.policy) {
                Some((_, points)) => points.push(point),
                None => series.push((p.policy.clone(), vec![point])),
            }
        }
    }
    for (_, points) in &mut series {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let xs = caps.iter().map(|c| c.capacity.amount() as f64);
    let (lo, hi) = xs.fold((f64::MAX, 0f64), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let unit = if by_bytes { "bytes" } else { "objects" };
    let caption = format!("miss ratio curve: {}", report.trace.name);
    let mut svg = String::new();
    let result = if hi / lo >= 10.0 {
        draw(
            &mut svg,
            &caption,
            unit,
            (lo * 0.8..hi * 1.25).log_scale(),
            &series,
        )
    } else {
        let pad = ((hi - lo) * 0.1).max(lo * 0.1).max(1.0);
        draw(
            &mut svg,
            &caption,
            unit,
            (lo - pad).max(0.0)..hi + pad,
            &series,
        )
    };
    result.map_err(|e| SimError::Plot(e.to_string()))?;
    Ok(svg)
}

fn draw<X>(
    svg: &mut String,
    caption: &str,
    unit: &str,
    x_range: X,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<(), Box<dyn std::error::Error>>
where
    X: plotters::coord::ranged1d::AsRangedCoord<Value = f64>,
    X::CoordDescType: plotters::coord::ranged1d::ValueFormatter<f64>,
{
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(x_range, 0f64..1f64)?;
    chart
        .configure_mesh()
        .x_desc(format!("cache size ({unit})"))
        .y_desc("miss ratio")
        .x_label_formatter(&|x| format_amount(*x))
        .draw()?;
    for (i, (name, points)) in series.iter().enumerate() {
        let color = if name.starts_with("belady") {
            BLACK.to_rgba()
        } else {
            Palette99::pick(i).to_rgba()
        };
        let style = color.stroke_width(2);
        chart
            .draw_series(LineSeries::new(points.iter().copied(), style))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Axis labels: 1500 → 1.5k, 2097152 → 2.1M.
fn format_amount(x: f64) -> String {
    if x >= 1e9 {
        format!("{:.1}G", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}
