//! Which column of a diagnostic fills which field of a lot. A column is
//! found by its header, French or English, whatever its case and accents:
//! first the usual headers exactly, then the longer headers of the official
//! PEMD form and its variants by their first words (`Désignation du
//! produit/matériau`, `Quantité estimée`, `Unité de mesure`), and the mass
//! by the word that names it, in tonnes when the header says so (`Masse
//! (t)`, `Tonnage`), else in kilograms. `--map COLUMN=FIELD` settles the
//! rest before any of that.

use std::str::FromStr;

use crate::cells::MassUnit;
use crate::sheet::{Row, Sheet, normalize};
use crate::{ImportError, MissingColumn};

/// A field of a lot that a column fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// The diagnostic's reference of the row (`M1`), which a re-import
    /// matches.
    Reference,
    /// What the material is.
    Designation,
    /// A category of the taxonomy, by code or label.
    Category,
    /// How much of it.
    Quantity,
    /// In which unit.
    Unit,
    /// Its estimated mass in kilograms.
    MassKg,
    /// Its estimated mass in tonnes.
    MassT,
    /// Where it is in the building.
    Location,
    /// Its condition.
    Condition,
    /// What it is good for.
    ReusePotential,
    /// Its European List of Waste code.
    WasteCode,
    /// Its known hazards.
    Hazard,
    /// Anything else said of it.
    Description,
}

impl Field {
    /// Every field, in the order a row's reasons are given.
    pub const ALL: [Field; 13] = [
        Field::Reference,
        Field::Designation,
        Field::Category,
        Field::Quantity,
        Field::Unit,
        Field::MassKg,
        Field::MassT,
        Field::Location,
        Field::Condition,
        Field::ReusePotential,
        Field::WasteCode,
        Field::Hazard,
        Field::Description,
    ];

    /// The name `--map` takes and reports give.
    pub fn code(self) -> &'static str {
        match self {
            Field::Reference => "reference",
            Field::Designation => "designation",
            Field::Category => "category",
            Field::Quantity => "quantity",
            Field::Unit => "unit",
            Field::MassKg => "mass_kg",
            Field::MassT => "mass_t",
            Field::Location => "location",
            Field::Condition => "condition",
            Field::ReusePotential => "reuse_potential",
            Field::WasteCode => "waste_code",
            Field::Hazard => "hazard",
            Field::Description => "description",
        }
    }

    /// A field by its name, whatever its case, `-` or `_`.
    pub fn parse(name: &str) -> Option<Field> {
        let wanted = normalize(name);
        Field::ALL
            .into_iter()
            .find(|f| normalize(f.code()) == wanted)
    }

    /// The lot's field it fills, as UpdateLot's mask names it: none for
    /// the reference (which names the row) and the unit (which goes with
    /// the quantity).
    pub fn lot_field(self) -> Option<&'static str> {
        match self {
            Field::Reference | Field::Unit => None,
            Field::Designation => Some("designation"),
            Field::Category => Some("category"),
            Field::Quantity => Some("quantity"),
            Field::MassKg | Field::MassT => Some("estimated_mass_g"),
            Field::Location => Some("building_location"),
            Field::Condition => Some("condition"),
            Field::ReusePotential => Some("reuse_potential"),
            Field::WasteCode => Some("waste_code"),
            Field::Hazard => Some("hazards"),
            Field::Description => Some("description"),
        }
    }

    /// The unit of a mass field.
    pub fn mass_unit(self) -> Option<MassUnit> {
        match self {
            Field::MassKg => Some(MassUnit::Kilogram),
            Field::MassT => Some(MassUnit::Tonne),
            _ => None,
        }
    }

    /// Whether both fill the same thing (the two masses do).
    fn same(self, other: Field) -> bool {
        self == other || (self.mass_unit().is_some() && other.mass_unit().is_some())
    }
}

/// The headers (normalised) of a field: those taken as they are, then the
/// first words of longer ones.
struct Names {
    field: Field,
    exact: &'static [&'static str],
    prefixes: &'static [&'static str],
}

