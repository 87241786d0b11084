//! The growth cases as a chart: cost per request against record size and against
//! the number of pending flashes, as an SVG that BENCHMARKS.md shows.

use plotters::prelude::*;

use crate::Case;

/// Draws `growth` (read and change per record size, cookie then `MemoryStore`, then
/// push and take per flash count, in the bench's order) to `path`.
pub fn growth(
    path: &str,
    sizes: &[(usize, usize)],
    flashes: &[usize],
    growth: &[Case],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (960, 400)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(560);
    let micros = |i: usize| growth[i].median() / 1000.0;
    let n = sizes.len();

    let cookie_sizes: Vec<f64> = sizes.iter().map(|&(c, _)| c as f64).collect();
    let store_sizes: Vec<f64> = sizes.iter().map(|&(_, m)| m as f64).collect();
    let series = [
        ("read, signed cookie", &cookie_sizes, 0, BLUE),
        ("change one key, signed cookie", &cookie_sizes, 1, RED),
        ("read, MemoryStore", &store_sizes, 2 * n, CYAN),
        (
            "change one key, MemoryStore",
            &store_sizes,
            2 * n + 1,
            MAGENTA,
        ),
    ];
    let top = (0..4 * n).map(micros).fold(0.0, f64::max) * 1.15;
    let max_size = store_sizes.iter().copied().fold(0.0, f64::max) * 1.05;
    let mut chart = ChartBuilder::on(&left)
        .caption("Cost per request against record size", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0..max_size, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("record size (bytes of JSON)")
        .y_desc("µs per request")
        .draw()?;
    for (label, xs, first, color) in series {
        let points: Vec<(f64, f64)> = xs
            .iter()
            .enumerate()
            .map(|(k, &x)| (x, micros(first + 2 * k)))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 3, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()?;

    let base = 4 * n;
    let top = (base..base + 2 * flashes.len())
        .map(micros)
        .fold(0.0, f64::max)
        * 1.15;
    let max_count = flashes.iter().copied().max().unwrap_or(1) as f64 * 1.05;
    let mut chart = ChartBuilder::on(&right)
        .caption("Against pending flashes", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0..max_count, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("flash messages")
        .y_desc("µs per request")
        .draw()?;
    for (label, offset, color) in [("push n", 0, GREEN), ("take n", 1, BLACK)] {
        let points: Vec<(f64, f64)> = flashes
            .iter()
            .enumerate()
            .map(|(k, &count)| (count as f64, micros(base + 2 * k + offset)))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 3, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()?;
    root.present()?;
    Ok(())
}
