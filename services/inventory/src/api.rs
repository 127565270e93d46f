//! The gRPC face of the inventory: each RPC takes the caller's principal
//! and hands the request to [`Inventory`].

use std::collections::HashSet;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::Stream;
use prost::Message as _;
use reemploi_proto::events::{Envelope, envelope::Payload};
use reemploi_proto::inventory as pb;
use reemploi_proto::inventory::inventory_service_server::InventoryService;
use reemploi_runtime::auth::principal;
use reemploi_store::cursor::ChangeCursor;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::error::InventoryError;
use crate::service::{Inventory, may_watch};
use reemploi_runtime::names;

/// How often a WatchLots stream looks for changes made by other replicas.
const WATCH_POLL: Duration = Duration::from_millis(500);

/// The tonic service.
#[derive(Clone)]
pub struct InventoryApi {
    inventory: Inventory,
    shutdown: CancellationToken,
}

impl InventoryApi {
    /// Serves `inventory`; open streams end when `shutdown` is cancelled.
    pub fn new(inventory: Inventory, shutdown: CancellationToken) -> Self {
        Self {
            inventory,
            shutdown,
        }
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn reply<T>(r: Result<T, InventoryError>) -> Reply<T> {
    r.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl InventoryService for InventoryApi {
    async fn create_site(&self, req: Request<pb::CreateSiteRequest>) -> Reply<pb::Site> {
        let p = principal(&req)?;
        reply(self.inventory.create_site(&p, req.into_inner()).await)
    }

    async fn get_site(&self, req: Request<pb::GetSiteRequest>) -> Reply<pb::Site> {
        let p = principal(&req)?;
        reply(self.inventory.get_site(&p, req.into_inner()).await)
    }

    async fn list_sites(&self, req: Request<pb::ListSitesRequest>) -> Reply<pb::ListSitesResponse> {
        let p = principal(&req)?;
        reply(self.inventory.list_sites(&p, req.into_inner()).await)
    }

    async fn update_site(&self, req: Request<pb::UpdateSiteRequest>) -> Reply<pb::Site> {
        let p = principal(&req)?;
        reply(self.inventory.update_site(&p, req.into_inner()).await)
    }

    async fn create_lot(&self, req: Request<pb::CreateLotRequest>) -> Reply<pb::Lot> {
        let p = principal(&req)?;
        reply(self.inventory.create_lot(&p, req.into_inner()).await)
    }

    async fn batch_create_lots(
        &self,
        req: Request<pb::BatchCreateLotsRequest>,
    ) -> Reply<pb::BatchCreateLotsResponse> {
        let p = principal(&req)?;
        reply(self.inventory.batch_create_lots(&p, req.into_inner()).await)
    }

    async fn get_lot(&self, req: Request<pb::GetLotRequest>) -> Reply<pb::Lot> {
        let p = principal(&req)?;
        reply(self.inventory.get_lot(&p, req.into_inner()).await)
    }

    async fn list_lots(&self, req: Request<pb::ListLotsRequest>) -> Reply<pb::ListLotsResponse> {
        let p = principal(&req)?;
        reply(self.inventory.list_lots(&p, req.into_inner()).await)
    }

    async fn update_lot(&self, req: Request<pb::UpdateLotRequest>) -> Reply<pb::Lot> {
        let p = principal(&req)?;
        reply(self.inventory.update_lot(&p, req.into_inner()).await)
    }

    async fn publish_lot(&self, req: Request<pb::PublishLotRequest>) -> Reply<pb::Lot> {
        let p = principal(&req)?;
        reply(self.inventory.publish_lot(&p, req.into_inner()).await)
    }

    async fn withdraw_lot(&self, req: Request<pb::WithdrawLotRequest>) -> Reply<pb::Lot> {
        let p = principal(&req)?;
        reply(self.inventory.withdraw_lot(&p, req.into_inner()).await)
    }

    async fn claim_lot(&self, req: Request<pb::ClaimLotRequest>) -> Reply<pb::Claim> {
        let p = principal(&req)?;
        reply(self.inventory.claim_lot(&p, req.into_inner()).await)
    }

    async fn get_claim(&self, req: Request<pb::GetClaimRequest>) -> Reply<pb::Claim> {
        let p = principal(&req)?;
        reply(self.inventory.get_claim(&p, req.into_inner()).await)
    }

    async fn list_claims(
        &self,
        req: Request<pb::ListClaimsRequest>,
    ) -> Reply<pb::ListClaimsResponse> {
        let p = principal(&req)?;
        reply(self.inventory.list_claims(&p, req.into_inner()).await)
    }

    async fn confirm_claim(&self, req: Request<pb::ConfirmClaimRequest>) -> Reply<pb::Claim> {
        let p = principal(&req)?;
        reply(self.inventory.confirm_claim(&p, req.into_inner()).await)
    }

    async fn reject_claim(&self, req: Request<pb::RejectClaimRequest>) -> Reply<pb::Claim> {
        let p = principal(&req)?;
        reply(self.inventory.reject_claim(&p, req.into_inner()).await)
    }

    async fn cancel_claim(&self, req: Request<pb::CancelClaimRequest>) -> Reply<pb::Claim> {
        let p = principal(&req)?;
        reply(self.inventory.cancel_claim(&p, req.into_inner()).await)
    }

    async fn record_handover(&self, req: Request<pb::RecordHandoverRequest>) -> Reply<pb::Claim> {
        let p = principal(&req)?;
        reply(self.inventory.record_handover(&p, req.into_inner()).await)
    }

    type WatchLotsStream =
        Pin<Box<dyn Stream<Item = Result<pb::WatchLotsResponse, Status>> + Send>>;

    async fn watch_lots(&self, req: Request<pb::WatchLotsRequest>) -> Reply<Self::WatchLotsStream> {
        let p = principal(&req)?;
        may_watch(&p)?;
        let req = req.into_inner();
        let site = names::site_or_all("parent", &req.parent)
            .map_err(|v| Status::from(InventoryError::from(v)))?
            .map(|id| names::SiteName(id).to_string());
        let start = match req.start_cursor.as_str() {
            "" => self.inventory.last_change().await?,
            c => c.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                Status::from(InventoryError::invalid(
                    "start_cursor",
                    "empty, \"0\", or a cursor received from this stream",
                ))
            })?,
        };
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let inventory = self.inventory.clone();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            // Commits may become visible out of number order: the cursor
            // delivers a late one instead of skipping it.
            let mut cursor = ChangeCursor::new(start);
            loop {
                let read = match inventory.lot_changes(cursor.after(), 500).await {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = tx.send(Err(Status::from(e))).await;
                        return;
                    }
                };
                let fresh: HashSet<i64> = cursor
                    .take(read.iter().map(|c| c.seq), Instant::now())
                    .into_iter()
                    .collect();
                let caught_up = fresh.is_empty();
                for change in read.into_iter().filter(|c| fresh.contains(&c.seq)) {
                    let Some(payload) = change.payload else {
                        continue;
                    };
                    let Ok(envelope) = Envelope::decode(payload.as_slice()) else {
                        tracing::error!(seq = change.seq, "undecodable lot event in the outbox");
                        continue;
                    };
                    let Some(Payload::Lot(lot)) = envelope.payload else {
                        continue;
                    };
                    if site
                        .as_ref()
                        .is_some_and(|s| !lot.name.starts_with(&format!("{s}/")))
                    {
                        continue;
                    }
                    let item = pb::WatchLotsResponse {
                        cursor: change.seq.to_string(),
                        event_type: envelope.event_type,
                        lot: Some(lot),
                        occur_time: envelope.occur_time,
                    };
                    if tx.send(Ok(item)).await.is_err() {
                        return;
                    }
                }
                if caught_up {
                    tokio::select! {
                        () = inventory.changed(WATCH_POLL) => {}
                        () = tx.closed() => return,
                        () = shutdown.cancelled() => return,
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}
