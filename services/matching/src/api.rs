//! The gRPC face of matching.

use reemploi_proto::matching as pb;
use reemploi_proto::matching::matching_service_server::MatchingService;
use reemploi_runtime::auth::principal;
use tonic::{Request, Response, Status};

use crate::error::MatchingError;
use crate::service::Matching;

/// The tonic service.
#[derive(Clone)]
pub struct MatchingApi {
    matching: Matching,
}

impl MatchingApi {
    /// Serves `matching`.
    pub fn new(matching: Matching) -> Self {
        Self { matching }
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn reply<T>(r: Result<T, MatchingError>) -> Reply<T> {
    r.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl MatchingService for MatchingApi {
    async fn list_lot_matches(
        &self,
        req: Request<pb::ListLotMatchesRequest>,
    ) -> Reply<pb::ListLotMatchesResponse> {
        let p = principal(&req)?;
        reply(self.matching.lot_matches(&p, req.into_inner()).await)
    }

    async fn recommend_lots(
        &self,
        req: Request<pb::RecommendLotsRequest>,
    ) -> Reply<pb::RecommendLotsResponse> {
        let p = principal(&req)?;
        reply(self.matching.recommend(&p, req.into_inner()).await)
    }

    async fn plan_allocation(
        &self,
        req: Request<pb::PlanAllocationRequest>,
    ) -> Reply<pb::PlanAllocationResponse> {
        let p = principal(&req)?;
        reply(self.matching.plan(&p, req.into_inner()).await)
    }
}
