//! A shared phone: what this device keeps about the people who use it, and how one of them leaves.
//!
//! - The last signed-in user (so the app opens offline for them) and the names of users seen here
//!   (so a waiting item can say whose it is). Only names and ids: the session is the server's HttpOnly
//!   cookie, which this code cannot read or delete.
//! - A sign-out the server has not heard of yet. Signing out forgets the user at once, offline too;
//!   the cookie may still be valid, so until `POST /api/auth/logout` has gone through nothing may ask
//!   the server who is signed in (that would let the person back in without a password).
//! - The admin's "wipe this device's data on sign-out", a property of this device (a shared phone, not
//!   the shop's own desk), and the wipe itself.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::store::{self, StoreError};
use crate::api;
use crate::model::User;

const REMEMBERED_USER: &str = "mostrador_user";
const LOGOUT_PENDING: &str = "mostrador.logout_pending";
const WIPE_ON_LOGOUT: &str = "mostrador.wipe_on_logout";
/// `{user id: username}` of everyone who signed in here.
const KNOWN_USERS: &str = "mostrador.users";
/// The half-rung sale (pages/sale.rs): it belongs to whoever was ringing it up.
const CART: &str = "mostrador.cart";

fn get(key: &str) -> Option<String> {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window().and_then(|w| w.local_storage().ok().flatten()).and_then(|s| s.get_item(key).ok().flatten())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = key;
        None
    }
}

fn set(key: &str, value: Option<&str>) {
    #[cfg(feature = "hydrate")]
    if let Some(s) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = match value {
            Some(v) => s.set_item(key, v),
            None => s.remove_item(key),
        };
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (key, value);
}

/// Remembers who is signed in (or forgets them), and their name for later.
pub fn remember_user(user: Option<&User>) {
    match user {
        Some(u) => {
            set(REMEMBERED_USER, serde_json::to_string(u).ok().as_deref());
            let mut names = known_users();
            if names.get(&u.id) != Some(&u.username) {
                names.insert(u.id, u.username.clone());
                set(KNOWN_USERS, serde_json::to_string(&names).ok().as_deref());
            }
        }
        None => set(REMEMBERED_USER, None),
    }
}

pub fn remembered_user() -> Option<User> {
    get(REMEMBERED_USER).and_then(|j| serde_json::from_str(&j).ok())
}

fn known_users() -> BTreeMap<Uuid, String> {
    get(KNOWN_USERS).and_then(|j| serde_json::from_str(&j).ok()).unwrap_or_default()
}

/// The name of a user who signed in on this device.
pub fn user_name(id: Uuid) -> Option<String> {
    known_users().remove(&id)
}

pub fn logout_pending() -> bool {
    get(LOGOUT_PENDING).is_some()
}

/// Ends the server's session of a sign-out made offline (or whose request failed). True when none is
/// left pending. Only an answer from the server clears it: 204, or 401 (no session any more).
pub async fn flush_logout() -> bool {
    if !logout_pending() {
        return true;
    }
    match api::logout().await {
        Ok(()) => {}
        Err(e) if e.is_unauthorized() => {}
        Err(_) => return false,
    }
    set(LOGOUT_PENDING, None);
    true
}

pub fn wipe_on_logout() -> bool {
    get(WIPE_ON_LOGOUT).as_deref() == Some("1")
}

pub fn set_wipe_on_logout(on: bool) {
    set(WIPE_ON_LOGOUT, on.then_some("1"));
}

/// Why a sign-out did not happen.
#[derive(Clone, Debug, PartialEq)]
pub enum SignOutRefused {
    /// Wipe on sign-out is on and this many of the user's items have not been sent: wiping would
    /// lose them.
    Unsent(usize),
    /// Reading or wiping the local data failed: nothing was forgotten.
    Storage(StoreError),
}

/// Signs `user` out of this device, online or not: the device forgets them at once and the server's
/// session ends now or when the network is back (`flush_logout`). With wipe on sign-out, the shop's
/// data goes too, unless the user still has unsent items, which refuses the whole sign-out.
pub async fn sign_out(user: Option<Uuid>) -> Result<(), SignOutRefused> {
    if wipe_on_logout() {
        let items = store::outbox_all_fresh().await.map_err(SignOutRefused::Storage)?;
        let unsent = items.iter().filter(|i| i.is_open() && Some(i.user_id) == user).count();
        if unsent > 0 {
            return Err(SignOutRefused::Unsent(unsent));
        }
        // Marked first: a pull under way sees it and writes nothing after the wipe.
        set(LOGOUT_PENDING, Some("1"));
        // Other users' unsent items stay, and so do their names (their items say whose they are).
        if let Err(e) = store::wipe(|i| !i.is_open()).await {
            set(LOGOUT_PENDING, None);
            return Err(SignOutRefused::Storage(e));
        }
        let waiting: Vec<Uuid> = items.iter().filter(|i| i.is_open()).map(|i| i.user_id).collect();
        let mut names = known_users();
        names.retain(|id, _| waiting.contains(id));
        set(KNOWN_USERS, serde_json::to_string(&names).ok().as_deref());
    }
    // Marked before the request: if the tab dies now, the next start still ends the session.
    set(LOGOUT_PENDING, Some("1"));
    set(REMEMBERED_USER, None);
    set(CART, None);
    leptos::task::spawn_local(async {
        flush_logout().await;
    });
    Ok(())
}