/// Every field but the mass, found by the word that names it.
const NAMES: &[Names] = &[
    Names {
        field: Field::Reference,
        exact: &[
            "ref",
            "reference",
            "id",
            "n",
            "no",
            "numero",
            "repere",
            "num",
        ],
        prefixes: &[
            "reference",
            "ref",
            "repere",
            "numero",
            "identifiant",
            "n",
            "no",
        ],
    },
    Names {
        field: Field::Designation,
        exact: &[
            "designation",
            "libelle",
            "materiau",
            "material",
            "name",
            "nom",
            "element",
            "intitule",
            "produit",
        ],
        prefixes: &[
            "designation",
            "libelle",
            "intitule",
            "nom",
            "name",
            "produit",
            "materiau",
            "material",
            "element",
            "item",
        ],
    },
    Names {
        field: Field::Category,
        exact: &["categorie", "category", "code categorie", "category code"],
        prefixes: &["categorie", "category", "code categorie"],
    },
    Names {
        field: Field::Quantity,
        exact: &["quantite", "quantity", "qty", "qte", "quantites"],
        prefixes: &["quantite", "quantites", "quantity", "qty", "qte", "nombre"],
    },
    Names {
        field: Field::Unit,
        exact: &["unite", "unit", "u", "unites", "units"],
        prefixes: &["unite", "unites", "unit", "units"],
    },
    Names {
        field: Field::Location,
        exact: &[
            "localisation",
            "location",
            "emplacement",
            "building location",
            "situation",
        ],
        prefixes: &[
            "localisation",
            "location",
            "emplacement",
            "situation",
            "lieu",
        ],
    },
    Names {
        field: Field::Condition,
        exact: &["etat", "condition", "state", "etat de conservation"],
        prefixes: &["etat", "condition", "state"],
    },
    Names {
        field: Field::ReusePotential,
        exact: &[
            "potentiel de reemploi",
            "reuse potential",
            "potentiel",
            "potentiel reemploi",
            "orientation",
            "exutoire",
        ],
        prefixes: &[
            "potentiel",
            "reuse",
            "reemploi",
            "reemployable",
            "orientation",
            "exutoire",
        ],
    },
    Names {
        field: Field::WasteCode,
        exact: &[
            "code dechet",
            "waste code",
            "code ced",
            "ced",
            "code dechets",
            "ldc",
            "code ler",
            "ler",
        ],
        prefixes: &[
            "code dechet",
            "code dechets",
            "code de dechet",
            "code ced",
            "code ler",
            "code nomenclature",
            "nomenclature",
            "waste code",
        ],
    },
    Names {
        field: Field::Hazard,
        exact: &[
            "danger",
            "hazard",
            "dangers",
            "hazards",
            "polluant",
            "polluants",
        ],
        prefixes: &[
            "danger",
            "dangers",
            "dangerosite",
            "dangereux",
            "caractere dangereux",
            "hazard",
            "hazards",
            "polluant",
            "polluants",
            "substances dangereuses",
        ],
    },
    Names {
        field: Field::Description,
        exact: &[
            "description",
            "remarque",
            "remarques",
            "observations",
            "commentaire",
            "notes",
        ],
        prefixes: &[
            "description",
            "remarque",
            "remarques",
            "observation",
            "observations",
            "commentaire",
            "commentaires",
            "notes",
        ],
    },
];

/// The words that name a mass column.
const MASS_WORDS: &[&str] = &["masse", "mass", "poids", "weight", "tonnage"];
/// Words of a mass that is not the lot's (per unit, per volume): such a
/// column is not read as the lot's mass.
const NOT_THE_LOTS_MASS: &[&str] = &[
    "unitaire",
    "volumique",
    "lineique",
    "surfacique",
    "par",
    "per",
    "unit",
    "density",
    "densite",
];
/// Words that say a mass is in tonnes.
const TONNES: &[&str] = &["t", "tonne", "tonnes", "tonnage"];

/// The mass field a normalised header names, if it names the lot's mass.
fn mass_field(header: &str) -> Option<Field> {
    let words: Vec<&str> = header.split(' ').collect();
    let any = |list: &[&str]| words.iter().any(|w| list.contains(w));
    if !any(MASS_WORDS) || any(NOT_THE_LOTS_MASS) {
        return None;
    }
    Some(if any(TONNES) {
        Field::MassT
    } else {
        Field::MassKg
    })
}

