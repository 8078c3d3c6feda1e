//! `looplab plot RUN... --out FILE.svg|png`: three panels over training steps, one run or several overlaid:
//! the loss (training and every held-out split, log scale), every split's token accuracy with the phases (a
//! line at each split's phase step, the first step its accuracy reaches the threshold; shaded from train's
//! phase to the first held-out split's: memorized, not yet generalized), and the weight norm. The text is drawn
//! with the font in assets/fonts, so no system font is needed.

use std::path::{Path, PathBuf};

use clap::Args;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{accuracy, checked, read_runs, write_atomic, Checked};
use crate::error::LabError;
use crate::probes::phases::{curves, phases};
use crate::runs::Run;

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-subset.ttf");
const SIZE: (u32, u32) = (960, 1080);
/// Tableau's ten colours: a run's colour when several are drawn, a split's when one is.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

#[derive(Args, Debug)]
pub struct PlotArgs {
    /// Run folders (history.json or history.csv inside) or history files (.json or .csv)
    #[arg(required = true, value_name = "RUN")]
    runs: Vec<PathBuf>,
    /// The figure to write, SVG or PNG by its extension
    #[arg(long, value_name = "FILE.svg|FILE.png", value_parser = figure_file())]
    out: PathBuf,
    /// The accuracy a split's phase starts at
    #[arg(long, value_name = "X", default_value_t = 0.9, value_parser = accuracy())]
    threshold: f64,
}

fn figure_file() -> Checked<PathBuf> {
    checked("a file name ending in .svg or .png", |s| {
        let path = PathBuf::from(s);
        matches!(path.extension().and_then(|e| e.to_str()), Some("svg" | "png")).then_some(path)
    })
}

/// One line of a panel: its points, colour, dash (0 solid, 1 dashed, 2 dotted) and legend label.
struct Line {
    label: String,
    color: RGBColor,
    dash: usize,
    points: Vec<(f64, f64)>,
}

/// The three panels' lines, and per run its colour and shaded interval (start, end) of steps.
struct Figure {
    loss: Vec<Line>,
    accuracy: Vec<Line>,
    norm: Vec<Line>,
    phases: Vec<Phases>,
    last_step: f64,
    threshold: f64,
}

/// A run's phase marks: a line at each split's phase step, the shaded interval between memorization and
/// generalization.
struct Phases {
    color: RGBColor,
    steps: Vec<(usize, f64)>,
    shaded: Option<(f64, f64)>,
}

fn figure(runs: &[Run], threshold: f64) -> Figure {
    let several = runs.len() > 1;
    let mut f = Figure {
        loss: Vec::new(),
        accuracy: Vec::new(),
        norm: Vec::new(),
        phases: Vec::new(),
        last_step: runs.iter().filter_map(|r| r.history.last()).map(|r| r.step as f64).fold(1.0, f64::max),
        threshold,
    };
    for (i, run) in runs.iter().enumerate() {
        let run_color = PALETTE[i % PALETTE.len()];
        // Several runs: a colour per run and a dash per split; one run: a colour per split.
        let style = |s: usize| if several { (run_color, s.min(2)) } else { (PALETTE[s % PALETTE.len()], 0) };
        let label = |what: &str| if several { format!("{}: {what}", run.name) } else { what.to_string() };
        let curves = curves(&run.history);
        let training: Vec<(f64, f64)> = run.history.iter().map(|r| (r.step as f64, r.loss)).collect();
        let (color, dash) = style(0);
        f.loss.push(Line { label: label("training loss"), color, dash, points: training });
        for (s, c) in curves.iter().enumerate() {
            let (color, dash) = style(s);
            if s > 0 {
                let points = c.points.iter().map(|&(step, l, _, _)| (step as f64, l)).collect();
                f.loss.push(Line { label: label(&c.split), color, dash, points });
            }
            let points = c.points.iter().map(|&(step, _, a, _)| (step as f64, a)).collect();
            f.accuracy.push(Line { label: label(&c.split), color, dash, points });
        }
        let norm: Vec<(f64, f64)> =
            run.history.iter().filter_map(|r| r.weight_norm.map(|w| (r.step as f64, w))).collect();
        if !norm.is_empty() {
            f.norm.push(Line { label: label("weight norm"), color: run_color, dash: 0, points: norm });
        }
        let p = phases(&run.history, threshold).splits;
        let steps: Vec<(usize, f64)> =
            p.iter().enumerate().filter_map(|(s, ph)| ph.accuracy_step.map(|x| (s, x as f64))).collect();
        // From train's phase to the first held-out split's (the run's end if none has one yet).
        let run_end = run.history.last().map_or(0.0, |r| r.step as f64);
        let end = p.iter().skip(1).filter_map(|ph| ph.accuracy_step).map(|x| x as f64).reduce(f64::min);
        let shaded = p
            .first()
            .and_then(|ph| ph.accuracy_step)
            .map(|x| (x as f64, end.unwrap_or(run_end)))
            .filter(|(a, b)| b > a);
        f.phases.push(Phases { color: if several { run_color } else { PALETTE[0] }, steps, shaded });
    }
    f
}

