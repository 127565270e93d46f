//! `reemploi hours`: a partner declares the insertion work spent on
//! material handed over to it (careful dismantling, collection, sorting,
//! refurbishing), and how many people in insertion did it.

use clap::{Args, Subcommand, ValueEnum};
use prost_types::Timestamp;
use reemploi_domain::quantity::{Quantity, Unit};
use reemploi_proto::impact as ipb;

use super::{Ctx, request_id};
use crate::CliError;
use crate::client::answer;
use crate::dates::parse_time;
use crate::output::emit;

/// The `hours` subcommands.
#[derive(Subcommand, Debug)]
pub enum HoursCommand {
    /// The claim's partner declares insertion work spent on the material of
    /// a handed-over claim: the activity, the time worked by people in
    /// insertion, and how many they were.
    ///
    /// The time is sent in minutes (1.5 h is 90 min). `reemploi impact`
    /// adds the hours up and counts full-time equivalents: hours divided by
    /// the impact service's yearly divisor, its setting (1,607 h by
    /// default, the legal working year; ateliers-chantiers often count
    /// 1,820 paid hours). People count per claim: the most declared on one
    /// activity.
    #[command(
        after_help = "Examples:\n  reemploi hours declare sites/…/lots/…/claims/… --activity dismantling --hours 1,5 --people 3\n  reemploi hours declare sites/…/lots/…/claims/… --activity refurbishing --hours 2h20 --people 1 --at 2026-03-31"
    )]
    Declare(DeclareArgs),
}

/// Kinds of insertion work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Activity {
    /// Careful dismantling on the site.
    Dismantling,
    /// Collection and transport.
    Collection,
    /// Sorting and storage.
    Sorting,
    /// Refurbishing, repair, reconditioning.
    Refurbishing,
}

impl Activity {
    fn proto(self) -> ipb::Activity {
        match self {
            Activity::Dismantling => ipb::Activity::Dismantling,
            Activity::Collection => ipb::Activity::Collection,
            Activity::Sorting => ipb::Activity::Sorting,
            Activity::Refurbishing => ipb::Activity::Refurbishing,
        }
    }
}

/// Flags of `hours declare`.
#[derive(Args, Debug)]
pub struct DeclareArgs {
    /// The claim: `sites/SITE/lots/LOT/claims/CLAIM`; it must have been
    /// handed over.
    pub claim: String,
    /// What the work was.
    #[arg(long, value_enum)]
    pub activity: Activity,
    /// Time worked by people in insertion, all of them together, in hours:
    /// 1.5, 1,5 or 1h30 (whole minutes).
    #[arg(long = "hours", value_name = "HOURS", value_parser = parse_minutes)]
    pub minutes: i64,
    /// How many people in insertion worked on it.
    #[arg(long)]
    pub people: i32,
    /// When the work was done: a date (2026-03-31, midnight UTC) or an RFC
    /// 3339 time; never in the future [default: now].
    #[arg(long, value_name = "DATE", value_parser = parse_time)]
    pub at: Option<Timestamp>,
    /// Idempotency key: a retry with it returns the first declaration
    /// instead of declaring twice. Generated when absent.
    #[arg(long)]
    pub request_id: Option<String>,
}

/// Runs an `hours` subcommand.
pub async fn run(ctx: &Ctx, cmd: HoursCommand) -> Result<(), CliError> {
    let HoursCommand::Declare(a) = cmd;
    let req = ipb::DeclareHoursRequest {
        parent: a.claim,
        hours: Some(ipb::HoursDeclaration {
            activity: a.activity.proto() as i32,
            minutes: a.minutes,
            people: a.people,
            work_time: a.at,
            ..Default::default()
        }),
        request_id: a.request_id.unwrap_or_else(request_id),
    };
    let mut impact = ctx.connect().await?.impact();
    let hours = answer(impact.declare_hours(req).await)?;
    emit(ctx.format, crate::json::message(&hours), || {
        super::outcomes::hours_text(&hours)
    })
}

/// Hours as whole minutes: `1.5`, `1,5` (a French keyboard's decimal
/// comma), `1.5h` and `1h30` are 90. Decimal hours that are no whole number of
/// minutes (0.33 h is 19.8 min) are refused rather than rounded: the
/// declaration would not be what was typed.
pub fn parse_minutes(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let usage = || format!("{t:?} is not a number of hours: write 1.5, 1,5 or 1h30");
    let whole = |p: &str| -> Result<i64, String> {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(usage());
        }
        p.parse::<i64>().map_err(|_| usage())
    };
    let t = t.strip_suffix(['h', 'H']).unwrap_or(t);
    if let Some((h, m)) = t.split_once(['h', 'H']) {
        let m = whole(m)?;
        if m >= 60 {
            return Err(format!("{t:?}: the minutes after `h` go up to 59"));
        }
        return whole(h)?
            .checked_mul(60)
            .and_then(|min| min.checked_add(m))
            .ok_or_else(usage);
    }
    // Thousandths of an hour, exactly: no floating point.
    let milli_hours = Quantity::parse_decimal(t, Unit::Piece)
        .map_err(|_| usage())?
        .milli();
    let milli_minutes = milli_hours.checked_mul(60).ok_or_else(usage)?;
    if milli_minutes % 1000 != 0 {
        return Err(format!(
            "{t} h is not a whole number of minutes: write hours and minutes, as 1h20"
        ));
    }
    Ok(milli_minutes / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_parse_to_whole_minutes_with_a_point_or_a_comma() {
        assert_eq!(parse_minutes("1.5"), Ok(90));
        assert_eq!(parse_minutes("1,5"), Ok(90));
        assert_eq!(parse_minutes(" 1h30 "), Ok(90));
        assert_eq!(parse_minutes("2"), Ok(120));
        assert_eq!(parse_minutes("2h"), Ok(120));
        assert_eq!(parse_minutes("1,5h"), Ok(90));
        assert_eq!(parse_minutes("0,25"), Ok(15));
        assert_eq!(parse_minutes("1.1"), Ok(66));
        assert_eq!(parse_minutes("0h05"), Ok(5));
        for bad in [
            "0.33", "1h60", "h30", "1.5h30", "hh", "abc", "", "-1", "1,2345", "1:30",
        ] {
            assert!(parse_minutes(bad).is_err(), "{bad:?}");
        }
    }
}