/// Whether a normalised header is `prefix` or starts with its words.
fn starts_with_words(header: &str, prefix: &str) -> bool {
    header == prefix
        || header
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with(' '))
}

/// A `--map COLUMN=FIELD`: the header of a column as written, and the
/// field it fills (`None`: the column is ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The header, compared whatever its case and accents.
    pub column: String,
    /// The field, or `None` for `ignore`.
    pub field: Option<Field>,
}

impl FromStr for Mapping {
    type Err = String;

    fn from_str(s: &str) -> Result<Mapping, String> {
        let fields = || {
            Field::ALL
                .iter()
                .map(|f| f.code())
                .collect::<Vec<_>>()
                .join(", ")
        };
        // The header may hold `=`; the field never does.
        let Some((column, field)) = s.rsplit_once('=') else {
            return Err(format!(
                "expected COLUMN=FIELD, e.g. \"Désignation du produit=designation\"; FIELD is one of {}, or ignore",
                fields()
            ));
        };
        let column = column.trim();
        if normalize(column).is_empty() {
            return Err(format!("{s:?}: no column before ="));
        }
        let field = match field.trim() {
            f if f.eq_ignore_ascii_case("ignore") => None,
            f => Some(Field::parse(f).ok_or_else(|| {
                format!(
                    "{f:?} is not a field: FIELD is one of {}, or ignore",
                    fields()
                )
            })?),
        };
        Ok(Mapping {
            column: column.to_owned(),
            field,
        })
    }
}

/// Why `--map` does not fit a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// A mapped column the header row does not have.
    #[error("--map {column:?}: the header row has no such column; it has: {}", .headers.join(", "))]
    NoColumn {
        /// The column as given.
        column: String,
        /// The headers the file has.
        headers: Vec<String>,
    },
    /// A column mapped twice.
    #[error("--map names the column {column:?} twice")]
    ColumnTwice {
        /// The column as given the second time.
        column: String,
    },
    /// A field given two columns.
    #[error("--map gives {field} two columns, {first:?} and {second:?}")]
    FieldTwice {
        /// The field.
        field: &'static str,
        /// Its first column.
        first: String,
        /// Its second column.
        second: String,
    },
}

/// Checks that every mapped column is in the header row, and that no
/// column and no field is mapped twice.
pub fn check_mappings(sheet: &Sheet, maps: &[Mapping]) -> Result<(), MapError> {
    let headers: Vec<String> = sheet.headers.iter().map(|h| normalize(h)).collect();
    for (i, m) in maps.iter().enumerate() {
        let column = normalize(&m.column);
        if !headers.contains(&column) {
            return Err(MapError::NoColumn {
                column: m.column.clone(),
                headers: sheet.headers.clone(),
            });
        }
        let earlier = &maps[..i];
        if earlier.iter().any(|e| normalize(&e.column) == column) {
            return Err(MapError::ColumnTwice {
                column: m.column.clone(),
            });
        }
        let same_field = earlier
            .iter()
            .find(|e| matches!((e.field, m.field), (Some(a), Some(b)) if a.same(b)));
        if let (Some(first), Some(field)) = (same_field, m.field) {
            return Err(MapError::FieldTwice {
                field: field.code(),
                first: first.column.clone(),
                second: m.column.clone(),
            });
        }
    }
    Ok(())
}

/// Where each field's column is, and what the header row says besides.
#[derive(Debug, Clone)]
pub struct Layout {
    found: Vec<(Field, usize)>,
    /// The headers of the columns nobody reads (not the ignored ones).
    pub unused: Vec<String>,
    /// Each field read, in field order, and the header it is read from.
    pub columns: Vec<(Field, String)>,
}

