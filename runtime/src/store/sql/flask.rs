//! `SqlStore` in Flask-Session's layout ([`SqlStore::flask_session`]): the table
//! Flask-Session's SQLAlchemy model makes (`id`, `session_id` = prefix + id, `data` =
//! the session dict as msgpack, `expiry` = naive UTC), read and written as
//! Flask-Session's `SqlAlchemySessionInterface` does.
//!
//! A save applies the request's changes to the blob its load read (or reads it again)
//! and writes it back only if the row still holds that blob (`… WHERE session_id = ? AND data = ?`),
//! else reads again: concurrent requests changing different keys all survive, without
//! a transaction held across round trips. Expired rows read as absent, and are deleted
//! when asked for, as Flask-Session does. Nothing is indexed: `revoke_all` and
//! `sessions` are not supported.

use std::time::Duration;

use rocket::futures::future::BoxFuture;
use rocket::tokio::sync::OnceCell;

use super::{check_table, numbered, Bind, Engine, SqlStore, Work};
use crate::store::flask_session;
use crate::store::flask_session::swapped::{self, Recent};
use crate::store::{Changes, Fields, Saved, SessionId, StoreError, StoreErrorKind};

/// Flask-Session's layout: its key prefix, and its statements once the table exists.
#[derive(Debug)]
pub(super) struct FlaskLayout {
    prefix: String,
    ready: OnceCell<FlaskStatements>,
    /// The blob each recent load found, for the save that follows it.
    recent: Recent,
}

/// The statements of Flask-Session's table, written once.
#[derive(Debug)]
struct FlaskStatements {
    load: String,
    update: String,
    touch: String,
    delete_if: String,
    delete: String,
    purge_expired: String,
    insert: String,
    rename: String,
}

impl FlaskStatements {
    fn new<E: Engine>(t: &str) -> FlaskStatements {
        let (now, time) = (E::FLASK_NOW, E::FLASK_TIME);
        let sql = |text: String| numbered::<E>(text);
        FlaskStatements {
            load: sql(format!(
                "SELECT data FROM {t} WHERE session_id = ? AND expiry > {now}"
            )),
            update: sql(format!(
                "UPDATE {t} SET data = ?, expiry = {time} \
                 WHERE session_id = ? AND data = ? AND expiry > {now}"
            )),
            touch: sql(format!(
                "UPDATE {t} SET expiry = {time} WHERE session_id = ? AND expiry > {now}"
            )),
            delete_if: sql(format!("DELETE FROM {t} WHERE session_id = ? AND data = ?")),
            delete: sql(format!("DELETE FROM {t} WHERE session_id = ?")),
            purge_expired: sql(format!(
                "DELETE FROM {t} WHERE session_id = ? AND expiry <= {now}"
            )),
            insert: sql(format!(
                "INSERT INTO {t} (session_id, data, expiry) VALUES (?, ?, {time})"
            )),
            rename: sql(format!(
                "UPDATE {t} SET session_id = ?, expiry = {time} \
                 WHERE session_id = ? AND expiry > {now}"
            )),
        }
    }
}

impl FlaskLayout {
    pub(super) fn new(prefix: String) -> FlaskLayout {
        FlaskLayout {
            prefix,
            ready: OnceCell::new(),
            recent: Recent::default(),
        }
    }
}

/// `now + ttl` as Flask-Session's naive UTC `expiry`: `YYYY-MM-DD HH:MM:SS.ffffff`.
fn expiry(ttl: Duration) -> String {
    let at = time::OffsetDateTime::now_utc() + ttl;
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    )
}

impl<E: Engine> SqlStore<E> {
    /// Keeps sessions in Flask-Session's table instead (0.7, 0.8; the
    /// `SqlAlchemySessionInterface`): `session_id` is `key_prefix` (Flask-Session's
    /// `SESSION_KEY_PREFIX`, `"session:"` by default) and the id, `data` the session
    /// dict as msgpack, `expiry` a naive UTC time; the table (`sessions` unless
    /// [`with_table`](SqlStore::with_table) says otherwise) is created, if missing, as
    /// SQLAlchemy creates it, so that either app may. Shared with a Flask app on
    /// Flask-Session both ways. The `flask_session` configuration key builds it from
    /// `store`, with the cookie in Flask-Session's format too.
    ///
    /// A save writes the row back only if it still holds the blob it read, else reads
    /// again: concurrent requests changing different keys all survive. No index is
    /// kept: `SessionAdmin::revoke_all` and `sessions` are not supported.
    pub fn flask_session(mut self, key_prefix: impl Into<String>) -> Self {
        if self.table == super::DEFAULT_TABLE {
            self.table = "sessions".into();
        }
        self.flask = Some(FlaskLayout::new(key_prefix.into()));
        self
    }

