//! The address of the person behind a request, forwarded to the identity
//! service on the calls it throttles per address (sign-in, sign-up,
//! renewals, links): without it, everyone signing in through the web app
//! would share the web app's own address. The identity service believes it
//! only from the proxies it is told to trust (`--trusted-proxy`).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::Extensions;
use axum::http::request::Parts;
use reemploi_runtime::limit::FORWARDED_FOR;

/// The peer address of the request, when the server knows it.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    /// The address recorded in a request's extensions.
    pub fn of(extensions: &Extensions) -> ClientIp {
        ClientIp(
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip()),
        )
    }

    /// `message` as a gRPC request naming this client.
    pub fn request<T>(self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(value) = self.0.and_then(|ip| ip.to_string().parse().ok()) {
            request.metadata_mut().insert(FORWARDED_FOR, value);
        }
        crate::backend::traced(request)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp::of(&parts.extensions))
    }
}
