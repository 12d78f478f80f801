//! Account newtypes: parsed once at the edge, so the rest of the code cannot hold an invalid one.

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};

/// Lower-case, 3–32 characters of `a-z 0-9 . _ -`. Case-folded so `Ana` and `ana` are one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Username, String> {
        let name = raw.trim().to_lowercase();
        if !(3..=32).contains(&name.chars().count()) {
            return Err("must be 3 to 32 characters".into());
        }
        if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c)) {
            return Err("may contain only letters a-z, digits, '.', '_' and '-'".into());
        }
        Ok(Username(name))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: 8–256 characters. Never logged (no Debug of the content).
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(..)")
    }
}

impl NewPassword {
    pub fn parse(raw: &str) -> Result<NewPassword, String> {
        match raw.chars().count() {
            0..=7 => Err("must be at least 8 characters".into()),
            257.. => Err("must be at most 256 characters".into()),
            _ => Ok(NewPassword(raw.to_owned())),
        }
    }

    /// Argon2id with the crate's defaults (OWASP's recommended m=19 MiB, t=2, p=1). CPU-heavy: runs
    /// on the blocking pool so it never stalls the async workers, one of the hashing slots.
    pub async fn hash(self) -> String {
        let _slot = hashing_slots().acquire().await.expect("the hashing semaphore is never closed");
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(self.0.as_bytes(), &salt)
                .expect("argon2 hashing with default params cannot fail")
                .to_string()
        })
        .await
        .expect("hashing task panicked")
    }
}

/// Argon2 runs at most once per core at a time (each run holds 19 MiB and a core for tens of ms):
/// a burst of logins queues here instead of exhausting memory and starving every other request.
pub fn hashing_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())))
}

/// Every hashing slot stayed taken for the whole wait.
#[derive(Debug)]
pub struct HashingBusy;

/// `verify_password` if a hashing slot frees up within `wait`.
pub async fn verify_password_within(
    password: String,
    hash: String,
    wait: std::time::Duration,
) -> Result<bool, HashingBusy> {
    let _slot = tokio::time::timeout(wait, hashing_slots().acquire())
        .await
        .map_err(|_| HashingBusy)?
        .expect("the hashing semaphore is never closed");
    Ok(verify_unlimited(password, hash).await)
}

/// Checks `password` against a stored PHC hash, on the blocking pool, in a hashing slot.
pub async fn verify_password(password: String, hash: String) -> bool {
    let _slot = hashing_slots().acquire().await.expect("the hashing semaphore is never closed");
    verify_unlimited(password, hash).await
}

async fn verify_unlimited(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A hash of a password nobody knows: verifying against it when the username does not exist makes a
/// wrong username take as long as a wrong password, so timing does not reveal which accounts exist.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default().hash_password(b"no such user", &salt).expect("hash").to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_case_folded_and_checked() {
        assert_eq!(Username::parse("  Ana.M ").unwrap().as_str(), "ana.m");
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("ana maria").is_err());
        assert!(Username::parse(&"a".repeat(33)).is_err());
    }

    #[test]
    fn passwords_need_eight_characters() {
        assert!(NewPassword::parse("1234567").is_err());
        assert!(NewPassword::parse("12345678").is_ok());
    }

    #[tokio::test]
    async fn hashing_waits_for_a_slot_then_gives_up() {
        // Every slot, waiting for those that other tests of this binary hold now (they share the
        // semaphore): taking only the free ones would let a slot come back mid-test.
        let slots = hashing_slots();
        let every = std::thread::available_parallelism().map_or(2, |n| n.get()) as u32;
        let all = slots.acquire_many(every).await.unwrap();
        let hash = dummy_hash().to_owned();
        let r = verify_password_within("x".into(), hash.clone(), std::time::Duration::from_millis(50)).await;
        assert!(r.is_err(), "no slot free: busy");
        drop(all);
        assert_eq!(verify_password_within("x".into(), hash, std::time::Duration::from_secs(5)).await.ok(), Some(false));
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let hash = NewPassword::parse("correct horse").unwrap().hash().await;
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse".into(), hash.clone()).await);
        assert!(!verify_password("wrong horse".into(), hash).await);
    }
}
