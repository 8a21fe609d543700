//! A schema of a test's own on the PostgreSQL server the tests are pointed
//! at (`JOBWIRE_POSTGRES_URL`). Never a silent skip: a run with the
//! `postgres` feature and without the variable fails here.
#![allow(dead_code)]

use jobwire::backend::postgres::Postgres;
use sqlx::postgres::PgConnectOptions;

/// A fresh schema, dropped by [`Schema::remove`].
pub struct Schema {
    /// The server's URL.
    pub url: String,
    /// The schema's name.
    pub name: String,
    admin: sqlx::PgPool,
}

impl Schema {
    /// A fresh schema named after `label` and this process.
    pub async fn fresh(label: &str) -> Schema {
        let url = std::env::var("JOBWIRE_POSTGRES_URL").unwrap_or_else(|_| {
            panic!("the PostgreSQL tests need JOBWIRE_POSTGRES_URL, for example postgres://postgres@127.0.0.1:5432/test")
        });
        let name = format!("jobwire_{label}_{}", std::process::id());
        let admin = sqlx::PgPool::connect(&url).await.expect("connects");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
        )))
        .execute(&admin)
        .await
        .expect("a schema");
        Schema { url, name, admin }
    }

    /// Connection options that reach this schema.
    pub fn options(&self) -> PgConnectOptions {
        let options: PgConnectOptions = self.url.parse().expect("a URL");
        options.options([("search_path", self.name.as_str())])
    }

    /// The queue, in this schema.
    pub async fn queue(&self) -> Postgres {
        Postgres::connect_with(self.options()).await.expect("opens")
    }

    /// A session holding an open transaction with an xid: while it lives,
    /// VACUUM reclaims nothing in the cluster (a pinned horizon, as a
    /// forgotten `BEGIN` or a long report makes one).
    pub async fn pin_the_horizon(&self) -> sqlx::PgConnection {
        use sqlx::Connection;
        let mut holder = sqlx::PgConnection::connect(&self.url)
            .await
            .expect("connects");
        sqlx::query("BEGIN")
            .execute(&mut holder)
            .await
            .expect("begins");
        sqlx::query("SELECT txid_current()")
            .execute(&mut holder)
            .await
            .expect("takes an xid");
        holder
    }

    /// Drops the schema and everything in it.
    pub async fn remove(self) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA {} CASCADE",
            self.name
        )))
        .execute(&self.admin)
        .await
        .expect("drops");
    }
}