type Error<DB> = DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>;

fn draw_lines<'a, DB: DrawingBackend + 'a, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    lines: &[Line],
) -> Result<(), Error<DB>> {
    for line in lines {
        let style = line.color.stroke_width(2);
        let points = line.points.iter().copied().filter(|(_, y)| y.is_finite());
        let series = match line.dash {
            0 => chart.draw_series(LineSeries::new(points, style))?,
            1 => chart.draw_series(DashedLineSeries::new(points, 8, 5, style))?,
            _ => chart.draw_series(DashedLineSeries::new(points, 2, 4, style))?,
        };
        let (color, pieces) = (line.color, dash_pieces(line.dash));
        series.label(&line.label).legend(move |(x, y)| {
            let piece =
                |k: usize| PathElement::new(vec![(x + pieces[k].0, y), (x + pieces[k].1, y)], color.stroke_width(2));
            EmptyElement::at((0, 0)) + piece(0) + piece(1) + piece(2)
        });
    }
    Ok(())
}

/// Where a legend sample's three pieces start and end (pixels): solid, dashed, dotted.
fn dash_pieces(dash: usize) -> [(i32, i32); 3] {
    match dash {
        0 => [(0, 7), (7, 14), (14, 20)],
        1 => [(0, 5), (8, 13), (16, 20)],
        _ => [(0, 2), (8, 10), (16, 18)],
    }
}

fn legend<'a, DB: DrawingBackend + 'a, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    position: SeriesLabelPosition,
) -> Result<(), Error<DB>> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 13))
        .draw()
}

fn finite_range(lines: &[Line], keep: impl Fn(f64) -> bool) -> Option<(f64, f64)> {
    let ys = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)).filter(|y| y.is_finite() && keep(*y));
    ys.fold(None, |r, y| Some(r.map_or((y, y), |(lo, hi): (f64, f64)| (lo.min(y), hi.max(y)))))
}

/// A panel's grid and axis labels over steps; `y_label` replaces the default tick labels.
fn mesh<'a, DB: DrawingBackend + 'a, Y: Ranged<ValueType = f64> + ValueFormatter<f64>>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    y_desc: &str,
    y_label: Option<&dyn Fn(&f64) -> String>,
) -> Result<(), Error<DB>> {
    let mut mesh = chart.configure_mesh();
    mesh.x_desc("step").y_desc(y_desc).x_label_formatter(&|x| format!("{x:.0}")).label_style(("sans-serif", 12));
    if let Some(format) = y_label {
        mesh.y_label_formatter(format);
    }
    mesh.draw()
}

