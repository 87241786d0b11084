use rocket::get;
use rocket_keepsake::{Session, SessionAdmin};

#[derive(Session, Default)]
struct Auth {
    user_id: Option<u64>,
}

#[get("/logout-everywhere")]
async fn logout_everywhere(auth: Session<'_, Auth>, admin: SessionAdmin<'_>) -> String {
    let id = auth.user_id.unwrap_or_default();
    format!("{:?}", admin.revoke_all::<Auth, u64>(&id).await)
}

fn main() {}
