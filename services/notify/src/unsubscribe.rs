//! The unsubscribe links of emails: a token naming an account and a kind,
//! signed with the service's own key, so that following the link turns that
//! kind off without signing in, and nobody can make one for someone else.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use reemploi_store::{Db, StoreError};
use sha2::Sha256;
use uuid::Uuid;

use crate::model::Kind;

/// The row of `service_keys` holding the key.
const KEY_NAME: &str = "unsubscribe";

/// Signs and checks unsubscribe tokens.
#[derive(Clone)]
pub struct Unsubscriber {
    key: Vec<u8>,
}

impl std::fmt::Debug for Unsubscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unsubscriber(..)")
    }
}

impl Unsubscriber {
    /// A signer with `key`.
    pub fn new(key: &[u8]) -> Unsubscriber {
        Unsubscriber { key: key.to_vec() }
    }

    /// The signer of the service whose database is `db`: its key is made
    /// there on first use, the same for every replica.
    pub async fn load(db: &Db) -> Result<Unsubscriber, StoreError> {
        let fresh: [u8; 32] = rand::random();
        sqlx::query(
            "INSERT INTO service_keys (name, secret) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(KEY_NAME)
        .bind(URL_SAFE_NO_PAD.encode(fresh))
        .execute(db.pool())
        .await?;
        let secret: String = sqlx::query_scalar("SELECT secret FROM service_keys WHERE name = $1")
            .bind(KEY_NAME)
            .fetch_one(db.pool())
            .await?;
        Ok(Unsubscriber::new(secret.as_bytes()))
    }

    fn mac(&self, text: &str) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        mac.update(b"unsubscribe|");
        mac.update(text.as_bytes());
        mac
    }

    /// The token that turns `kind` off for `account`.
    pub fn token(&self, account: Uuid, kind: Kind) -> String {
        let text = format!("{account}.{}", kind.as_str());
        let sig = URL_SAFE_NO_PAD.encode(self.mac(&text).finalize().into_bytes());
        format!("{text}.{sig}")
    }

    /// The account and kind of a token this service signed.
    pub fn verify(&self, token: &str) -> Option<(Uuid, Kind)> {
        let (text, sig) = token.rsplit_once('.')?;
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        self.mac(text).verify_slice(&sig).ok()?;
        let (account, kind) = text.split_once('.')?;
        Some((Uuid::try_parse(account).ok()?, Kind::parse(kind)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_account_and_kind_and_nothing_else() {
        let signer = Unsubscriber::new(b"one key");
        let account = Uuid::now_v7();
        let token = signer.token(account, Kind::ClaimReserved);
        assert_eq!(signer.verify(&token), Some((account, Kind::ClaimReserved)));
        assert_eq!(Unsubscriber::new(b"another key").verify(&token), None);
        let other = token.replace("claim_reserved", "claim_cancelled");
        assert_eq!(signer.verify(&other), None);
        assert_eq!(signer.verify("nothing"), None);
    }
}