fn build<'a, 'b, DB: DrawingBackend>(area: &'a DrawingArea<DB, Shift>, caption: &str) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(area);
    b.caption(caption, ("sans-serif", 17)).margin(12).x_label_area_size(34).y_label_area_size(64);
    b
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, f: &Figure) -> Result<(), Error<DB>> {
    root.fill(&WHITE)?;
    let panels = root.split_evenly((3, 1));
    let x = 0f64..f.last_step;

    if let Some((lo, hi)) = finite_range(&f.loss, |y| y > 0.0) {
        let mut chart =
            build(&panels[0], "loss (log scale)").build_cartesian_2d(x.clone(), (lo * 0.8..hi * 1.25).log_scale())?;
        mesh(&mut chart, "loss", None)?;
        draw_lines(&mut chart, &f.loss)?;
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    }

    let caption = format!(
        "token accuracy; shaded: from train's phase (accuracy >= {}) to the first held-out split's{}",
        f.threshold,
        if f.phases.len() > 1 { " (a strip per run)" } else { "" }
    );
    // Several runs shade strips of their own below zero, so their bands never overlap.
    let strip = 0.04;
    let bottom = if f.phases.len() > 1 { -strip * f.phases.len() as f64 - 0.01 } else { 0.0 };
    let mut chart = build(&panels[1], &caption).build_cartesian_2d(x.clone(), bottom..1.02)?;
    // No labels below zero, where the strips are.
    mesh(&mut chart, "accuracy", Some(&|y| if *y < 0.0 { String::new() } else { format!("{y:.1}") }))?;
    for (i, p) in f.phases.iter().enumerate() {
        if let Some((a, b)) = p.shaded {
            let (lo, hi, alpha) =
                if f.phases.len() > 1 { (-strip * (i + 1) as f64, -strip * i as f64, 0.45) } else { (0.0, 1.02, 0.12) };
            chart.draw_series(std::iter::once(Rectangle::new([(a, lo), (b, hi)], p.color.mix(alpha).filled())))?;
        }
        for &(split, step) in &p.steps {
            let style = p.color.mix(0.6).stroke_width(1);
            let marker = if split == 0 { 1 } else { 2 };
            chart.draw_series(DashedLineSeries::new([(step, 0.0), (step, 1.02)], marker * 3, 3, style))?;
        }
    }
    draw_lines(&mut chart, &f.accuracy)?;
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;

    match finite_range(&f.norm, |_| true) {
        Some((lo, hi)) => {
            let pad = ((hi - lo) * 0.05).max(hi.abs() * 1e-3).max(1e-9);
            let mut chart = build(&panels[2], "weight norm (L2 of every trained parameter)")
                .build_cartesian_2d(x, lo - pad..hi + pad)?;
            mesh(&mut chart, "norm", None)?;
            draw_lines(&mut chart, &f.norm)?;
            legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        }
        None => {
            let style = ("sans-serif", 15).into_font().color(&BLACK.mix(0.6));
            panels[2].draw(&Text::new("no weight norm recorded (a history from before it was)", (80, 160), style))?;
        }
    }
    root.present()
}

/// Renders the figure as SVG text or PNG bytes.
fn render(f: &Figure, png: bool, out: &Path) -> Result<Vec<u8>, LabError> {
    let failed = |e: String| LabError::Io { path: out.display().to_string(), source: std::io::Error::other(e) };
    if !png {
        let mut svg = String::new();
        draw(&SVGBackend::with_string(&mut svg, SIZE).into_drawing_area(), f).map_err(|e| failed(e.to_string()))?;
        return Ok(svg.into_bytes());
    }
    let mut rgb = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    draw(&BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area(), f).map_err(|e| failed(e.to_string()))?;
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, SIZE.0, SIZE.1);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header().and_then(|mut w| w.write_image_data(&rgb)).map_err(|e| failed(e.to_string()))?;
    Ok(bytes)
}

pub fn run(a: &PlotArgs) -> Result<(), LabError> {
    let runs = read_runs(&a.runs)?;
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| LabError::Input("the font in assets/fonts is not a font".into()))?;
    let f = figure(&runs, a.threshold);
    let png = a.out.extension().is_some_and(|e| e == "png");
    write_atomic(&a.out, &render(&f, png, &a.out)?)?;
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    eprintln!("wrote {} ({} of {})", a.out.display(), if png { "PNG" } else { "SVG" }, names.join(", "));
    Ok(())
}
