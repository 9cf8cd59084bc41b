//! Charts as inline SVG, drawn on the server with plotters' SVG backend.
//!
//! plotters draws the axes, the grid and each series' line; this module then adds what
//! it cannot: one marker per point with an SVG `<title>` (the value and the time, shown
//! on hover, and read by screen readers), a dashed threshold line and marked dates,
//! each with its own `<title>`. Colours are placeholders that the stylesheet maps to
//! the light or dark theme (`.chart [stroke="#0000A1"]`), so one SVG serves both and
//! no `style` attribute is written (the pages' CSP forbids inline styles). The chart
//! is decoration beside a table of the same numbers: the pages always print the table.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use plotters::prelude::*;

use super::format::escape;

/// A chart's size in SVG units; the stylesheet scales it to the page's width, so a
/// small chart (a card on the overview) has larger text for its width.
#[derive(Clone, Copy, Debug)]
pub enum Size {
    Wide,
    Small,
}

impl Size {
    fn pixels(self) -> (u32, u32) {
        match self {
            Size::Wide => (640, 240),
            Size::Small => (400, 170),
        }
    }
}

/// The placeholder colours, in series order; `style.css` gives each its real colour.
const SERIES_COLOURS: [RGBColor; 3] = [
    RGBColor(0x00, 0x00, 0xA1),
    RGBColor(0x00, 0x00, 0xA2),
    RGBColor(0x00, 0x00, 0xA3),
];
const AXIS_COLOUR: RGBColor = RGBColor(0x00, 0x00, 0xB1);
const GRID_COLOUR: RGBColor = RGBColor(0x00, 0x00, 0xB2);

/// One point: when, how much, and what its hover title says.
#[derive(Clone, Debug)]
pub struct Point {
    pub at: DateTime<Utc>,
    pub value: i64,
    pub title: String,
}

/// One line of the chart.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub points: Vec<Point>,
}

/// A horizontal line across the chart (a payment threshold).
#[derive(Clone, Debug)]
pub struct Threshold {
    pub value: i64,
    pub title: String,
}

/// A vertical mark at a date (a debit).
#[derive(Clone, Debug)]
pub struct Mark {
    pub at: DateTime<Utc>,
    pub title: String,
}

/// What to draw.
pub struct Chart<'a> {
    /// What the chart shows, for its `aria-label`.
    pub label: String,
    pub size: Size,
    pub series: Vec<Series>,
    pub threshold: Option<Threshold>,
    pub marks: Vec<Mark>,
    /// How a value is written on the vertical axis.
    pub format_value: &'a dyn Fn(i64) -> String,
    /// How a time is written on the horizontal axis.
    pub format_time: &'a dyn Fn(DateTime<Utc>) -> String,
}

