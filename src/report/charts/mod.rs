//! The charts of a run, drawn with plotters: each chart is one type implementing [`Chart`]
//! (one file per chart family), drawn once into SVG (inline in `report.html`, and a file)
//! and once into PNG (a file, for CI artifacts). The only module that uses plotters; size,
//! palette, fonts and the shared axis helpers live here.
//!
//! Text in the PNGs is rasterised by ab_glyph from an embedded TTF, so no system font,
//! fontconfig or freetype is needed to build or to run.
//! `DejaVuSans.ttf` is DejaVu Sans (Bitstream Vera licence, DejaVu changes public domain:
//! free to use and redistribute, <https://dejavu-fonts.github.io/License.html>).

pub mod bottleneck;
pub mod capacity;
pub mod endpoints;
pub mod errors;
pub mod latency;
pub mod outages;
pub mod overlay;
pub mod spectrum;
pub mod throughput;

use std::sync::OnceLock;

use plotters::chart::MeshStyle;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::ReportError;
use super::text::fmt_us;
use crate::metrics::{RunResult, TargetOutcome, Unit, Verdict};

/// PNG size in pixels, and the SVG viewBox.
pub const WIDTH: u32 = 1000;
pub const HEIGHT: u32 = 500;

/// The one font family every chart uses (registered with the embedded TTF).
pub const FONT: &str = "sans-serif";
static FONT_TTF: &[u8] = include_bytes!("DejaVuSans.ttf");

/// Palette (colour-blind friendly, after Okabe and Ito).
pub const BLUE: RGBColor = RGBColor(0, 114, 178);
pub const ORANGE: RGBColor = RGBColor(230, 159, 0);
pub const VERMILION: RGBColor = RGBColor(213, 94, 0);
pub const GREEN: RGBColor = RGBColor(0, 158, 115);
pub const SKY: RGBColor = RGBColor(86, 180, 233);
pub const PURPLE: RGBColor = RGBColor(204, 121, 167);
pub const GREY: RGBColor = RGBColor(110, 110, 110);
pub const BLACK_ISH: RGBColor = RGBColor(40, 40, 40);
pub const TARGET: RGBColor = RGBColor(190, 0, 0);
pub const RAMP: RGBColor = RGBColor(225, 225, 225);
/// A target line stretches an axis to at most this many times the data's maximum; one
/// further out is named in the legend as off the chart.
pub const TARGET_STRETCH: f64 = 3.0;
/// Colours for one series per endpoint, in order.
pub const SERIES: [RGBColor; 6] = [BLUE, ORANGE, GREEN, VERMILION, SKY, PURPLE];

/// One chart of a run, drawn on any plotters backend.
pub trait Chart {
    /// File stem (`latency` -> `latency.svg`, `latency.png`).
    const NAME: &'static str;
    /// Title drawn on the chart and used as the SVG `<title>`.
    fn title(&self) -> String;
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB>;
}

pub type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A chart drawn into both formats.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// File stem.
    pub name: &'static str,
    pub title: String,
    /// SVG document with a `<title>`, `WIDTH` x `HEIGHT` viewBox.
    pub svg: String,
    /// PNG file bytes, `WIDTH` x `HEIGHT`, RGB.
    pub png: Vec<u8>,
}

/// Every chart of the run, in report order.
pub fn render_all(result: &RunResult, verdict: &Verdict) -> Result<Vec<Rendered>, ReportError> {
    Ok(vec![
        render(&latency::LatencyChart::new(result, verdict))?,
        render(&throughput::ThroughputChart::new(result))?,
        render(&errors::ErrorsChart::new(result))?,
        render(&spectrum::SpectrumChart::new(result))?,
        render(&endpoints::EndpointsChart::new(result, verdict))?,
    ])
}

/// Draw `chart` as SVG and PNG.
pub fn render<C: Chart>(chart: &C) -> Result<Rendered, ReportError> {
    register_font()?;
    let title = chart.title();
    let svg = {
        let mut s = String::new();
        {
            let root = SVGBackend::with_string(&mut s, (WIDTH, HEIGHT)).into_drawing_area();
            draw_on(chart, &root).map_err(chart_err::<C>)?;
        }
        with_title(&s, &title)
    };
    let mut rgb = vec![0u8; WIDTH as usize * HEIGHT as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        draw_on(chart, &root).map_err(chart_err::<C>)?;
    }
    let png = encode_png(&rgb).map_err(|e| ReportError::Png {
        chart: C::NAME,
        detail: e.to_string(),
    })?;
    Ok(Rendered {
        name: C::NAME,
        title,
        svg,
        png,
    })
}

fn draw_on<C: Chart, DB: DrawingBackend>(
    chart: &C,
    root: &DrawingArea<DB, Shift>,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    chart.draw(root)?;
    root.present()
}

fn chart_err<C: Chart>(e: impl std::fmt::Display) -> ReportError {
    ReportError::Chart {
        chart: C::NAME,
        detail: e.to_string(),
    }
}

