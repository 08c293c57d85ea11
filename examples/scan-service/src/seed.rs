//! Realistic generated data. (Owner: helper "svc". Skeleton.)

use crate::config::Config;
use crate::db::Db;
use crate::serve::StartError;

/// Seeds the database as `config.seed` asks.
///
/// # Errors
/// [`StartError::Database`].
pub async fn seed_at_start(_db: &Db, _config: &Config) -> Result<(), StartError> {
    Ok(())
}
