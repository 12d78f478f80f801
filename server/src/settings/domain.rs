//! The settings an admin sends, checked once: trimmed, each within its length, and the currency,
//! locale and time zone known ones.

use app::{model::ShopSettings, wire::SettingsUpdate};

use crate::http::error::{ApiError, FieldErrors};

/// Valid settings: the body as sent, cleaned (`clean`); `name` 1 to 100 characters, the others at
/// most their limit (empty allowed); `currency` an ISO 4217 code with a minor unit, `locale` empty
/// or a BCP 47 language[-Script][-REGION] tag, `time_zone` an IANA zone (all in canonical case).
pub struct Settings(pub SettingsUpdate);

/// At most this many characters, in the order of `SettingsUpdate::FIELDS`.
const LIMITS: [usize; 9] = [100, 200, 50, 50, 500, 500, 3, 20, 64];

/// A currency's symbol and the digits of its minor unit; None for a code that is not ISO 4217 or has
/// no minor unit (gold, special drawing rights).
pub fn currency(code: &str) -> Option<(String, u8)> {
    let c = iso_currency::Currency::from_code(code)?;
    let digits = u8::try_from(c.exponent()?).ok()?;
    Some((c.symbol().symbol, digits))
}

/// An IANA time zone by its exact name.
pub fn zone(name: &str) -> Option<chrono_tz::Tz> {
    name.parse().ok()
}

/// `es`, `es-AR`, `zh-Hant-TW`, `es-419` in canonical case; None for anything else. Browsers accept
/// more, but this is what a shop needs for its numbers and dates, and it is what `Intl` never refuses.
fn locale(tag: &str) -> Option<String> {
    let mut parts = tag.split(['-', '_']);
    let language = parts.next().filter(|l| (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphabetic()))?;
    let mut out = language.to_ascii_lowercase();
    let mut rest: Vec<&str> = parts.collect();
    if let Some(script) = rest.first().filter(|s| s.len() == 4 && s.chars().all(|c| c.is_ascii_alphabetic())) {
        out.push('-');
        out.push_str(&script[..1].to_ascii_uppercase());
        out.push_str(&script[1..].to_ascii_lowercase());
        rest.remove(0);
    }
    match rest[..] {
        [] => {}
        [region] if region.len() == 2 && region.chars().all(|c| c.is_ascii_alphabetic()) => {
            out.push('-');
            out.push_str(&region.to_ascii_uppercase());
        }
        [region] if region.len() == 3 && region.chars().all(|c| c.is_ascii_digit()) => {
            out.push('-');
            out.push_str(region);
        }
        _ => return None,
    }
    Some(out)
}

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
            currency: body.currency.trim().to_ascii_uppercase(),
            locale: body.locale.trim().to_owned(),
            time_zone: body.time_zone.trim().to_owned(),
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
        if currency(&s.currency).is_none() {
            errors.entry("currency").or_insert_with(|| "must be an ISO 4217 currency code such as ARS or EUR".into());
        }
        let locale = if s.locale.is_empty() { Some(String::new()) } else { locale(&s.locale) };
        if locale.is_none() {
            errors.entry("locale").or_insert_with(|| "must be a language tag such as es-AR, or empty".into());
        }
        if zone(&s.time_zone).is_none() {
            errors
                .entry("time_zone")
                .or_insert_with(|| "must be an IANA time zone such as America/Argentina/Buenos_Aires".into());
        }
        ApiError::unless_any(errors)?;
        Ok(Settings(SettingsUpdate { locale: locale.unwrap_or_default(), ..s }))
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
            currency: "ars".into(),
            locale: "es_ar".into(),
            time_zone: "America/Argentina/Buenos_Aires".into(),
        }
    }

    #[test]
    fn knows_currencies_locales_and_zones() {
        let s = Settings::parse(&update("Kiosco")).unwrap().0;
        assert_eq!((s.currency.as_str(), s.locale.as_str()), ("ARS", "es-AR"), "canonical case");
        assert_eq!(currency("ARS"), Some(("$".into(), 2)));
        assert_eq!(currency("CLP").map(|c| c.1), Some(0));
        assert_eq!(currency("KWD").map(|c| c.1), Some(3));
        assert_eq!(currency("XAU"), None, "gold has no minor unit");
        assert_eq!(currency("ZZZ"), None);
        assert_eq!(locale("zh-hant-tw").as_deref(), Some("zh-Hant-TW"));
        assert_eq!(locale("es-419").as_deref(), Some("es-419"));
        for bad in ["e", "español", "es-ARG", "es-AR-x", "es--AR", "es-AR-"] {
            assert_eq!(locale(bad), None, "{bad}");
        }
        for (field, set) in [
            ("currency", (|u: &mut SettingsUpdate| u.currency = "PESOS".into()) as fn(&mut SettingsUpdate)),
            ("locale", |u| u.locale = "castellano".into()),
            ("time_zone", |u| u.time_zone = "America/Atlantis".into()),
            ("time_zone", |u| u.time_zone = "america/argentina/buenos_aires".into()),
        ] {
            let mut u = update("Kiosco");
            set(&mut u);
            match Settings::parse(&u) {
                Err(ApiError::Validation(errors)) => assert!(errors.contains_key(field), "{field}: {errors:?}"),
                _ => panic!("{field} accepted"),
            }
        }
        let mut empty = update("Kiosco");
        empty.locale = String::new();
        assert_eq!(Settings::parse(&empty).unwrap().0.locale, "");
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