/// Register the embedded font once per process (every later call sees the first outcome).
fn register_font() -> Result<(), ReportError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, FONT_TTF).is_ok());
    if ok {
        Ok(())
    } else {
        Err(ReportError::Chart {
            chart: "any",
            detail: "the embedded DejaVuSans.ttf could not be loaded".into(),
        })
    }
}

/// Put a `<title>` (for screen readers and tooltips) right after the opening `<svg ...>`.
fn with_title(svg: &str, title: &str) -> String {
    let t = format!("<title>{}</title>\n", super::escape_xml(title));
    match svg.find('>') {
        Some(i) if svg.starts_with("<svg") => {
            let (head, rest) = svg.split_at(i + 1);
            let rest = rest.strip_prefix('\n').unwrap_or(rest);
            format!("{head}\n{t}{rest}")
        }
        _ => svg.to_string(),
    }
}

fn encode_png(rgb: &[u8]) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, WIDTH, HEIGHT);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Best);
        let mut w = enc.write_header()?;
        w.write_image_data(rgb)?;
        w.finish()?;
    }
    Ok(out)
}

// ---- shared style ---------------------------------------------------------------------

pub(crate) fn caption_font() -> TextStyle<'static> {
    (FONT, 22).into_font().color(&BLACK)
}

pub(crate) fn label_font() -> TextStyle<'static> {
    (FONT, 14).into_font().color(&BLACK.mix(0.85))
}

pub(crate) fn small_font() -> TextStyle<'static> {
    (FONT, 13).into_font().color(&BLACK.mix(0.8))
}

/// Draw the title and a centred "no data" (a run with nothing to show still gets a chart).
pub(crate) fn no_data<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    why: &str,
) -> DrawResult<DB> {
    let area = root.margin(12, 0, 0, 0).titled(title, caption_font())?;
    let (w, h) = area.dim_in_pixel();
    let center = |s: TextStyle<'static>| {
        s.pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Center,
        ))
    };
    area.draw(&Rectangle::new(
        [(20, 10), (w as i32 - 20, h as i32 - 20)],
        GREY.mix(0.4).stroke_width(1),
    ))?;
    area.draw(&Text::new(
        "no data",
        (w as i32 / 2, h as i32 / 2 - 14),
        center((FONT, 28).into_font().color(&GREY)),
    ))?;
    area.draw(&Text::new(
        why.to_string(),
        (w as i32 / 2, h as i32 / 2 + 18),
        center(label_font()),
    ))
}

/// Legend box style shared by every chart.
pub(crate) fn legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    pos: SeriesLabelPosition,
) -> DrawResult<DB> {
    chart
        .configure_series_labels()
        .position(pos)
        .margin(10)
        .label_font(small_font())
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
}

/// A chart builder with the shared margins: 48 px of x labels, `y_label_px` of y labels, and
/// `caption` drawn on top when given.
pub(crate) fn chart_builder<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: Option<&str>,
    y_label_px: u32,
) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(area);
    b.margin(12)
        .margin_right(24)
        .x_label_area_size(48)
        .y_label_area_size(y_label_px);
    if let Some(c) = caption {
        b.caption(c, caption_font());
    }
    b
}

/// Draw a mesh in the style every chart shares (fonts, light and bold grid lines).
pub(crate) fn draw_mesh<X, Y, DB>(mesh: &mut MeshStyle<'_, '_, X, Y, DB>) -> DrawResult<DB>
where
    X: Ranged + ValueFormatter<X::ValueType>,
    Y: Ranged + ValueFormatter<Y::ValueType>,
    DB: DrawingBackend,
{
    mesh.label_style(label_font())
        .axis_desc_style(label_font())
        .light_line_style(BLACK.mix(0.04))
        .bold_line_style(BLACK.mix(0.1))
        .draw()
}

/// Axes of a horizontal bar chart: milliseconds (`x_desc`) across `0..x_max`, `rows` rows up,
/// and a column for row names of up to `longest` characters (drawn by [`row_names`]).
pub(crate) fn bar_axes<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    x_desc: &str,
    x_max: f64,
    rows: f64,
    longest: usize,
) -> Result<BarChart<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    let name_px = (longest as u32 * 8 + 16).clamp(70, 300);
    let mut chart =
        chart_builder(root, Some(title), name_px).build_cartesian_2d(0f64..x_max, 0f64..rows)?;
    draw_mesh(
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_desc(x_desc)
            .x_label_formatter(&|v| fmt_ms_tick(*v)),
    )?;
    Ok(chart)
}

pub(crate) type BarChart<'a, DB> =
    ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Row names of a [`bar_axes`] chart, right-aligned left of the axis: (y, name, font).
pub(crate) fn row_names<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &BarChart<'_, DB>,
    names: impl IntoIterator<Item = (f64, String, TextStyle<'static>)>,
) -> DrawResult<DB> {
    for (y, name, font) in names {
        let (px, py) = chart.backend_coord(&(0.0, y));
        root.draw(&Text::new(
            name,
            (px - 8, py),
            font.pos(Pos::new(HPos::Right, VPos::Center)),
        ))?;
    }
    Ok(())
}