    /// The table exists; its statements.
    async fn flask_ready<'a>(
        &'a self,
        layout: &'a FlaskLayout,
    ) -> Result<&'a FlaskStatements, StoreError> {
        layout
            .ready
            .get_or_try_init(|| async {
                check_table(&self.table).map_err(|e| StoreError::new(E::NAME, e))?;
                let create: Vec<_> = E::flask_create(&self.table)
                    .into_iter()
                    .map(numbered::<E>)
                    .collect();
                let (_, mut con) = self.connect(Work::Read).await?;
                self.bounded(con.transaction(&create)).await?;
                Ok(FlaskStatements::new::<E>(&self.table))
            })
            .await
    }

    /// The live row's blob under `key`.
    async fn flask_blob(
        &self,
        sql: &FlaskStatements,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let (_, mut con) = self.connect(Work::Read).await?;
        self.bounded(con.fetch_bytes(&sql.load, &[Bind::text(key)]))
            .await
    }

    pub(super) async fn flask_load(
        &self,
        layout: &FlaskLayout,
        id: &SessionId,
    ) -> Result<Option<Fields>, StoreError> {
        let sql = self.flask_ready(layout).await?;
        let key = format!("{}{}", layout.prefix, id.as_str());
        match self.flask_blob(sql, &key).await? {
            Some(blob) => {
                let fields =
                    flask_session::fields(&blob).map_err(|e| e.into_store_error(E::NAME))?;
                layout.recent.remember(&key, &blob);
                Ok(Some(fields))
            }
            None => {
                // As Flask-Session does: an expired row is deleted when it is asked for.
                self.execute(&sql.purge_expired, &[Bind::text(&key)])
                    .await?;
                Ok(None)
            }
        }
    }

    pub(super) async fn flask_save(
        &self,
        layout: &FlaskLayout,
        id: &SessionId,
        changes: &Changes,
        ttl: Duration,
    ) -> Result<Saved, StoreError> {
        let sql = self.flask_ready(layout).await?;
        let key = format!("{}{}", layout.prefix, id.as_str());
        let expiry = expiry(ttl);
        let loaded = layout.recent.take(&key);
        if swapped::only_expiry(changes) {
            // Only the expiry moves.
            let binds = [Bind::text(&expiry), Bind::text(&key)];
            let touched = self.execute(&sql.touch, &binds).await?;
            return Ok(if touched == 1 {
                Saved::Done
            } else {
                Saved::Gone
            });
        }
        let (key, expiry) = (&key, &expiry);
        let swap = |old, new| -> BoxFuture<'_, _> {
            Box::pin(self.flask_swap(sql, key, expiry, old, new))
        };
        let read = || -> BoxFuture<'_, _> { Box::pin(self.flask_blob(sql, key)) };
        swapped::save(E::NAME, changes, loaded, read, swap).await
    }

    /// Writes `new` (deletes the row, if `None`) under `key` if the row still holds
    /// `old` (inserts it, if `None`); whether it did.
    async fn flask_swap(
        &self,
        sql: &FlaskStatements,
        key: &str,
        expiry: &str,
        old: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
    ) -> Result<bool, StoreError> {
        if let Some(new) = new.as_ref().filter(|new| new.len() > E::FLASK_MAX_DATA) {
            let too_big = format!(
                "the record is {} bytes, more than Flask-Session's `data` column holds on \
                 {} ({})",
                new.len(),
                E::NAME,
                E::FLASK_MAX_DATA
            );
            return Err(StoreError::of_kind(
                E::NAME,
                StoreErrorKind::Refused,
                too_big,
            ));
        }
        let changed = match (old.as_deref(), new.as_deref()) {
            (Some(old), Some(new)) => {
                let binds = [
                    Bind::Bytes(new),
                    Bind::text(expiry),
                    Bind::text(key),
                    Bind::Bytes(old),
                ];
                self.execute(&sql.update, &binds).await?
            }
            (Some(old), None) => {
                let binds = [Bind::text(key), Bind::Bytes(old)];
                self.execute(&sql.delete_if, &binds).await?
            }
            (None, Some(new)) => {
                // An expired row of this id would make the insert fail.
                self.execute(&sql.purge_expired, &[Bind::text(key)]).await?;
                let binds = [Bind::text(key), Bind::Bytes(new), Bind::text(expiry)];
                self.execute(&sql.insert, &binds).await?
            }
            (None, None) => return Ok(true),
        };
        Ok(changed == 1)
    }

    pub(super) async fn flask_delete(
        &self,
        layout: &FlaskLayout,
        id: &SessionId,
    ) -> Result<(), StoreError> {
        let sql = self.flask_ready(layout).await?;
        let key = format!("{}{}", layout.prefix, id.as_str());
        self.execute(&sql.delete, &[Bind::text(&key)])
            .await
            .map(drop)
    }

    pub(super) async fn flask_rename(
        &self,
        layout: &FlaskLayout,
        from: &SessionId,
        to: &SessionId,
        ttl: Duration,
    ) -> Result<Saved, StoreError> {
        let sql = self.flask_ready(layout).await?;
        let from = format!("{}{}", layout.prefix, from.as_str());
        let to = format!("{}{}", layout.prefix, to.as_str());
        let expiry = expiry(ttl);
        let binds = [Bind::text(&to), Bind::text(&expiry), Bind::text(&from)];
        let moved = self.execute(&sql.rename, &binds).await?;
        Ok(if moved == 1 { Saved::Done } else { Saved::Gone })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn expiry_is_sqlalchemys_naive_utc_text() {
        let text = super::expiry(std::time::Duration::from_secs(3600));
        assert_eq!(text.len(), "2026-12-05 12:00:00.000000".len(), "{text}");
        assert_eq!(&text[4..5], "-");
        assert_eq!(&text[10..11], " ");
        assert_eq!(&text[19..20], ".");
    }
}
