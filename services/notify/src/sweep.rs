//! Notifications made by the clock rather than by an event: reservations
//! about to expire, published lots about to expire with nobody interested,
//! and the events set aside as dead letters. Each is made once (its key
//! names the fact and its date), whichever replica sweeps first.

use std::sync::Arc;
use std::time::Duration;

use reemploi_events::Bus;
use reemploi_store::now_millis;
use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::model::{Audience, Draft, Kind};
use crate::repo;
use crate::service::Notify;
use crate::wording::{self, Facts};

/// How long before its end a reservation is said to expire soon.
pub const RESERVATION_NOTICE_MS: i64 = 24 * 3_600_000;
/// How long before its end a lot nobody claimed is said to expire soon.
pub const LOT_NOTICE_MS: i64 = 7 * 86_400_000;
/// The most dead letters read at each sweep: a larger backlog is told of
/// over the next sweeps.
const DEAD_LETTERS: usize = 1000;

impl Notify {
    /// One sweep as of `now` (Unix ms); how many notifications it made.
    /// Everything is read first: the lock every writer of notifications
    /// takes is held only to store them.
    pub async fn sweep(&self, bus: &dyn Bus, now: i64) -> Result<usize> {
        self.sweep_reading(bus, now, DEAD_LETTERS).await
    }

    /// As [`Notify::sweep`], reading at most `page` dead letters: those
    /// after the last one this process told of (after a restart, from the
    /// first again: their notifications' keys make them once only).
    pub(crate) async fn sweep_reading(
        &self,
        bus: &dyn Bus,
        now: i64,
        page: usize,
    ) -> Result<usize> {
        let (mut drafts, last) = dead_letters(bus, self.dead_letters_told(), page).await;
        let mut conn = self.db().pool().acquire().await?;
        drafts.extend(expiring(&mut conn, now).await?);
        drop(conn);
        let mut tx = self.db().begin_write().await?;
        repo::serialize(&mut tx, self.db()).await?;
        let made = self.store(&mut tx, &drafts).await?;
        tx.commit().await?;
        if let Some(last) = last {
            self.told_dead_letters_up_to(last);
        }
        if made > 0 {
            self.wake();
        }
        Ok(made)
    }

    /// Sweeps every `interval` until `stop`.
    pub async fn sweep_every(self, bus: Arc<dyn Bus>, interval: Duration, stop: CancellationToken) {
        loop {
            if let Err(e) = self.sweep(bus.as_ref(), now_millis()).await {
                tracing::warn!(error = %e, "notification sweep failed");
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}

/// The reservations and lots about to expire, as of `now`.
async fn expiring(conn: &mut sqlx::AnyConnection, now: i64) -> Result<Vec<Draft>> {
    let mut drafts = Vec::new();
    for claim in repo::reservations_expiring(conn, now, now + RESERVATION_NOTICE_MS).await? {
        let Some(until) = claim.expires_at else {
            continue;
        };
        let facts = Facts {
            subject: crate::events::lot_words(conn, &claim.lot).await?,
            when: wording::date(until),
            ..Facts::default()
        };
        drafts.push(wording::draft(
            format!("expiring|{}|{until}", claim.name),
            Audience::Partner(claim.partner_id),
            Kind::ReservationExpiring,
            &facts,
            &claim.name,
            wording::CLAIMS_PAGE.to_owned(),
        ));
    }
    for lot in repo::lots_expiring_unclaimed(conn, now, now + LOT_NOTICE_MS).await? {
        let (Some(until), Some(site)) = (lot.available_until, repo::site(conn, &lot.site).await?)
        else {
            continue;
        };
        let facts = Facts {
            subject: wording::lot(&lot.designation, &lot.reference),
            when: wording::until(until),
            ..Facts::default()
        };
        drafts.push(wording::draft(
            format!("lot-expiring|{}|{until}", lot.name),
            Audience::Org(site.org),
            Kind::LotExpiring,
            &facts,
            &lot.name,
            wording::site_lot_page(&lot.name),
        ));
    }
    Ok(drafts)
}

/// The dead letters of the bus after `after`, at most `page`, and the id of
/// the last; none while the bus cannot be read.
async fn dead_letters(
    bus: &dyn Bus,
    after: Option<String>,
    page: usize,
) -> (Vec<Draft>, Option<String>) {
    let mut drafts = Vec::new();
    let mut last = None;
    match bus.dead_letters(after.as_deref(), page).await {
        Ok(dead) => {
            last = dead.last().map(|d| d.id.clone());
            for d in dead {
                let facts = Facts {
                    subject: d.durable.clone(),
                    who: d.reason.clone(),
                    ..Facts::default()
                };
                drafts.push(wording::draft(
                    format!("dead-letter|{}|{}", d.id, d.message.event_id),
                    Audience::Admins,
                    Kind::DeadLetter,
                    &facts,
                    &d.message.subject,
                    String::new(),
                ));
            }
        }
        // The bus is down: the dead letters wait for the next sweep.
        Err(e) => tracing::warn!(error = %e, "dead letters not read"),
    }
    (drafts, last)
}
