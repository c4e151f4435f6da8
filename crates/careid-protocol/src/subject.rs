//! The `sub` a client sees (OIDC Core §8). A `public` client gets the profile's own
//! random subject. A `pairwise` client gets one derived for its sector (§8.1), so that
//! two apps on different hosts cannot match their records of one person:
//! `base64url(SHA-256(sector || subject || salt))`, with the installation's salt (made
//! once, kept in the database, the same on every instance). The sector is the one host
//! of the client's redirect URIs; careid fetches no `sector_identifier_uri`.
//!
//! A pairwise `sub` cannot be turned back into a profile, so each one issued is recorded
//! (`careid_store::pairwise`) for /userinfo and /introspect to find.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use careid_policy::one_time;
use careid_store::{
    StoreError, pairwise,
    profiles::{self, ProfileKey},
};
use sha2::{Digest, Sha256};

use crate::{
    Client, Protocol, ProtocolError, SubjectType,
    session::{self, Person},
};

/// OIDC Core §8.1: the pairwise `sub` of `subject` in `sector`.
fn derive(sector: &str, subject: &str, salt: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(sector.as_bytes());
    hash.update(subject.as_bytes());
    hash.update(salt.as_bytes());
    URL_SAFE_NO_PAD.encode(hash.finalize())
}

/// The `sub` `client` gets for `profile`; a pairwise one is recorded so that it can be
/// looked up later.
pub(crate) async fn issue(
    app: &Protocol,
    client: &Client,
    profile: &profiles::Profile,
) -> Result<String, ProtocolError> {
    if client.subject_type == SubjectType::Public {
        return Ok(profile.subject.clone());
    }
    let sector = client.sector_identifier().ok_or_else(|| {
        ProtocolError::Internal(format!(
            "pairwise client {} has redirect URIs on several hosts",
            client.client_id
        ))
    })?;
    let salt = app.pairwise_salt().await?;
    let sub = derive(&sector, &profile.subject, salt);
    pairwise::insert_subject(&app.db, &sub, profile.id, app.clock.now()).await?;
    Ok(sub)
}

/// The person a pairwise `sub` careid issued stands for, if their account may still
/// act. (A public `sub` is a profile's own `subject`, read with the profile.)
pub(crate) async fn find_pairwise_person(
    app: &Protocol,
    sub: &str,
) -> Result<Option<Person>, StoreError> {
    match pairwise::find_profile_id(&app.db, sub).await? {
        Some(id) => session::person_in_good_standing(app, &app.db, ProfileKey::Id(id)).await,
        None => Ok(None),
    }
}

impl Protocol {
    /// The installation's pairwise salt: read (or made, by the first instance to need
    /// it) once, then kept.
    pub(crate) async fn pairwise_salt(&self) -> Result<&str, StoreError> {
        let salt = self
            .pairwise_salt
            .get_or_try_init(|| async {
                let candidate = one_time::new_token();
                pairwise::find_or_insert_salt(&self.db, &candidate, self.clock.now()).await
            })
            .await?;
        Ok(salt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pairwise_subject_depends_on_sector_subject_and_salt() {
        let base = derive("diary.example", "abc", "salt");
        assert_eq!(base, derive("diary.example", "abc", "salt"), "stable");
        assert_eq!(base.len(), 43, "base64url of 32 bytes, unpadded");
        for other in [
            derive("mood.example", "abc", "salt"),
            derive("diary.example", "abd", "salt"),
            derive("diary.example", "abc", "pepper"),
        ] {
            assert_ne!(base, other);
        }
        // Python: urlsafe_b64encode(sha256(b"diary.exampleabcsalt").digest()).rstrip(b"=")
        assert_eq!(
            base,
            URL_SAFE_NO_PAD.encode(Sha256::digest(b"diary.exampleabcsalt"))
        );
    }
}
