//! The places of the territory figures are drawn at: the communes (by INSEE
//! code) and the NPNRU quartiers (by name) of the project's sample file
//! `demo/m2a-places.csv`, compiled in. Approximate centres, sample data:
//! enough to put a figure on a map, no survey of the territory.

use std::sync::LazyLock;

/// The sample file: `kind,name,commune,insee,lat,lon`, WGS84 degrees.
const PLACES_CSV: &str = include_str!("../../../demo/m2a-places.csv");

/// A commune or a quartier.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    /// `commune` or `quartier`.
    pub kind: String,
    /// Its name, e.g. `Coteaux`.
    pub name: String,
    /// The commune's name (a commune's own name).
    pub commune: String,
    /// The commune's INSEE code.
    pub insee: String,
    /// Latitude, WGS84 degrees.
    pub lat: f64,
    /// Longitude, WGS84 degrees.
    pub lon: f64,
}

/// The places of the compiled-in file; a line that cannot be read is left
/// out (the unit tests read them all).
static PLACES: LazyLock<Vec<Place>> = LazyLock::new(|| parse(PLACES_CSV));

fn parse(text: &str) -> Vec<Place> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    reader
        .records()
        .filter_map(|r| {
            let r = r.ok()?;
            let cell = |i: usize| r.get(i).map(|c| c.trim().to_owned());
            let degrees = |i: usize| cell(i)?.parse::<f64>().ok().filter(|v: &f64| v.is_finite());
            Some(Place {
                kind: cell(0)?,
                name: cell(1)?,
                commune: cell(2)?,
                insee: cell(3)?,
                lat: degrees(4)?,
                lon: degrees(5)?,
            })
        })
        .collect()
}

/// The commune of this INSEE code.
pub fn commune(insee: &str) -> Option<&'static Place> {
    let insee = insee.trim();
    PLACES
        .iter()
        .find(|p| p.kind == "commune" && p.insee == insee)
}

/// The quartier of this name, as the sites' operations spell it (case and
/// surrounding spaces aside).
pub fn quartier(name: &str) -> Option<&'static Place> {
    let name = name.trim().to_lowercase();
    PLACES
        .iter()
        .find(|p| p.kind == "quartier" && p.name.to_lowercase() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_of_the_places_file_is_read() {
        assert_eq!(PLACES.len(), PLACES_CSV.lines().count() - 1);
        let mulhouse = commune("68224").expect("Mulhouse");
        assert_eq!(mulhouse.name, "Mulhouse");
        let coteaux = quartier(" coteaux ").expect("Coteaux");
        assert_eq!(
            (coteaux.commune.as_str(), coteaux.insee.as_str()),
            ("Mulhouse", "68224")
        );
        assert!((coteaux.lat - 47.746).abs() < 1e-9 && (coteaux.lon - 7.301).abs() < 1e-9);
        assert!(quartier("Mulhouse").is_none(), "a commune is no quartier");
        assert!(commune("99999").is_none());
    }
}
