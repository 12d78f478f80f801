//! Languages: Spanish by default, English on request. The texts live in `app/locales/app.yml`, which the
//! rust-i18n crate compiles into the binary (see `i18n!` in lib.rs); this module picks the language.
//!
//! The language is chosen by the `lang` cookie so that the server renders the page in the language the
//! browser will hydrate with: the server writes it into `<html lang>`, and the client reads it back from
//! there at start-up, so the first client render always matches the server's HTML.

use leptos::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Es,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Es => "es",
            Lang::En => "en",
        }
    }

    /// Accepts "es", "en", "en-US", "es_AR"…; anything else is `None`.
    pub fn parse(s: &str) -> Option<Lang> {
        let s = s.trim().to_ascii_lowercase();
        if s == "es" || s.starts_with("es-") || s.starts_with("es_") {
            Some(Lang::Es)
        } else if s == "en" || s.starts_with("en-") || s.starts_with("en_") {
            Some(Lang::En)
        } else {
            None
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Es => Lang::En,
            Lang::En => Lang::Es,
        }
    }

    /// The first supported language of an `Accept-Language` header ("en-US,en;q=0.9,es;q=0.8" → En),
    /// in the order the browser lists them (browsers send them by preference).
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        header.split(',').find_map(|part| Lang::parse(part.split(';').next().unwrap_or("")))
    }

    /// Reads `lang=xx` out of a `Cookie:` header or `document.cookie`.
    pub fn from_cookie_header(header: &str) -> Option<Lang> {
        header
            .split(';')
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == "lang")
            .and_then(|(_, v)| Lang::parse(v))
    }
}

/// A message key: a key of `app/locales/app.yml` (checked by the `every_key_is_translated` test).
pub type Key = &'static str;

/// The text of `key` in `lang`, from the locale file that rust-i18n compiled into the binary. A missing key
/// shows the key itself (and fails the unit test that scans the sources for keys).
pub fn text(lang: Lang, key: Key) -> &'static str {
    match crate::_rust_i18n_try_translate(lang.code(), key) {
        Some(std::borrow::Cow::Borrowed(s)) => s,
        _ => key,
    }
}

/// The language signal every component reads (through [`use_i18n`]).
#[derive(Clone, Copy)]
pub struct I18n {
    pub lang: RwSignal<Lang>,
}

impl I18n {
    /// The text in the current language; reactive when called inside a closure in a view.
    pub fn t(self, key: Key) -> &'static str {
        text(self.lang.get(), key)
    }

    pub fn set(self, lang: Lang) {
        self.lang.set(lang);
        persist(lang);
    }
}

pub fn use_i18n() -> I18n {
    expect_context::<I18n>()
}

/// The language of this render. On the server: the request's `lang` cookie. In the browser: the `<html lang>`
/// that the server wrote, so hydration sees exactly the texts the server rendered.
pub fn initial_lang() -> Lang {
    #[cfg(feature = "ssr")]
    {
        use_context::<http::request::Parts>()
            .and_then(|parts| {
                parts
                    .headers
                    .get_all(http::header::COOKIE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find_map(Lang::from_cookie_header)
                    // No choice saved yet: the browser's preferred language.
                    .or_else(|| {
                        parts
                            .headers
                            .get(http::header::ACCEPT_LANGUAGE)
                            .and_then(|v| v.to_str().ok())
                            .and_then(Lang::from_accept_language)
                    })
            })
            .unwrap_or_default()
    }
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    {
        web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.document_element())
            .and_then(|e| e.get_attribute("lang"))
            .and_then(|l| Lang::parse(&l))
            .unwrap_or_default()
    }
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    {
        Lang::default()
    }
}

/// The language saved in localStorage (the cookie may have been cleared while localStorage stayed).
pub fn stored_lang() -> Option<Lang> {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window()
            .and_then(|w| w.local_storage().ok().flatten())
            .and_then(|s| s.get_item("lang").ok().flatten())
            .and_then(|l| Lang::parse(&l))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        None
    }
}

/// Remembers the choice in localStorage and in the `lang` cookie (for the server's next render), and
/// updates `<html lang>` for screen readers.
fn persist(lang: Lang) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let Some(window) = web_sys::window() else {
            return;
        };
        if let Ok(Some(storage)) = window.local_storage() {
            let _ = storage.set_item("lang", lang.code());
        }
        if let Some(doc) = window.document() {
            if let Some(el) = doc.document_element() {
                let _ = el.set_attribute("lang", lang.code());
            }
            if let Ok(html) = doc.dyn_into::<web_sys::HtmlDocument>() {
                let _ = html.set_cookie(&format!("lang={}; Path=/; Max-Age=31536000; SameSite=Lax", lang.code()));
            }
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = lang;
}

