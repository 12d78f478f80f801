//! How this shop writes money and time, from its settings: the currency's symbol and minor unit, the
//! locale for numbers and dates, and the time zone its days follow. One value for the whole app, read by
//! `money` and `format`; set whenever the settings are read (from this device or the server). It is a
//! signal, so amounts and times already on screen are redrawn when it changes.

use std::sync::OnceLock;

use leptos::prelude::*;

use crate::model::ShopSettings;

#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    pub symbol: String,
    /// Digits of the minor unit: every amount is an integer count of it.
    pub minor_units: u8,
    /// BCP 47, or empty: each reader's language decides.
    pub locale: String,
    /// IANA, or empty: the browser's own zone (before the settings are known).
    pub time_zone: String,
}

impl Default for Region {
    /// What a device shows before it has the settings: dollars and cents, as before settings existed.
    fn default() -> Region {
        Region { symbol: "$".into(), minor_units: 2, locale: String::new(), time_zone: String::new() }
    }
}

impl From<&ShopSettings> for Region {
    fn from(s: &ShopSettings) -> Region {
        Region {
            symbol: s.currency_symbol.clone(),
            minor_units: s.minor_units,
            locale: s.locale.clone(),
            time_zone: s.time_zone.clone(),
        }
    }
}

/// Reference-counted, not arena-allocated: no owner (a page, an effect) can dispose of it, so it lives
/// as long as the app.
fn signal() -> &'static ArcRwSignal<Region> {
    static REGION: OnceLock<ArcRwSignal<Region>> = OnceLock::new();
    REGION.get_or_init(|| ArcRwSignal::new(Region::default()))
}

/// The shop's region (tracked: a view that reads it is redrawn when it changes).
pub fn current() -> Region {
    signal().get()
}

/// Adopts `settings` (a no-op when nothing changed, so nothing is redrawn). A time zone this browser
/// does not know (its time zone data is older than the server's) is left out: the browser's own zone
/// is shown rather than every date failing.
pub fn adopt(settings: &ShopSettings) {
    let mut next = Region::from(settings);
    if !browser_knows_zone(&next.time_zone) {
        next.time_zone.clear();
    }
    let s = signal();
    if s.get_untracked() != next {
        s.set(next);
    }
}

/// Does `Intl` accept `zone`? (It throws a RangeError for one it does not know; caught here.)
fn browser_knows_zone(zone: &str) -> bool {
    #[cfg(feature = "hydrate")]
    {
        let options = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&options, &"timeZone".into(), &zone.into());
        use wasm_bindgen::JsCast;
        let args = js_sys::Array::of2(&"en".into(), &options);
        let intl = js_sys::Reflect::get(&js_sys::global(), &"Intl".into()).unwrap_or_default();
        let constructor =
            js_sys::Reflect::get(&intl, &"DateTimeFormat".into()).and_then(|c| c.dyn_into::<js_sys::Function>());
        zone.is_empty() || constructor.is_ok_and(|c| js_sys::Reflect::construct(&c, &args).is_ok())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = zone;
        true
    }
}