/// Legend key: a filled box.
pub(crate) fn box_key(color: RGBColor) -> impl Fn((i32, i32)) -> Rectangle<(i32, i32)> {
    move |(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], color.filled())
}

/// Legend key: a short line.
pub(crate) fn line_key(style: ShapeStyle) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new([(x, y), (x + 18, y)], style)
}

/// Seconds as an axis label: `45s` for short runs, `12:30` (m:ss) beyond two minutes.
pub(crate) fn fmt_secs(s: f64, span: f64) -> String {
    let s = s.max(0.0);
    if span <= 120.0 {
        if (s - s.round()).abs() < 1e-6 {
            format!("{}s", s.round())
        } else {
            format!("{s:.1}s")
        }
    } else {
        let t = s.round() as u64;
        format!("{}:{:02}", t / 60, t % 60)
    }
}

/// Milliseconds as a duration label: `850µs`, `12.5ms`, `1.52s`.
pub(crate) fn fmt_ms(ms: f64) -> String {
    fmt_us((ms * 1000.0).max(0.0).round() as u64)
}

/// Milliseconds as an axis tick: like [`fmt_ms`] without trailing zeros (`200ms`, `2.5ms`,
/// `1s`), and a bare `0` at the origin.
pub(crate) fn fmt_ms_tick(ms: f64) -> String {
    if ms.abs() < 1e-9 {
        "0".into()
    } else {
        super::trim_zeros(&fmt_ms(ms))
    }
}

pub(crate) fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// End of the run's last interval, in seconds (at least 1, so axes never collapse).
pub(crate) fn run_span_secs(r: &RunResult) -> f64 {
    let end = r
        .timeseries
        .iter()
        .map(|p| p.t_us + p.duration_us)
        .max()
        .unwrap_or(0)
        .max(r.run.duration_us);
    (end as f64 / 1e6).max(1.0)
}

/// End of the ramp-up: the end of the first interval whose users reached the run's peak
/// (open model: whose iterations due reached 95 % of the busiest second's, since its users
/// follow the load rather than make it). `None` when the run had no users or was at its
/// peak from the first interval on.
pub(crate) fn ramp_end_secs(r: &RunResult) -> Option<f64> {
    let due = r.timeseries.iter().map(|p| p.scheduled).max().unwrap_or(0);
    let p = if super::is_open(r) && due > 0 {
        r.timeseries
            .iter()
            .find(|p| p.scheduled as f64 >= due as f64 * 0.95)?
    } else {
        let peak = r.run.peak_users;
        if peak == 0 {
            return None;
        }
        r.timeseries.iter().find(|p| p.users >= peak)?
    };
    let end = (p.t_us + p.duration_us) as f64 / 1e6;
    let first_end = r
        .timeseries
        .first()
        .map(|f| (f.t_us + f.duration_us) as f64 / 1e6)
        .unwrap_or(0.0);
    (end > first_end).then_some(end)
}

/// A response-time target in µs on percentile `p` (`p95`: metric `response_time.p95`) and
/// scope `scope` (other timings, such as `server_timing.db.p95`, are not drawn).
pub(crate) fn latency_target<'a>(
    v: &'a Verdict,
    p: &str,
    scope: &str,
) -> Option<&'a TargetOutcome> {
    v.targets.iter().find(|t| {
        t.unit == Unit::Us
            && t.metric.strip_prefix("response_time.") == Some(p)
            && same_scope(&t.scope, scope)
            && t.threshold.is_finite()
    })
}

/// `step="a b"` and `step=a b` name the same scope.
fn same_scope(a: &str, b: &str) -> bool {
    let norm = |s: &str| match s.split_once('=') {
        Some((k, v)) => format!("{}={}", k.trim(), v.trim().trim_matches('"')),
        None => s.trim().to_string(),
    };
    norm(a) == norm(b)
}

/// `s` cut to `max` characters with an ellipsis.
pub(crate) fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_ticks_drop_trailing_zeros() {
        assert_eq!(fmt_ms_tick(0.0), "0");
        assert_eq!(fmt_ms_tick(200.0), "200ms");
        assert_eq!(fmt_ms_tick(2.5), "2.5ms");
        assert_eq!(fmt_ms_tick(1000.0), "1s");
        assert_eq!(fmt_ms_tick(0.5), "500µs");
    }

    #[test]
    fn time_labels_switch_to_minutes_for_long_runs() {
        assert_eq!(fmt_secs(45.0, 60.0), "45s");
        assert_eq!(fmt_secs(2.5, 5.0), "2.5s");
        assert_eq!(fmt_secs(750.0, 900.0), "12:30");
    }

    #[test]
    fn scopes_match_with_or_without_quotes() {
        assert!(same_scope("step=\"add to cart\"", "step=add to cart"));
        assert!(!same_scope("step=home", "overall"));
    }

    #[test]
    fn svg_gets_a_title() {
        let s = with_title("<svg a=\"1\">\n<rect/>\n</svg>\n", "A & B");
        assert!(s.starts_with("<svg a=\"1\">\n<title>A &amp; B</title>\n<rect/>"));
    }
}
