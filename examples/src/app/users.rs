//! The in-memory user table, with argon2 password hashes.

use std::collections::HashMap;
use std::sync::Mutex;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Registered users: name to argon2 hash. Never stores a password.
#[derive(Default)]
pub struct Users {
    hashes: Mutex<HashMap<String, String>>,
}

/// Why a registration or login was refused; the text is shown to the user.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("Please enter a username and a password.")]
    Empty,
    #[error("Usernames have at least 3 characters.")]
    ShortName,
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
    pub fn register(&self, name: &str, password: &str) -> Result<(), Refused> {
        if name.is_empty() || password.is_empty() {
            return Err(Refused::Empty);
        }
        if name.chars().count() < 3 {
            return Err(Refused::ShortName);
        }
        if password.chars().count() < 6 {
            return Err(Refused::ShortPassword);
        }
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

    pub fn verify(&self, name: &str, password: &str) -> Result<(), Refused> {
        if name.is_empty() || password.is_empty() {
            return Err(Refused::Empty);
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
