//! `reemploi.identity.v1.IdentityService` over [`Identity`]: each method
//! takes the caller (when it needs one) and hands over to the operation.

use reemploi_proto::identity as pb;
use reemploi_proto::identity::identity_service_server::IdentityService;
use reemploi_runtime::auth::caller;
use reemploi_runtime::service::answer;
use tonic::{Request, Response, Status};

use crate::error::IdentityError;
use crate::service::Identity;

/// The reply of a gRPC method.
type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl IdentityService for Identity {
    async fn sign_in(&self, request: Request<pb::SignInRequest>) -> Reply<pb::Session> {
        let peer = request.remote_addr().map(|a| a.ip());
        answer::<_, IdentityError>(self.sign_in(request.into_inner(), peer)).await
    }

    async fn refresh(&self, request: Request<pb::RefreshRequest>) -> Reply<pb::Session> {
        answer::<_, IdentityError>(Identity::refresh(self, request.into_inner())).await
    }

    async fn sign_out(&self, request: Request<pb::SignOutRequest>) -> Reply<pb::SignOutResponse> {
        answer::<_, IdentityError>(Identity::sign_out(self, request.into_inner())).await
    }

    async fn sign_up(&self, request: Request<pb::SignUpRequest>) -> Reply<pb::Session> {
        answer::<_, IdentityError>(Identity::sign_up(self, request.into_inner())).await
    }

    async fn create_invitation(
        &self,
        request: Request<pb::CreateInvitationRequest>,
    ) -> Reply<pb::Invitation> {
        let (p, req) = caller(request)?;
        answer::<_, IdentityError>(Identity::create_invitation(self, &p, req)).await
    }

    async fn accept_invitation(
        &self,
        request: Request<pb::AcceptInvitationRequest>,
    ) -> Reply<pb::Session> {
        answer::<_, IdentityError>(Identity::accept_invitation(self, request.into_inner())).await
    }

    async fn request_password_reset(
        &self,
        request: Request<pb::RequestPasswordResetRequest>,
    ) -> Reply<pb::RequestPasswordResetResponse> {
        answer::<_, IdentityError>(Identity::request_password_reset(self, request.into_inner()))
            .await
    }

    async fn reset_password(
        &self,
        request: Request<pb::ResetPasswordRequest>,
    ) -> Reply<pb::ResetPasswordResponse> {
        answer::<_, IdentityError>(Identity::reset_password(self, request.into_inner())).await
    }

    async fn get_account(&self, request: Request<pb::GetAccountRequest>) -> Reply<pb::Account> {
        let (p, req) = caller(request)?;
        answer::<_, IdentityError>(async move {
            Ok(self.account_named(&p, &req.name).await?.to_proto())
        })
        .await
    }

    async fn list_accounts(
        &self,
        request: Request<pb::ListAccountsRequest>,
    ) -> Reply<pb::ListAccountsResponse> {
        let (p, req) = caller(request)?;
        answer::<_, IdentityError>(Identity::list_accounts(self, &p, req)).await
    }

    async fn disable_account(
        &self,
        request: Request<pb::DisableAccountRequest>,
    ) -> Reply<pb::Account> {
        let (p, req) = caller(request)?;
        answer::<_, IdentityError>(Identity::disable_account(self, &p, &req.name)).await
    }

    async fn create_api_token(
        &self,
        request: Request<pb::CreateApiTokenRequest>,
    ) -> Reply<pb::CreateApiTokenResponse> {
        let (p, req) = caller(request)?;
        answer::<_, IdentityError>(Identity::create_api_token(self, &p, req)).await
    }

    async fn list_api_tokens(
        &self,
        request: Request<pb::ListApiTokensRequest>,
    ) -> Reply<pb::ListApiTokensResponse> {
        let (p, req) = caller(request)?;
        answer::<_, IdentityError>(Identity::list_api_tokens(self, &p, req)).await
    }

    async fn revoke_api_token(
        &self,
        request: Request<pb::RevokeApiTokenRequest>,
    ) -> Reply<pb::ApiToken> {
        let (p, req) = caller(request)?;
        answer::<_, IdentityError>(Identity::revoke_api_token(self, &p, &req.name)).await
    }

    async fn get_jwks(&self, _request: Request<pb::GetJwksRequest>) -> Reply<pb::Jwks> {
        answer::<_, IdentityError>(self.jwks()).await
    }

    async fn rotate_signing_keys(
        &self,
        request: Request<pb::RotateSigningKeysRequest>,
    ) -> Reply<pb::Jwks> {
        let (p, req) = caller(request)?;
        answer::<_, IdentityError>(self.rotate_keys(&p, req.retire_previous)).await
    }
}
