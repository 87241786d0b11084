//! The growth cases as a chart: cost per request against record size and against
//! the number of pending flashes, as an SVG that BENCHMARKS.md shows.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::Case;

type Error = Box<dyn std::error::Error>;

/// One line of a chart: its label, its points (x, µs), its colour.
type Series<'a> = (&'a str, Vec<(f64, f64)>, RGBColor);

/// Draws `growth` (read and change per record size, cookie then `MemoryStore`, then
/// push and take per flash count, in the bench's order) to `path`.
pub fn growth(
    path: &str,
    sizes: &[(usize, usize)],
    flashes: &[usize],
    growth: &[Case],
) -> Result<(), Error> {
    let root = SVGBackend::new(path, (960, 400)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(560);
    let micros = |i: usize| growth[i].median() / 1000.0;
    let n = sizes.len();
    // The points of one case per size (or count): `first`, then every other case.
    let points = |xs: &[f64], first: usize| -> Vec<(f64, f64)> {
        xs.iter()
            .enumerate()
            .map(|(k, &x)| (x, micros(first + 2 * k)))
            .collect()
    };

    let cookie_sizes: Vec<f64> = sizes.iter().map(|&(c, _)| c as f64).collect();
    let store_sizes: Vec<f64> = sizes.iter().map(|&(_, m)| m as f64).collect();
    panel(
        &left,
        "Cost per request against record size",
        "record size (bytes of JSON)",
        &[
            ("read, signed cookie", points(&cookie_sizes, 0), BLUE),
            (
                "change one key, signed cookie",
                points(&cookie_sizes, 1),
                RED,
            ),
            ("read, MemoryStore", points(&store_sizes, 2 * n), CYAN),
            (
                "change one key, MemoryStore",
                points(&store_sizes, 2 * n + 1),
                MAGENTA,
            ),
        ],
    )?;
    let counts: Vec<f64> = flashes.iter().map(|&c| c as f64).collect();
    panel(
        &right,
        "Against pending flashes",
        "flash messages",
        &[
            ("push n", points(&counts, 4 * n), GREEN),
            ("take n", points(&counts, 4 * n + 1), BLACK),
        ],
    )?;
    root.present()?;
    Ok(())
}

/// One chart on `area`: each series a line with its points marked, and a legend.
fn panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    caption: &str,
    x_desc: &str,
    series: &[Series<'_>],
) -> Result<(), Error> {
    let all = series.iter().flat_map(|(_, points, _)| points);
    let x_max = all.clone().map(|p| p.0).fold(0.0, f64::max) * 1.05;
    let y_max = all.map(|p| p.1).fold(0.0, f64::max) * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("µs per request")
        .draw()?;
    for &(label, ref points, color) in series {
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()?;
    Ok(())
}
