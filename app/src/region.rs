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

fn signal() -> RwSignal<Region> {
    static REGION: OnceLock<RwSignal<Region>> = OnceLock::new();
    *REGION.get_or_init(|| RwSignal::new(Region::default()))
}

/// The shop's region (tracked: a view that reads it is redrawn when it changes).
pub fn current() -> Region {
    signal().try_get().unwrap_or_default()
}

/// Adopts `settings` (a no-op when nothing changed, so nothing is redrawn).
pub fn adopt(settings: &ShopSettings) {
    let next = Region::from(settings);
    let s = signal();
    if s.try_get_untracked().as_ref() != Some(&next) {
        s.set(next);
    }
}
