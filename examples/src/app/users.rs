//! The in-memory user table, with argon2 password hashes.
//!
//! Hashing is deliberately slow (tens of milliseconds) and takes 19 MiB per hash, so
//! it runs on Tokio's blocking pool, never on the async workers (which would stall
//! every other request, `GET /` included, during a burst of logins), and at most
//! [`HASHING_AT_ONCE`] at a time (the blocking pool grows to 512 threads, and that
//! many hashes at once would need 10 GB). Those 19 MiB are allocated once per hash
//! that can run at a time and reused: freed after each hash, the allocator would keep
//! them anyway, and the app grew to ~800 MB after 50 logins.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rocket::tokio::sync::Semaphore;
use rocket::tokio::task::spawn_blocking;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

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
    /// The working memory of the hashes that can run at once, kept between hashes.
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl Default for Users {
    fn default() -> Users {
        Users {
            hashes: Arc::default(),
            hashing: Arc::new(Semaphore::new(HASHING_AT_ONCE)),
            memory: Arc::default(),
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
        let argon2 = Argon2::default();
        let output = self.hash(
            &argon2,
            password,
            salt.as_salt(),
            Params::DEFAULT_OUTPUT_LEN,
        )?;
        let hash = PasswordHash {
            algorithm: Algorithm::default().ident(),
            version: Some(Version::default().into()),
            params: ParamsString::try_from(argon2.params()).map_err(|_| Refused::Hashing)?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        }
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
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return Err(Refused::WrongPassword);
        };
        let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|_| Refused::Hashing)?;
        let version = parsed.version.unwrap_or(Version::default().into());
        let version = Version::try_from(version).map_err(|_| Refused::Hashing)?;
        let params = Params::try_from(&parsed).map_err(|_| Refused::Hashing)?;
        let argon2 = Argon2::new(algorithm, version, params);
        // `Output`'s comparison takes the same time wherever the two differ.
        match self.hash(&argon2, password, salt, expected.len())? == expected {
            true => Ok(()),
            false => Err(Refused::WrongPassword),
        }
    }

    /// `password` hashed by `argon2` with `salt` into `len` bytes, in working memory
    /// taken from (and given back to) the kept buffers.
    fn hash(
        &self,
        argon2: &Argon2<'_>,
        password: &str,
        salt: argon2::password_hash::Salt<'_>,
        len: usize,
    ) -> Result<Output, Refused> {
        let mut salt_bytes = [0u8; 64];
        let salt = salt
            .decode_b64(&mut salt_bytes)
            .map_err(|_| Refused::Hashing)?;
        let kept = self.memory.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut memory = kept.unwrap_or_default();
        memory.resize(argon2.params().block_count(), Block::new());
        let output = Output::init_with(len, |out| {
            argon2
                .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..])
                .map_err(|_| argon2::password_hash::Error::Crypto)
        });
        self.memory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(memory);
        output.map_err(|_| Refused::Hashing)
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

#[cfg(test)]
mod tests {
    use argon2::{PasswordHasher, PasswordVerifier};

    use super::*;

    #[test]
    fn hashes_are_standard_argon2_and_share_one_working_memory() {
        let users = Users::default();
        users.register_now("ada", "secret1").unwrap();
        let hash = users.hashes.lock().unwrap()["ada"].clone();
        // argon2's own verifier accepts the hash, and ours accepts its hashes.
        let parsed = PasswordHash::new(&hash).unwrap();
        Argon2::default()
            .verify_password(b"secret1", &parsed)
            .unwrap();
        let theirs = Argon2::default()
            .hash_password(b"secret2", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        users.hashes.lock().unwrap().insert("bob".into(), theirs);
        assert_eq!(users.verify_now("ada", "secret1"), Ok(()));
        assert_eq!(
            users.verify_now("ada", "secret2"),
            Err(Refused::WrongPassword)
        );
        assert_eq!(users.verify_now("bob", "secret2"), Ok(()));
        // Four hashes one after the other: one buffer, kept.
        assert_eq!(users.memory.lock().unwrap().len(), 1);
    }
}
