//! The gRPC face of the registry: each RPC takes the caller's principal and
//! hands the request to [`Registry`].

use reemploi_domain::partner::PartnerAction;
use reemploi_proto::registry as pb;
use reemploi_proto::registry::registry_service_server::RegistryService;
use reemploi_runtime::auth::principal;
use reemploi_runtime::error::ApiError;
use tonic::{Request, Response, Status};

use crate::error::RegistryError;
use crate::service::Registry;

/// The tonic service.
#[derive(Clone)]
pub struct RegistryApi {
    registry: Registry,
}

impl RegistryApi {
    /// Serves `registry`.
    pub fn new(registry: Registry) -> Self {
        Self { registry }
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn reply<T>(r: Result<T, RegistryError>) -> Reply<T> {
    r.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl RegistryService for RegistryApi {
    async fn register_partner(
        &self,
        req: Request<pb::RegisterPartnerRequest>,
    ) -> Reply<pb::Partner> {
        let p = principal(&req)?;
        reply(self.registry.register(&p, req.into_inner()).await)
    }

    async fn batch_register_partners(
        &self,
        req: Request<pb::BatchRegisterPartnersRequest>,
    ) -> Reply<pb::BatchRegisterPartnersResponse> {
        let p = principal(&req)?;
        reply(self.registry.batch_register(&p, req.into_inner()).await)
    }

    async fn get_partner(&self, req: Request<pb::GetPartnerRequest>) -> Reply<pb::Partner> {
        let p = principal(&req)?;
        reply(self.registry.get(&p, req.into_inner()).await)
    }

    async fn list_partners(
        &self,
        req: Request<pb::ListPartnersRequest>,
    ) -> Reply<pb::ListPartnersResponse> {
        let p = principal(&req)?;
        reply(self.registry.list(&p, req.into_inner()).await)
    }

    async fn update_partner(&self, req: Request<pb::UpdatePartnerRequest>) -> Reply<pb::Partner> {
        let p = principal(&req)?;
        reply(self.registry.update(&p, req.into_inner()).await)
    }

    async fn verify_partner(&self, req: Request<pb::VerifyPartnerRequest>) -> Reply<pb::Partner> {
        let p = principal(&req)?;
        let r = req.into_inner();
        reply(
            self.registry
                .change_status(&p, &r.name, &r.etag, PartnerAction::Verify)
                .await,
        )
    }

    async fn suspend_partner(&self, req: Request<pb::SuspendPartnerRequest>) -> Reply<pb::Partner> {
        let p = principal(&req)?;
        let r = req.into_inner();
        if r.reason.chars().count() > 2000 {
            return Err(ApiError::invalid("reason", "at most 2000 characters").into());
        }
        reply(
            self.registry
                .change_status(&p, &r.name, &r.etag, PartnerAction::Suspend)
                .await,
        )
    }

    async fn reinstate_partner(
        &self,
        req: Request<pb::ReinstatePartnerRequest>,
    ) -> Reply<pb::Partner> {
        let p = principal(&req)?;
        let r = req.into_inner();
        reply(
            self.registry
                .change_status(&p, &r.name, &r.etag, PartnerAction::Reinstate)
                .await,
        )
    }

    async fn archive_partner(&self, req: Request<pb::ArchivePartnerRequest>) -> Reply<pb::Partner> {
        let p = principal(&req)?;
        let r = req.into_inner();
        reply(
            self.registry
                .change_status(&p, &r.name, &r.etag, PartnerAction::Archive)
                .await,
        )
    }
}
