//! The in-memory user table, with argon2 password hashes.
//!
//! Hashing is deliberately slow (tens of milliseconds) and takes 19 MiB per hash, so
//! it runs on Tokio's blocking pool, never on the async workers (which would stall
//! every other request, `GET /` included, during a burst of logins), and at most
//! [`HASHING_AT_ONCE`] at a time (the blocking pool grows to 512 threads, and that
//! many hashes at once would need 10 GB).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rocket::tokio::sync::Semaphore;
use rocket::tokio::task::spawn_blocking;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// How many passwords are hashed at once; more requests wait their turn.
pub const HASHING_AT_ONCE: usize = 2;

/// The longest username accepted, in characters.
pub const MAX_NAME: usize = 64;

/// Registered users: name to argon2 hash. Never stores a password. Clones share one
/// table.
#[derive(Clone)]
pub struct Users {
    hashes: Arc<Mutex<HashMap<String, String>>>,
    hashing: Arc<Semaphore>,
}

impl Default for Users {
    fn default() -> Users {
        Users {
            hashes: Arc::default(),
            hashing: Arc::new(Semaphore::new(HASHING_AT_ONCE)),
        }
    }
}

/// Why a registration or login was refused; the text is shown to the user.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("Please enter a username and a password.")]
    Empty,
    #[error("Usernames have at least 3 characters.")]
    ShortName,
    #[error("Usernames have at most 64 characters.")]
    LongName,
    #[error("Passwords have at least 6 characters.")]
    ShortPassword,
    #[error("The username {0} is taken.")]
    Taken(String),
    #[error("There is no user called {0}.")]
    Unknown(String),
    #[error("Wrong password.")]
    WrongPassword,
    #[error("Registration failed; please try again.")]
    Hashing,
}

impl Users {
    /// Registers `name`, hashing `password` off the async workers.
    pub async fn register(self, name: String, password: String) -> Result<(), Refused> {
        self.blocking(move |users| users.register_now(&name, &password))
            .await
    }

    /// Checks `password` for `name`, off the async workers.
    pub async fn verify(self, name: String, password: String) -> Result<(), Refused> {
        self.blocking(move |users| users.verify_now(&name, &password))
            .await
    }

    /// Runs `work` on the blocking pool, at most [`HASHING_AT_ONCE`] at a time.
    async fn blocking(
        self,
        work: impl FnOnce(&Users) -> Result<(), Refused> + Send + 'static,
    ) -> Result<(), Refused> {
        let semaphore = self.hashing.clone();
        let Ok(_permit) = semaphore.acquire_owned().await else {
            return Err(Refused::Hashing);
        };
        spawn_blocking(move || work(&self))
            .await
            .unwrap_or(Err(Refused::Hashing))
    }

    fn register_now(&self, name: &str, password: &str) -> Result<(), Refused> {
        check_name(name, password)?;
        let salt = SaltString::generate(&mut OsRng);
        let hash = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|_| Refused::Hashing)?
            .to_string();
        let mut hashes = self.hashes.lock().unwrap_or_else(|e| e.into_inner());
        if hashes.contains_key(name) {
            return Err(Refused::Taken(name.to_owned()));
        }
        hashes.insert(name.to_owned(), hash);
        Ok(())
    }

    fn verify_now(&self, name: &str, password: &str) -> Result<(), Refused> {
        if name.is_empty() || password.is_empty() {
            return Err(Refused::Empty);
        }
        if name.chars().count() > MAX_NAME {
            return Err(Refused::LongName);
        }
        let hash = self
            .hashes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned();
        let hash = hash.ok_or_else(|| Refused::Unknown(name.to_owned()))?;
        let parsed = PasswordHash::new(&hash).map_err(|_| Refused::WrongPassword)?;
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .map_err(|_| Refused::WrongPassword)
    }
}

/// The rules of a new account's name and password.
fn check_name(name: &str, password: &str) -> Result<(), Refused> {
    if name.is_empty() || password.is_empty() {
        return Err(Refused::Empty);
    }
    match name.chars().count() {
        n if n < 3 => return Err(Refused::ShortName),
        n if n > MAX_NAME => return Err(Refused::LongName),
        _ => {}
    }
    if password.chars().count() < 6 {
        return Err(Refused::ShortPassword);
    }
    Ok(())
}