/// "hace 5 min" / "5 min ago": how long ago, in whole minutes, hours or days. The one age wording of the app
/// (the data's age in the connection bar, a pending item's age).
pub fn ago(lang: Lang, minutes: i64) -> String {
    let (key, n) = match minutes.max(0) {
        0 => ("ago_now", 0),
        m @ 1..=119 => ("ago_min", m),
        m @ 120..=2879 => ("ago_hours", m / 60),
        m => ("ago_days", m / 1440),
    };
    fill(text(lang, key), &[("n", &n.to_string())])
}

/// Fills `%{name}` placeholders (rust-i18n's syntax).
pub fn fill(template: &str, args: &[(&str, &str)]) -> String {
    let (keys, values): (Vec<&str>, Vec<String>) = args.iter().map(|(k, v)| (*k, v.to_string())).unzip();
    rust_i18n::replace_patterns(template, &keys, &values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_parsing() {
        assert_eq!(Lang::from_cookie_header("a=1; lang=en; b=2"), Some(Lang::En));
        assert_eq!(Lang::from_cookie_header("lang=es"), Some(Lang::Es));
        assert_eq!(Lang::from_cookie_header("xlang=en"), None);
        assert_eq!(Lang::from_cookie_header("lang=fr"), None);
        assert_eq!(Lang::from_cookie_header(""), None);
    }

    #[test]
    fn accept_language() {
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9,es;q=0.8"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("fr-FR,fr;q=0.9,es-AR;q=0.8,en;q=0.5"), Some(Lang::Es));
        assert_eq!(Lang::from_accept_language("de"), None);
    }

    #[test]
    fn ago_in_both_languages() {
        assert_eq!(ago(Lang::Es, 0), "ahora");
        assert_eq!(ago(Lang::En, 12), "12 min ago");
        assert_eq!(ago(Lang::Es, 300), "hace 5 h");
        assert_eq!(ago(Lang::En, 3 * 1440), "3 days ago");
    }

    /// Every `"key"` the sources hand to the translation functions exists in both languages.
    #[test]
    fn every_key_is_translated() {
        let yml = include_str!("../locales/app.yml");
        let keys: std::collections::HashSet<&str> = yml
            .lines()
            .filter(|l| !l.starts_with(' ') && !l.starts_with('#') && !l.starts_with('_') && l.ends_with(':'))
            .map(|l| l.trim_end_matches(':'))
            .collect();
        // Both languages for every key (the Spanish fallback would hide a missing English text).
        let lines: Vec<&str> = yml.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if keys.contains(line.trim_end_matches(':')) && line.ends_with(':') {
                let block: Vec<&str> = lines[i + 1..].iter().take_while(|l| l.starts_with(' ')).copied().collect();
                for lang in ["es", "en"] {
                    assert!(
                        block.iter().any(|l| l.trim_start().starts_with(&format!("{lang}:"))),
                        "{line} has no {lang} text"
                    );
                }
            }
        }
        // Keys are snake_case string literals in the sources: every such literal that looks like a key and
        // sits in a translation call must be known.
        let mut missing = Vec::new();
        visit(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")), &mut |src: &str| {
            for marker in [".t(\"", "text(lang, \"", "tr(i18n.lang.get(), \"", "tr(lang, \"", "Msg::T(\"", ".show(\""] {
                for (i, _) in src.match_indices(marker) {
                    let rest = &src[i + marker.len()..];
                    let key = &rest[..rest.find('"').unwrap_or(0)];
                    if !key.is_empty()
                        && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                        && !keys.contains(key)
                    {
                        missing.push(key.to_string());
                    }
                }
            }
        });
        assert!(missing.is_empty(), "keys missing from app.yml: {missing:?}");
    }

    fn visit(dir: &std::path::Path, f: &mut dyn FnMut(&str)) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                visit(&path, f);
            } else if path.extension().is_some_and(|e| e == "rs") {
                f(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }

    #[test]
    fn fill_placeholders() {
        assert_eq!(fill("%{from}–%{to} de %{total}", &[("from", "1"), ("to", "20"), ("total", "45")]), "1–20 de 45");
    }
}
