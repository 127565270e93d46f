//! WGS84 coordinates and distances.

use crate::DomainError;

/// Mean Earth radius (IUGG), in metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A validated WGS84 point, in decimal degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    lat: f64,
    lon: f64,
}

impl GeoPoint {
    /// A point; latitude must be finite and within [-90, 90] (field
    /// `"latitude"`), longitude finite and within [-180, 180] (field
    /// `"longitude"`).
    pub fn new(latitude: f64, longitude: f64) -> Result<GeoPoint, DomainError> {
        check("latitude", latitude, 90.0)?;
        check("longitude", longitude, 180.0)?;
        Ok(GeoPoint {
            lat: latitude,
            lon: longitude,
        })
    }

    /// Latitude in degrees.
    pub fn latitude(self) -> f64 {
        self.lat
    }

    /// Longitude in degrees.
    pub fn longitude(self) -> f64 {
        self.lon
    }

    /// Great-circle distance in metres (haversine on a sphere of radius
    /// [`EARTH_RADIUS_M`]); about 0.5 % accuracy, plenty for matching radii.
    pub fn distance_m(self, other: GeoPoint) -> f64 {
        let (phi1, phi2) = (self.lat.to_radians(), other.lat.to_radians());
        let dphi = phi2 - phi1;
        let dlambda = (other.lon - self.lon).to_radians();
        let h =
            (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
        // Rounding can push h a hair outside [0, 1] for antipodes, making asin NaN.
        2.0 * EARTH_RADIUS_M * h.clamp(0.0, 1.0).sqrt().asin()
    }
}

fn check(field: &'static str, value: f64, bound: f64) -> Result<(), DomainError> {
    if !value.is_finite() {
        return Err(DomainError::invalid(field, "must be a finite number"));
    }
    if !(-bound..=bound).contains(&value) {
        return Err(DomainError::invalid(
            field,
            format!("must be between -{bound} and {bound}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bounds() {
        assert_eq!(
            GeoPoint::new(91.0, 0.0).unwrap_err().field(),
            Some("latitude")
        );
        assert_eq!(
            GeoPoint::new(-90.5, 0.0).unwrap_err().field(),
            Some("latitude")
        );
        assert_eq!(
            GeoPoint::new(f64::NAN, 0.0).unwrap_err().field(),
            Some("latitude")
        );
        assert_eq!(
            GeoPoint::new(f64::INFINITY, 0.0).unwrap_err().field(),
            Some("latitude")
        );
        assert_eq!(
            GeoPoint::new(0.0, 180.1).unwrap_err().field(),
            Some("longitude")
        );
        assert_eq!(
            GeoPoint::new(0.0, f64::NAN).unwrap_err().field(),
            Some("longitude")
        );
        let p = GeoPoint::new(-90.0, 180.0).unwrap();
        assert_eq!((p.latitude(), p.longitude()), (-90.0, 180.0));
        assert!(GeoPoint::new(90.0, -180.0).is_ok());
    }

    #[test]
    fn mulhouse_to_illzach() {
        let mulhouse = GeoPoint::new(47.7508, 7.3359).unwrap();
        let illzach = GeoPoint::new(47.7822, 7.3481).unwrap();
        let d = mulhouse.distance_m(illzach);
        assert!((d - 3_600.0).abs() / 3_600.0 < 0.01, "{d}");
        assert_eq!(d, illzach.distance_m(mulhouse));
        assert_eq!(mulhouse.distance_m(mulhouse), 0.0);
    }

    #[test]
    fn known_distances() {
        // A quarter meridian and half the equator.
        let pole = GeoPoint::new(90.0, 0.0).unwrap();
        let origin = GeoPoint::new(0.0, 0.0).unwrap();
        let quarter = std::f64::consts::FRAC_PI_2 * EARTH_RADIUS_M;
        assert!((origin.distance_m(pole) - quarter).abs() < 1e-6);
        let antipode = GeoPoint::new(0.0, 180.0).unwrap();
        let half = std::f64::consts::PI * EARTH_RADIUS_M;
        assert!((origin.distance_m(antipode) - half).abs() < 1e-6);
        // Across the antimeridian is short, not half the globe.
        let west = GeoPoint::new(0.0, 179.9).unwrap();
        let east = GeoPoint::new(0.0, -179.9).unwrap();
        assert!(west.distance_m(east) < 25_000.0);
    }

    fn point() -> impl Strategy<Value = GeoPoint> {
        (-90.0f64..=90.0, -180.0f64..=180.0).prop_map(|(a, o)| GeoPoint::new(a, o).unwrap())
    }

    proptest! {
        #[test]
        fn distance_is_a_metric(a in point(), b in point(), c in point()) {
            let ab = a.distance_m(b);
            prop_assert!(ab.is_finite() && ab >= 0.0);
            prop_assert!(ab <= std::f64::consts::PI * EARTH_RADIUS_M + 1e-6);
            prop_assert!((ab - b.distance_m(a)).abs() < 1e-6);
            prop_assert!(a.distance_m(a).abs() < 1e-6);
            prop_assert!(ab <= a.distance_m(c) + c.distance_m(b) + 1e-3);
        }
    }
}