impl Layout {
    /// Finds every field's column: the mapped ones, then by header. A
    /// missing required column makes the file unusable. Mapped columns
    /// not in the file are left out (see [`check_mappings`]).
    pub fn find(sheet: &Sheet, maps: &[Mapping]) -> Result<Layout, ImportError> {
        let headers: Vec<String> = sheet.headers.iter().map(|h| normalize(h)).collect();
        let mut claimed = vec![false; headers.len()];
        let mut found: Vec<(Field, usize)> = Vec::new();
        for m in maps {
            let column = normalize(&m.column);
            if let Some(i) = headers.iter().position(|h| *h == column) {
                claimed[i] = true;
                found.extend(m.field.map(|f| (f, i)));
            }
        }
        let mut take =
            |found: &mut Vec<(Field, usize)>, field: Field, fits: &dyn Fn(&str) -> bool| {
                if found.iter().any(|(f, _)| f.same(field)) {
                    return;
                }
                let free = (0..headers.len()).find(|i| !claimed[*i] && fits(&headers[*i]));
                if let Some(i) = free {
                    claimed[i] = true;
                    found.push((field, i));
                }
            };
        for names in NAMES {
            for alias in names.exact {
                take(&mut found, names.field, &|h| h == *alias);
            }
        }
        for names in NAMES {
            take(&mut found, names.field, &|h| {
                names.prefixes.iter().any(|p| starts_with_words(h, p))
            });
        }
        for mass in [Field::MassKg, Field::MassT] {
            take(&mut found, mass, &|h| mass_field(h) == Some(mass));
        }
        Layout::checked(sheet, maps, found)
    }

    /// The layout, once every required field has its column.
    fn checked(
        sheet: &Sheet,
        maps: &[Mapping],
        mut found: Vec<(Field, usize)>,
    ) -> Result<Layout, ImportError> {
        let required = [
            (Field::Designation, "designation"),
            (Field::Category, "categorie"),
            (Field::Quantity, "quantite"),
            (Field::Unit, "unite"),
        ];
        let missing: Vec<MissingColumn> = required
            .into_iter()
            .filter(|(f, _)| !found.iter().any(|(g, _)| g == f))
            .map(|(f, example)| MissingColumn {
                field: f.code(),
                example,
            })
            .collect();
        if !missing.is_empty() {
            return Err(ImportError::MissingColumns {
                missing,
                headers: sheet.headers.clone(),
            });
        }
        found.sort_by_key(|(f, _)| Field::ALL.iter().position(|g| g == f));
        let ignored: Vec<String> = maps
            .iter()
            .filter(|m| m.field.is_none())
            .map(|m| normalize(&m.column))
            .collect();
        let unused = sheet
            .headers
            .iter()
            .enumerate()
            .filter(|(i, h)| {
                !normalize(h).is_empty()
                    && !found.iter().any(|(_, j)| j == i)
                    && !ignored.contains(&normalize(h))
            })
            .map(|(_, h)| h.clone())
            .collect();
        let columns = found
            .iter()
            .map(|(f, i)| (*f, sheet.headers.get(*i).cloned().unwrap_or_default()))
            .collect();
        Ok(Layout {
            found,
            unused,
            columns,
        })
    }

    /// Whether the file has a column for `field`.
    pub fn has(&self, field: Field) -> bool {
        self.found.iter().any(|(f, _)| *f == field)
    }

