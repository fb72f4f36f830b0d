//! How a data source's files are read: the format, and for CSV/XLSX the options and mapping.

use domain::ValidationErrors;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sources::{CsvOptions, Mapping, XlsxOptions};

#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Csv,
    Xlsx,
    Camt053,
    Mt940,
}

/// A source's import settings, e.g.
/// `{"format": "csv", "csv": {"delimiter": ";"}, "mapping": {"booking_date": "Date", "amount": "Amount", ...}}`.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportSettings {
    pub format: Format,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<CsvOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xlsx: Option<XlsxOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<Mapping>,
}

impl ImportSettings {
    /// Reads and checks settings; every error's path starts with `prefix` (e.g. `settings`).
    pub fn parse(value: &Value, prefix: &str) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let settings: ImportSettings = match serde_path_to_error::deserialize(value) {
            Ok(s) => s,
            Err(e) => {
                let path = e.path().to_string();
                let path = if path == "." {
                    prefix.to_string()
                } else {
                    format!("{prefix}.{path}")
                };
                errors.add(path, e.into_inner().to_string());
                return Err(errors);
            }
        };
        let mut add =
            |found: Vec<sources::MappingError>| add_mapping_errors(&mut errors, prefix, found);
        match settings.format {
            Format::Csv | Format::Xlsx => match &settings.mapping {
                None => add(vec![sources::MappingError {
                    path: "mapping".into(),
                    message: "is required for csv and xlsx".into(),
                }]),
                Some(mapping) => add(mapping.validate()),
            },
            Format::Camt053 | Format::Mt940 => {
                if settings.mapping.is_some() {
                    add(vec![sources::MappingError {
                        path: "mapping".into(),
                        message: "bank statements need no mapping".into(),
                    }]);
                }
            }
        }
        if let Some(csv) = &settings.csv {
            add(csv.validate());
        }
        errors.into_result()?;
        Ok(settings)
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    pub fn csv_options(&self) -> CsvOptions {
        self.csv.clone().unwrap_or_default()
    }
}

/// Adds the importer's mapping/option errors under `prefix` (`mapping.amount` becomes
/// `settings.mapping.amount`).
pub fn add_mapping_errors(
    errors: &mut ValidationErrors,
    prefix: &str,
    found: Vec<sources::MappingError>,
) {
    for e in found {
        errors.add(format!("{prefix}.{}", e.path), e.message);
    }
}

/// [`add_mapping_errors`] into a fresh list.
pub fn mapping_errors(prefix: &str, found: Vec<sources::MappingError>) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    add_mapping_errors(&mut errors, prefix, found);
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statements_need_no_mapping_and_tables_need_one() {
        assert!(ImportSettings::parse(&json!({"format": "camt053"}), "settings").is_ok());
        let err = ImportSettings::parse(&json!({"format": "csv"}), "settings").unwrap_err();
        assert_eq!(err.errors[0].path, "settings.mapping");
        let err = ImportSettings::parse(&json!({"format": "pdf"}), "settings").unwrap_err();
        assert_eq!(err.errors[0].path, "settings.format");
        let err = ImportSettings::parse(
            &json!({"format": "csv", "mapping": {"booking_date": "Date"}}),
            "settings",
        )
        .unwrap_err();
        assert!(
            err.errors
                .iter()
                .any(|e| e.path == "settings.mapping.amount"),
            "{err:?}"
        );
    }
}
