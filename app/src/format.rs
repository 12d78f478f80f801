//! Dates and numbers in the reader's language. In the browser they go through `Intl` (the browser's own
//! CLDR data: correct month names and digit grouping for every locale at no cost in wasm size); the server
//! renders data-free shells, so its plain fallback only matters to unit tests. Money stays in `money.rs`
//! (integer cents, never floats).

use crate::i18n::Lang;

fn locale(lang: Lang) -> &'static str {
    match lang {
        Lang::Es => "es-ES",
        Lang::En => "en-US",
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
            return String::from(at.to_locale_date_string(locale(lang), &options));
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

/// A timestamp as local date and time, "23/11/2026, 14:05" / "11/23/2026, 2:05 PM".
pub fn date_time(iso: &str, lang: Lang) -> String {
    #[cfg(feature = "hydrate")]
    {
        let at = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(iso));
        if at.get_time().is_nan() {
            return iso.to_string();
        }
        let options = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&options, &"dateStyle".into(), &"short".into());
        let _ = js_sys::Reflect::set(&options, &"timeStyle".into(), &"short".into());
        String::from(at.to_locale_string(locale(lang), &options))
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
        String::from(js_sys::Number::from(n as f64).to_locale_string(locale(lang)))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = lang;
        n.to_string()
    }
}
