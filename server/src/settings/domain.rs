//! The settings an admin sends, checked once: trimmed, each within its length.

use app::{model::ShopSettings, wire::SettingsUpdate};

use crate::http::error::{ApiError, FieldErrors};

/// Valid settings: the body as sent, cleaned (`clean`); `name` 1 to 100 characters, the others at
/// most their limit (empty allowed).
pub struct Settings(pub SettingsUpdate);

/// At most this many characters, in the order of `SettingsUpdate::FIELDS`.
const LIMITS: [usize; 6] = [100, 200, 50, 50, 500, 500];

impl Settings {
    pub fn parse(body: &SettingsUpdate) -> Result<Settings, ApiError> {
        let s = SettingsUpdate {
            version: body.version,
            name: clean(&body.name),
            address: clean(&body.address),
            tax_id: clean(&body.tax_id),
            phone: clean(&body.phone),
            receipt_header: clean(&body.receipt_header),
            receipt_footer: clean(&body.receipt_footer),
        };
        let mut errors = FieldErrors::new();
        for ((field, max), value) in SettingsUpdate::FIELDS.into_iter().zip(LIMITS).zip(s.texts()) {
            // Line breaks only where the receipt prints lines: the header and the footer.
            let multiline = field.starts_with("receipt_");
            if value.chars().count() > max {
                errors.insert(field, format!("must be at most {max} characters"));
            } else if value.chars().any(|c| c.is_control() && !(multiline && c == '\n')) {
                errors.insert(
                    field,
                    if multiline {
                        "must not contain control characters"
                    } else {
                        "must be one line without control characters"
                    }
                    .into(),
                );
            }
        }
        if s.name.is_empty() {
            errors.insert("name", "is required".into());
        }
        ApiError::unless_any(errors)?;
        Ok(Settings(s))
    }

    /// The fields whose value here is not the one in `current` (a stale edit's conflict).
    pub fn differing_from(&self, current: &ShopSettings) -> Vec<String> {
        SettingsUpdate::FIELDS
            .into_iter()
            .zip(self.0.texts().into_iter().zip(current.texts()))
            .filter(|(_, (mine, theirs))| mine != theirs)
            .map(|(field, _)| field.to_string())
            .collect()
    }
}

/// Trimmed, with Windows line ends made `\n` and tabs made spaces (pasted text carries both).
fn clean(text: &str) -> String {
    text.trim().replace("\r\n", "\n").replace('\t', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(name: &str) -> SettingsUpdate {
        SettingsUpdate {
            version: 1,
            name: name.into(),
            address: " Av. Siempreviva 742 ".into(),
            tax_id: String::new(),
            phone: String::new(),
            receipt_header: "¡Gracias!\nVuelva pronto".into(),
            receipt_footer: String::new(),
        }
    }

    #[test]
    fn trims_and_keeps_line_breaks_in_receipt_texts() {
        let s = Settings::parse(&update(" Almacén Don Pepe ")).unwrap().0;
        assert_eq!(s.name, "Almacén Don Pepe");
        assert_eq!(s.address, "Av. Siempreviva 742");
        assert_eq!(s.receipt_header, "¡Gracias!\nVuelva pronto");
        let mut pasted = update("Kiosco\tAna");
        pasted.receipt_footer = "uno\r\ndos".into();
        let s = Settings::parse(&pasted).unwrap().0;
        assert_eq!((s.name.as_str(), s.receipt_footer.as_str()), ("Kiosco Ana", "uno\ndos"));
    }

    #[test]
    fn refuses_an_empty_name_a_long_field_and_control_characters() {
        assert!(Settings::parse(&update("  ")).is_err());
        assert!(Settings::parse(&update(&"x".repeat(101))).is_err());
        assert!(Settings::parse(&update("Tienda\u{7}")).is_err());
        assert!(Settings::parse(&update("Tienda\nDon Pepe")).is_err(), "a name is one line");
        assert!(Settings::parse(&update(&"ñ".repeat(100))).is_ok());
    }
}
