//! Dates and numbers in the reader's language, in the shop's time zone. In the browser they go through
//! `Intl` (the browser's own CLDR and time zone data: correct month names, digit grouping and daylight
//! saving for every locale at no cost in wasm size); the server renders data-free shells, so its plain
//! fallback only matters to unit tests. Money stays in `money.rs` (integers, never floats).

use crate::i18n::Lang;
use crate::region;

/// The shop's locale when it is in the reader's language ("es-AR" for a Spanish reader), else the
/// language's default: an English reader of an Argentine shop reads English numbers.
fn locale(lang: Lang) -> String {
    let (code, default) = match lang {
        Lang::Es => ("es", "es-ES"),
        Lang::En => ("en", "en-US"),
    };
    let shop = region::current().locale;
    if shop.split('-').next() == Some(code) {
        shop
    } else {
        default.to_string()
    }
}

/// Intl options with the shop's time zone (none before the settings are known: the browser's own).
#[cfg(feature = "hydrate")]
fn zoned_options() -> js_sys::Object {
    let options = js_sys::Object::new();
    let zone = region::current().time_zone;
    if !zone.is_empty() {
        let _ = js_sys::Reflect::set(&options, &"timeZone".into(), &zone.into());
    }
    options
}

/// The decimal mark and the thousands separator of `locale(lang)`.
pub fn number_marks(lang: Lang) -> (char, char) {
    let fallback = match lang {
        Lang::Es => (',', '.'),
        Lang::En => ('.', ','),
    };
    #[cfg(feature = "hydrate")]
    {
        let locales = js_sys::Array::of1(&locale(lang).into());
        let f = js_sys::Intl::NumberFormat::new(&locales, &js_sys::Object::new());
        let parts = f.format_to_parts(1_234_567.5);
        let mut marks = fallback;
        for part in parts.iter() {
            let kind = js_sys::Reflect::get(&part, &"type".into()).ok().and_then(|v| v.as_string());
            let value = js_sys::Reflect::get(&part, &"value".into()).ok().and_then(|v| v.as_string());
            match (kind.as_deref(), value.and_then(|v| v.chars().next())) {
                (Some("decimal"), Some(c)) => marks.0 = c,
                (Some("group"), Some(c)) => marks.1 = c,
                _ => {}
            }
        }
        marks
    }
    #[cfg(not(feature = "hydrate"))]
    fallback
}

/// The shop's day (`YYYY-MM-DD`) of a timestamp, or of now.
pub fn shop_day(iso: Option<&str>) -> String {
    #[cfg(feature = "hydrate")]
    {
        let at = match iso {
            Some(s) => js_sys::Date::new(&wasm_bindgen::JsValue::from_str(s)),
            None => js_sys::Date::new_0(),
        };
        if !at.get_time().is_nan() {
            let options = zoned_options();
            for (k, v) in [("year", "numeric"), ("month", "2-digit"), ("day", "2-digit")] {
                let _ = js_sys::Reflect::set(&options, &k.into(), &v.into());
            }
            // From the parts, not from a formatted string: no locale's pattern to rely on.
            let f = js_sys::Intl::DateTimeFormat::new(&js_sys::Array::of1(&"en".into()), &options);
            let mut ymd = [String::new(), String::new(), String::new()];
            for part in f.format_to_parts(&at).iter() {
                let text = |key: &str| js_sys::Reflect::get(&part, &key.into()).ok().and_then(|v| v.as_string());
                let slot = match text("type").as_deref() {
                    Some("year") => 0,
                    Some("month") => 1,
                    Some("day") => 2,
                    _ => continue,
                };
                ymd[slot] = text("value").unwrap_or_default();
            }
            let [y, m, d] = &ymd;
            if y.len() == 4 && m.len() == 2 && d.len() == 2 {
                return format!("{y}-{m}-{d}");
            }
        }
        iso.unwrap_or_default().get(..10).unwrap_or_default().to_string()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        iso.unwrap_or_default().get(..10).unwrap_or_default().to_string()
    }
}

/// The shop's clock time ("14:05") of a timestamp.
pub fn shop_time(iso: &str) -> String {
    #[cfg(feature = "hydrate")]
    {
        let at = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(iso));
        let options = zoned_options();
        for (k, v) in [("hour", "2-digit"), ("minute", "2-digit"), ("hourCycle", "h23")] {
            let _ = js_sys::Reflect::set(&options, &k.into(), &v.into());
        }
        String::from(at.to_locale_time_string_with_options("en-GB", &options))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        iso.get(11..16).unwrap_or_default().to_string()
    }
}

/// A day `YYYY-MM-DD` as "23 nov" / "Nov 23".
pub fn day(date: &str, lang: Lang) -> String {
    #[cfg(feature = "hydrate")]
    {
        let parts: Vec<u32> = date.split('-').filter_map(|p| p.parse().ok()).collect();
        if let [y, m, d] = parts[..] {
            // Noon, so no time zone moves it to another day.
            let at = js_sys::Date::new_with_year_month_day_hr_min_sec(y, m as i32 - 1, d as i32, 12, 0, 0);
            let options = js_sys::Object::new();
            let _ = js_sys::Reflect::set(&options, &"day".into(), &"numeric".into());
            let _ = js_sys::Reflect::set(&options, &"month".into(), &"short".into());
            return String::from(at.to_locale_date_string(&locale(lang), &options));
        }
        date.to_string()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = locale(lang);
        match (date.get(5..7), date.get(8..10), lang) {
            (Some(m), Some(d), Lang::Es) => format!("{d}/{m}"),
            (Some(m), Some(d), Lang::En) => format!("{m}/{d}"),
            _ => date.to_string(),
        }
    }
}

/// A timestamp as the shop's date and time, "23/11/2026, 14:05" / "11/23/2026, 2:05 PM".
pub fn date_time(iso: &str, lang: Lang) -> String {
    #[cfg(feature = "hydrate")]
    {
        let at = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(iso));
        if at.get_time().is_nan() {
            return iso.to_string();
        }
        let options = zoned_options();
        let _ = js_sys::Reflect::set(&options, &"dateStyle".into(), &"short".into());
        let _ = js_sys::Reflect::set(&options, &"timeStyle".into(), &"short".into());
        String::from(at.to_locale_string(&locale(lang), &options))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = lang;
        iso.get(..16).unwrap_or(iso).replace('T', " ")
    }
}

/// A whole number with the locale's grouping: "1.234" / "1,234".
pub fn number(n: i64, lang: Lang) -> String {
    #[cfg(feature = "hydrate")]
    {
        String::from(js_sys::Number::from(n as f64).to_locale_string(&locale(lang)))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = lang;
        n.to_string()
    }
}

/// A rate in basis points as a percentage: 2100 → "21 %", 1050 → "10,5 %" (the locale's decimal mark).
pub fn percent(bp: i64, lang: Lang) -> String {
    let (whole, frac) = (bp / 100, (bp % 100).abs());
    if frac == 0 {
        return format!("{whole} %");
    }
    let frac = format!("{frac:02}");
    format!("{whole}{}{} %", number_marks(lang).0, frac.trim_end_matches('0'))
}

/// A tax as receipts print it: "IVA 21 %".
pub fn tax_label(name: &str, bp: i64, lang: Lang) -> String {
    format!("{name} {}", percent(bp, lang)).trim().to_string()
}
