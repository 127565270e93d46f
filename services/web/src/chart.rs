//! Bar charts drawn on the server as SVG, so that the figures page works
//! without script, in print, and under a policy that forbids inline style:
//! every length is an attribute of the drawing, every colour a class. Each
//! chart is an image named by its `<title>` and `<desc>`; the page repeats
//! its figures in a table for whoever cannot see it.

use maud::{Markup, html};

use crate::text::T;

/// Width of the drawing, in SVG user units; it scales with the page (a
/// narrow drawing keeps its labels legible on a phone).
const WIDTH: i64 = 360;
/// Room on the left and right of the bars.
const PAD: i64 = 8;
/// Height of one bar's row: its label above, the bar under it.
const ROW: i64 = 36;
/// Height of a bar.
const BAR: i64 = 14;
/// Where the label's baseline sits in its row.
const LABEL_Y: i64 = 13;
/// Where the bar starts in its row.
const BAR_Y: i64 = 18;

/// One bar: what it is, its value (what is drawn) and the value as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    /// What the bar stands for, e.g. a quartier.
    pub label: String,
    /// The value drawn; negative values are drawn as zero.
    pub value: i64,
    /// The value written beside the label, e.g. "1,2 t".
    pub text: String,
}

/// The width of the bar of `value` when the largest is `max`, in user
/// units: the largest fills the track, a value above zero is never drawn
/// empty, zero (or below) is empty.
fn width(value: i64, max: i64) -> i64 {
    let track = WIDTH - 2 * PAD;
    if value <= 0 || max <= 0 {
        return 0;
    }
    // In i128: a mass in grams times the track cannot overflow there.
    let scaled = i128::from(value.min(max)) * i128::from(track) / i128::from(max);
    i64::try_from(scaled).unwrap_or(track).clamp(1, track)
}

/// A horizontal bar chart of `bars`, in their order, as an image whose
/// accessible name is `title` and description `desc`; `id` makes the ids
/// of those two unique on the page. With no bar, a sentence says so.
pub fn bars(id: &str, title: &str, desc: &str, bars: &[Bar]) -> Markup {
    if bars.is_empty() {
        return html! { p { (T::CHART_EMPTY) } };
    }
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0);
    let rows = i64::try_from(bars.len()).unwrap_or(i64::MAX / ROW);
    let height = rows.saturating_mul(ROW).saturating_add(PAD);
    let (title_id, desc_id) = (format!("{id}-titre"), format!("{id}-desc"));
    html! {
        svg.chart id=(id) viewBox=(format!("0 0 {WIDTH} {height}")) role="img"
            aria-labelledby=(format!("{title_id} {desc_id}")) preserveAspectRatio="xMinYMin meet" {
            title id=(title_id) { (title) }
            desc id=(desc_id) { (desc) }
            @for (i, bar) in bars.iter().enumerate() {
                @let top = i64::try_from(i).unwrap_or(0) * ROW + PAD / 2;
                text.chart-label x=(PAD) y=(top + LABEL_Y) { (bar.label) " : " (bar.text) }
                rect.chart-track x=(PAD) y=(top + BAR_Y) width=(WIDTH - 2 * PAD) height=(BAR) {}
                rect.chart-value x=(PAD) y=(top + BAR_Y) width=(width(bar.value, max)) height=(BAR) {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(label: &str, value: i64) -> Bar {
        Bar {
            label: label.into(),
            value,
            text: format!("{value} g"),
        }
    }

    /// The widths of the value bars, in order.
    fn widths(svg: &str) -> Vec<i64> {
        svg.split("class=\"chart-value\"")
            .skip(1)
            .map(|rest| {
                let at = rest.find("width=\"").unwrap() + 7;
                rest[at..].split('"').next().unwrap().parse().unwrap()
            })
            .collect()
    }

    #[test]
    fn the_largest_bar_fills_the_track_and_the_others_scale_with_it() {
        let svg = bars(
            "c",
            "t",
            "d",
            &[bar("a", 1000), bar("b", 500), bar("c", 250), bar("d", 1)],
        )
        .into_string();
        let track = WIDTH - 2 * PAD;
        assert_eq!(widths(&svg), vec![track, track / 2, track / 4, 1]);
        assert!(svg.contains(&format!("viewBox=\"0 0 {WIDTH} {}\"", 4 * ROW + PAD)));
        // Scaling holds for masses far beyond i64 products.
        assert_eq!(width(i64::MAX, i64::MAX), track);
        assert_eq!(width(1 << 62, i64::MAX), track / 2);
    }

    #[test]
    fn zero_and_negative_values_draw_empty_bars_and_nothing_breaks() {
        let svg = bars("c", "t", "d", &[bar("a", 0), bar("b", 0), bar("c", -5)]).into_string();
        assert_eq!(widths(&svg), vec![0, 0, 0]);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        let mixed = bars("c", "t", "d", &[bar("a", 0), bar("b", 7)]).into_string();
        assert_eq!(widths(&mixed), vec![0, WIDTH - 2 * PAD]);
        let none = bars("c", "t", "d", &[]).into_string();
        assert!(!none.contains("<svg") && none.contains(T::CHART_EMPTY));
    }

    #[test]
    fn labels_and_names_are_escaped_and_the_chart_is_a_named_image() {
        let svg = bars(
            "par-quartier",
            "Tonnes <par> quartier",
            "A & B",
            &[bar("<script>alert(1)</script>", 3), bar("\"Coteaux\"", 1)],
        )
        .into_string();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt; : 3 g"));
        assert!(svg.contains("&quot;Coteaux&quot; : 1 g"));
        assert!(
            svg.contains("<title id=\"par-quartier-titre\">Tonnes &lt;par&gt; quartier</title>")
        );
        assert!(svg.contains("<desc id=\"par-quartier-desc\">A &amp; B</desc>"));
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("aria-labelledby=\"par-quartier-titre par-quartier-desc\""));
        assert!(!svg.contains("style="), "no inline style");
    }
}