    /// The cell of `field` in a row; empty when the file has no such column.
    pub fn get<'a>(&self, row: &'a Row, field: Field) -> &'a str {
        self.found
            .iter()
            .find(|(f, _)| *f == field)
            .and_then(|(_, i)| row.cells.get(*i))
            .map_or("", String::as_str)
    }

    /// The mass column's unit and cell in a row, if the file has one.
    pub fn mass<'a>(&self, row: &'a Row) -> Option<(crate::cells::MassUnit, &'a str)> {
        [Field::MassKg, Field::MassT]
            .into_iter()
            .find(|f| self.has(*f))
            .and_then(|f| Some((f.mass_unit()?, self.get(row, f))))
    }

    /// The lot fields the file's columns fill, as UpdateLot's mask names
    /// them.
    pub fn lot_fields(&self) -> Vec<&'static str> {
        let mut fields: Vec<&'static str> = self
            .found
            .iter()
            .filter_map(|(f, _)| f.lot_field())
            .collect();
        fields.dedup();
        fields
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::sheet::read_csv;

    fn layout(header: &str, maps: &[&str]) -> Result<Layout, ImportError> {
        let sheet = read_csv(format!("{header}\n").as_bytes()).unwrap();
        let maps: Vec<Mapping> = maps.iter().map(|m| m.parse().unwrap()).collect();
        check_mappings(&sheet, &maps).unwrap();
        Layout::find(&sheet, &maps)
    }

    fn read(layout: &Layout) -> Vec<(&'static str, &str)> {
        layout
            .columns
            .iter()
            .map(|(f, h)| (f.code(), h.as_str()))
            .collect()
    }

    #[test]
    fn the_official_form_headers_are_found() {
        let l = layout(
            "N°;Désignation du produit/matériau;Catégorie;Quantité estimée;Unité de mesure;\
             Masse unitaire (kg);Masse (t);Localisation dans le bâtiment;État de conservation;\
             Potentiel de réemploi (oui/non);Code déchet (nomenclature);Caractère dangereux;Observations",
            &[],
        )
        .unwrap();
        assert_eq!(
            read(&l),
            vec![
                ("reference", "N°"),
                ("designation", "Désignation du produit/matériau"),
                ("category", "Catégorie"),
                ("quantity", "Quantité estimée"),
                ("unit", "Unité de mesure"),
                ("mass_t", "Masse (t)"),
                ("location", "Localisation dans le bâtiment"),
                ("condition", "État de conservation"),
                ("reuse_potential", "Potentiel de réemploi (oui/non)"),
                ("waste_code", "Code déchet (nomenclature)"),
                ("hazard", "Caractère dangereux"),
                ("description", "Observations"),
            ]
        );
        assert_eq!(l.unused, vec!["Masse unitaire (kg)"]);
        for field in ["designation", "quantity", "estimated_mass_g", "hazards"] {
            assert!(l.lot_fields().contains(&field), "{field}");
        }
    }

    #[test]
    fn masses_in_kilograms_unless_the_header_says_tonnes() {
        for (header, field) in [
            ("Masse (kg)", Field::MassKg),
            ("mass_kg", Field::MassKg),
            ("Poids", Field::MassKg),
            ("Estimated mass (kg)", Field::MassKg),
            ("Masse estimée (t)", Field::MassT),
            ("Poids total (tonnes)", Field::MassT),
            ("Tonnage", Field::MassT),
        ] {
            let l = layout(&format!("designation,category,quantity,unit,{header}"), &[]).unwrap();
            assert!(l.has(field), "{header}: {:?}", l.columns);
        }
        let l = layout(
            "designation,category,quantity,unit,Masse volumique (kg/m3)",
            &[],
        )
        .unwrap();
        assert!(
            !l.has(Field::MassKg) && !l.has(Field::MassT),
            "{:?}",
            l.columns
        );
    }

    #[test]
    fn mappings_come_first_and_are_checked() {
        let l = layout(
            "Article;Famille;Qté;U;Catégorie;Poids (kg);Masse (t)",
            &[
                "Article=designation",
                "famille=category",
                "Catégorie=ignore",
                "Masse (t)=mass_t",
            ],
        )
        .unwrap();
        assert_eq!(
            read(&l),
            vec![
                ("designation", "Article"),
                ("category", "Famille"),
                ("quantity", "Qté"),
                ("unit", "U"),
                ("mass_t", "Masse (t)"),
            ]
        );
        // The ignored column is not reported; the other mass is.
        assert_eq!(l.unused, vec!["Poids (kg)"]);

        let sheet = read_csv(b"a;b\n").unwrap();
        let map = |s: &str| s.parse::<Mapping>().unwrap();
        let err = check_mappings(&sheet, &[map("c=designation")]).unwrap_err();
        assert!(err.to_string().contains("no such column") && err.to_string().contains("a, b"));
        let err = check_mappings(&sheet, &[map("a=mass_kg"), map("b=mass_t")]).unwrap_err();
        assert!(err.to_string().contains("two columns"), "{err}");
        let err = check_mappings(&sheet, &[map("a=unit"), map("A=ignore")]).unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
        let err = "a=colour".parse::<Mapping>().unwrap_err();
        assert!(err.contains("mass_t") && err.contains("ignore"), "{err}");
        assert!("designation".parse::<Mapping>().is_err());
        assert_eq!(
            "x=y=Mass-KG".parse::<Mapping>().unwrap(),
            Mapping {
                column: "x=y".to_owned(),
                field: Some(Field::MassKg)
            }
        );
    }

    #[test]
    fn a_missing_required_column_names_it_and_an_example() {
        let err = layout("ref,designation,unit", &[]).unwrap_err().to_string();
        assert!(
            err.contains("category") && err.contains("quantity"),
            "{err}"
        );
    }
}
