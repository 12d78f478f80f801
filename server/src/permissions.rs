//! Enforcing who may do what. The table itself is shared with the app ([`app::permissions`]), which
//! hides what a role cannot do; here every shop write asks it before changing anything. A refusal is
//! 403 `forbidden`, before the write runs (so it is not stored under the request's Idempotency-Key).

use app::model::User;
pub use app::permissions::{allowed, catalog_write, inventory_movement, Action, TABLE};

use crate::http::error::ApiError;

/// 403 `forbidden` unless `user`'s role may do `action`.
pub fn require(user: &User, action: Action) -> Result<(), ApiError> {
    if allowed(user.role, action) {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

#[cfg(test)]
mod tests {
    use app::model::Role;

    use super::*;

    /// The areas behind the `AdminUser` extractor are admin-only in the table too.
    #[test]
    fn the_admin_user_areas_are_admin_only() {
        for action in [Action::ManageUsers, Action::Backups, Action::Reports, Action::Exports, Action::System] {
            assert!(!allowed(Role::Cashier, action), "{action:?}");
        }
    }
}