/// The chart as an `<svg>` element, or `None` when there is nothing to draw.
pub fn render(chart: &Chart<'_>) -> Option<String> {
    let points = || chart.series.iter().flat_map(|s| s.points.iter());
    // The time axis spans the points and the marks: a debit due after the last check
    // is drawn, not cut off.
    let times = || {
        points()
            .map(|p| p.at.timestamp())
            .chain(chart.marks.iter().map(|m| m.at.timestamp()))
    };
    points().next()?;
    let first = times().min()?;
    let last = times().max()?;
    let values = points()
        .map(|p| p.value)
        .chain(chart.threshold.as_ref().map(|t| t.value));
    let low = values.clone().min()?.min(0);
    let high = values.max()?.max(low + 1);
    let pad = ((high - low) / 10).max(1);
    let (x0, x1) = match first == last {
        true => (first - 3600, last + 3600),
        false => (first, last),
    };
    let (y0, y1) = (low - if low < 0 { pad } else { 0 }, high + pad);

    let mut svg = String::new();
    let mut overlay = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, chart.size.pixels()).into_drawing_area();
        let mut built = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(24)
            .y_label_area_size(78)
            .build_cartesian_2d(x0..x1, y0..y1)
            .ok()?;
        let label_style = ("sans-serif", 12).into_font().color(&AXIS_COLOUR);
        let format_x = |x: &i64| {
            DateTime::from_timestamp(*x, 0).map_or_else(String::new, |t| (chart.format_time)(t))
        };
        let format_y = |y: &i64| (chart.format_value)(*y);
        built
            .configure_mesh()
            .x_labels(5)
            .y_labels(5)
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID_COLOUR.stroke_width(1))
            .axis_style(AXIS_COLOUR.stroke_width(1))
            .x_label_style(label_style.clone())
            .y_label_style(label_style)
            .x_label_formatter(&format_x)
            .y_label_formatter(&format_y)
            .draw()
            .ok()?;
        for (index, series) in chart.series.iter().enumerate() {
            let colour = SERIES_COLOURS[index % SERIES_COLOURS.len()];
            let line = series.points.iter().map(|p| (p.at.timestamp(), p.value));
            built
                .draw_series(LineSeries::new(line, colour.stroke_width(2)))
                .ok()?;
            for point in &series.points {
                let (cx, cy) = built.backend_coord(&(point.at.timestamp(), point.value));
                let _ = write!(
                    overlay,
                    r#"<circle class="point s{index}" cx="{cx}" cy="{cy}" r="4"><title>{}</title></circle>"#,
                    escape(&point.title)
                );
            }
        }
        if let Some(threshold) = &chart.threshold {
            let (left, y) = built.backend_coord(&(x0, threshold.value));
            let (right, _) = built.backend_coord(&(x1, threshold.value));
            let _ = write!(
                overlay,
                r#"<line class="threshold" x1="{left}" y1="{y}" x2="{right}" y2="{y}"><title>{}</title></line>"#,
                escape(&threshold.title)
            );
        }
        for mark in &chart.marks {
            let (x, top) = built.backend_coord(&(mark.at.timestamp(), y1));
            let (_, bottom) = built.backend_coord(&(mark.at.timestamp(), y0));
            let _ = write!(
                overlay,
                r#"<line class="mark" x1="{x}" y1="{top}" x2="{x}" y2="{bottom}"><title>{}</title></line>"#,
                escape(&mark.title)
            );
        }
        root.present().ok()?;
    }
    let legend: Vec<String> = chart
        .series
        .iter()
        .enumerate()
        .map(|(index, s)| format!(r#"<tspan class="s{index}">■ {}</tspan>"#, escape(&s.name)))
        .collect();
    let overlay = format!(
        r#"<text class="legend" x="100" y="14">{}</text>{overlay}</svg>"#,
        legend.join(" ")
    );
    let svg = svg.replacen(
        "<svg ",
        &format!(
            r#"<svg class="chart" role="img" aria-label="{}" "#,
            escape(&chart.label)
        ),
        1,
    );
    Some(svg.replacen("</svg>", &overlay, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-03-{day:02}T12:00:00Z"))
            .unwrap()
            .with_timezone(&Utc)
    }

    fn chart(series: Vec<Series>) -> Option<String> {
        render(&Chart {
            label: "balances <&>".into(),
            size: Size::Wide,
            series,
            threshold: Some(Threshold {
                value: 5000,
                title: "payment $50.00".into(),
            }),
            marks: vec![Mark {
                at: at(3),
                title: "debit".into(),
            }],
            format_value: &|v| format!("{v}c"),
            format_time: &|t| t.format("%b %d").to_string(),
        })
    }

    #[test]
    fn every_point_has_a_title_and_the_series_a_line() {
        let points = (1..=4)
            .map(|day| Point {
                at: at(day),
                value: i64::from(day) * 1000,
                title: format!("day {day}: {}c", day * 1000),
            })
            .collect();
        let svg = chart(vec![Series {
            name: "balance".into(),
            points,
        }])
        .unwrap();
        assert!(
            svg.starts_with(
                r#"<svg class="chart" role="img" aria-label="balances &lt;&amp;&gt;" "#
            )
        );
        assert_eq!(svg.matches("<circle class=\"point s0\"").count(), 4);
        assert!(svg.contains("<title>day 3: 3000c</title>"));
        assert!(svg.contains("<polyline"), "{svg}");
        assert!(
            svg.contains(r#"class="threshold""#) && svg.contains("<title>payment $50.00</title>")
        );
        assert!(svg.contains(r#"class="mark""#));
        assert!(
            !svg.contains("style="),
            "the CSP forbids inline styles: {svg}"
        );
        assert!(svg.trim_end().ends_with("</svg>"));
    }

    /// The number after `attribute="` at its first place after `after`.
    fn number_after(svg: &str, after: &str, attribute: &str) -> f64 {
        let from = svg.find(after).unwrap();
        let rest = &svg[from..];
        let start = rest.find(&format!("{attribute}=\"")).unwrap() + attribute.len() + 2;
        let end = start + rest[start..].find('"').unwrap();
        rest[start..end].parse().unwrap()
    }

    #[test]
    fn a_mark_after_the_last_point_widens_the_time_axis() {
        let points = (1..=2)
            .map(|day| Point {
                at: at(day),
                value: 1000,
                title: format!("day {day}"),
            })
            .collect();
        let svg = render(&Chart {
            label: "balances".into(),
            size: Size::Wide,
            series: vec![Series {
                name: "balance".into(),
                points,
            }],
            threshold: None,
            marks: vec![Mark {
                at: at(5),
                title: "debit due on the 5th".into(),
            }],
            format_value: &|v| format!("{v}c"),
            format_time: &|t| t.format("%b %d").to_string(),
        })
        .unwrap();
        let first = number_after(&svg, r#"<circle class="point s0""#, "cx");
        let second = number_after(&svg, "<title>day 1</title>", "cx");
        let mark = number_after(&svg, r#"<line class="mark""#, "x1");
        let width = f64::from(Size::Wide.pixels().0);
        assert!(first < second && second < mark, "{first} {second} {mark}");
        // Four days of axis: the points take the first quarter, the mark its end.
        assert!(
            mark - first > 3.0 * (second - first) - 2.0,
            "{first} {second} {mark}"
        );
        assert!(mark <= width, "{mark} beyond {width}");
    }

    #[test]
    fn nothing_to_draw_is_no_chart_and_one_point_is_a_chart() {
        assert!(chart(Vec::new()).is_none());
        let one = Series {
            name: "x".into(),
            points: vec![Point {
                at: at(1),
                value: -5,
                title: "t".into(),
            }],
        };
        assert!(chart(vec![one]).unwrap().contains("<title>t</title>"));
    }
}
