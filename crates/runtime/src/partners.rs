//! The status of each partner as the registry last published it: the
//! projection kept by the services that decide something on it (the
//! inventory: who may claim; identity: whose staff may invite colleagues),
//! from `reemploi.registry.partner.>`, each event applied once and never
//! backwards. Its table is `partners (id, status, version, updated_at)` in
//! the service's own database.

use std::sync::Arc;

use reemploi_events::{Handler, HandlerError, Message, Subscription, inbox};
use reemploi_proto::events::envelope::Payload;
use reemploi_store::{Db, StoreError, now_millis};
use sqlx::AnyConnection;
use uuid::Uuid;

use crate::envelope;
use crate::names::PartnerName;

/// The columns of the projection's table.
const COLUMNS: &str = "id, status, version, updated_at";

/// The durable subscription of `service`'s projection.
pub fn subscription(service: &str, max_deliver: i64) -> Subscription {
    Subscription {
        durable: format!("{service}-partners"),
        stream_of: "registry".to_owned(),
        filter: "reemploi.registry.partner.>".to_owned(),
        max_deliver,
    }
}

/// What a decoded partner event changes: the partner's id and its status,
/// or a permanent failure for any other payload or a bad name. Apart from
/// the database work so that fuzz targets and tests check it alone.
pub fn update(msg: &Message, payload: Payload) -> Result<(Uuid, &'static str), HandlerError> {
    let Payload::Partner(partner) = payload else {
        return Err(envelope::unexpected(msg, &payload));
    };
    let id = PartnerName::parse("partner.name", &partner.name)
        .map_err(|e| HandlerError::Permanent(e.to_string()))?
        .0;
    Ok((id, crate::wire::partner_status_str(partner.status)))
}

/// The status last projected for partner `id`, if any.
pub async fn status(conn: &mut AnyConnection, id: Uuid) -> Result<Option<String>, StoreError> {
    let row: Option<(String,)> = sqlx::query_as("SELECT status FROM partners WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|(s,)| s))
}

/// The projection, over a service's database.
pub struct PartnerStatuses {
    db: Db,
    durable: String,
}

impl PartnerStatuses {
    /// The projection of `service` over `db`.
    pub fn new(db: Db, service: &str) -> Arc<Self> {
        Arc::new(Self {
            db,
            durable: format!("{service}-partners"),
        })
    }
}

#[async_trait::async_trait]
impl Handler for PartnerStatuses {
    async fn handle(&self, msg: &Message) -> Result<(), HandlerError> {
        let (env, payload) = envelope::decode(msg)?;
        let (id, status) = update(msg, payload)?;
        let mut tx = self.db.begin_write().await?;
        if inbox::first_time(&mut tx, &self.durable, &msg.event_id).await? {
            sqlx::query(sqlx::AssertSqlSafe(
                reemploi_store::query::upsert_newer_sql("partners", COLUMNS),
            ))
            .bind(id.to_string())
            .bind(status)
            .bind(env.aggregate_version)
            .bind(now_millis())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}
