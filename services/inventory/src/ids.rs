//! The ids of new sites and lots (AIP-133): the one their creator chose, or
//! for a lot its diagnostic reference made an id (`M1` -> `m1`) when no lot
//! of its site has that id yet, else a UUIDv7. A lot's id is unique within
//! its site only.

use std::collections::HashSet;

use reemploi_runtime::names::{Id, LotName, SiteName};
use reemploi_runtime::validation::Check;
use sqlx::AnyConnection;

use crate::error::{InventoryError, Result};
use crate::repo::{self, Backend};

/// The id a request chose in `field`, validated; `None` when left empty.
pub fn chosen(c: &mut Check, field: &str, text: &str) -> Option<Id> {
    if text.is_empty() {
        None
    } else {
        c.take(Id::chosen(field, text))
    }
}

/// The ids of new lots of `site`, in order, each wanted as (its chosen id,
/// its reference): a chosen id as it is (see [`refuse_taken_lots`]), else
/// the reference's id if neither a lot of the site nor an earlier lot of
/// these has it, else a new UUIDv7.
///
/// The site's row is held until the commit, so that creations on one site
/// choose ids one after the other: a reference's id is never given twice
/// by a race, and a chosen one found free is free at the commit.
pub async fn lot_ids(
    conn: &mut AnyConnection,
    backend: Backend,
    site: Id,
    wanted: &[(Option<Id>, &str)],
) -> Result<Vec<Id>> {
    // PostgreSQL needs the row lock; SQLite's write transactions are one
    // at a time already.
    repo::get_site(conn, site, Some(backend)).await?;
    let suggested: Vec<Option<Id>> = wanted
        .iter()
        .map(|(chosen, reference)| match chosen {
            Some(_) => None,
            None => Id::suggested(reference),
        })
        .collect();
    let asked: Vec<&str> = suggested.iter().flatten().map(Id::as_str).collect();
    let mut used: HashSet<String> = if asked.is_empty() {
        HashSet::new()
    } else {
        repo::lot_ids_taken(conn, site, &asked).await?
    };
    // Chosen ids are the creators' word: a reference never takes one.
    used.extend(
        wanted
            .iter()
            .filter_map(|(c, _)| c.map(|id| id.to_string())),
    );
    let mut ids = Vec::with_capacity(wanted.len());
    for ((chosen, _), suggestion) in wanted.iter().zip(suggested) {
        let id = match (chosen, suggestion) {
            (Some(id), _) => *id,
            (None, Some(id)) if used.insert(id.to_string()) => id,
            (None, _) => Id::generate(),
        };
        ids.push(id);
    }
    Ok(ids)
}

/// The first version of each new lot of `site`: 1, or one past the
/// deletion of a draft that had its id, so that the services following the
/// lot events take the new lot as newer than that deletion.
pub async fn first_versions(conn: &mut AnyConnection, site: Id, ids: &[Id]) -> Result<Vec<i64>> {
    let asked: Vec<&str> = ids.iter().map(Id::as_str).collect();
    let deleted = repo::deleted_versions(conn, site, &asked).await?;
    Ok(ids
        .iter()
        .map(|id| deleted.get(id.as_str()).map_or(1, |v| v + 1))
        .collect())
}

/// ALREADY_EXISTS when a lot of `site` has one of the `chosen` ids.
pub async fn refuse_taken_lots(conn: &mut AnyConnection, site: Id, chosen: &[Id]) -> Result<()> {
    if chosen.is_empty() {
        return Ok(());
    }
    let asked: Vec<&str> = chosen.iter().map(Id::as_str).collect();
    let taken = repo::lot_ids_taken(conn, site, &asked).await?;
    match chosen.iter().find(|id| taken.contains(id.as_str())) {
        Some(lot) => Err(InventoryError::AlreadyExists {
            kind: "lot",
            name: LotName { site, lot: *lot }.to_string(),
        }),
        None => Ok(()),
    }
}

/// ALREADY_EXISTS when a site has the `chosen` id.
pub async fn refuse_taken_site(conn: &mut AnyConnection, chosen: Option<Id>) -> Result<()> {
    let Some(id) = chosen else { return Ok(()) };
    match repo::get_site(conn, id, None).await? {
        Some(_) => Err(InventoryError::AlreadyExists {
            kind: "site",
            name: SiteName(id).to_string(),
        }),
        None => Ok(()),
    }
}
