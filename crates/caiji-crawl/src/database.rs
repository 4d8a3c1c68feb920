//! Which database caiji uses: `DATABASE_URL`, else `database.url`, else the private cluster.

use caiji_archive::{Archive, EmbeddedCluster};

use crate::{Config, CrawlError};

/// Where the archive lives.
#[derive(Debug, Clone)]
pub enum DatabaseTarget {
    Url(String),
    Embedded(EmbeddedCluster),
}

impl DatabaseTarget {
    pub fn from_config(config: &Config) -> Result<Self, CrawlError> {
        if let Ok(url) = std::env::var("DATABASE_URL")
            && !url.is_empty()
        {
            return Ok(Self::Url(url));
        }
        if let Some(url) = &config.global.database.url {
            return Ok(Self::Url(url.clone()));
        }
        Ok(Self::Embedded(EmbeddedCluster::new(&config.global.database.data_dir)?))
    }

    /// The URL, starting the private cluster if needed.
    pub async fn url(&self) -> Result<String, CrawlError> {
        match self {
            Self::Url(u) => Ok(u.clone()),
            Self::Embedded(c) => Ok(c.ensure_running().await?),
        }
    }

    /// Connects and migrates.
    pub async fn open(&self) -> Result<(Archive, String), CrawlError> {
        let url = self.url().await?;
        Ok((Archive::connect(&url).await?, url))
    }

    /// Like [`Self::open`], for commands that only read the archive (`sql`, `diff`,
    /// `extract --rerun`, `db url`): a private cluster that does not exist yet is an error
    /// naming the folder, never a new, empty archive answering 0 rows.
    pub async fn open_existing(&self) -> Result<(Archive, String), CrawlError> {
        self.require_existing()?;
        self.open().await
    }

    /// An error when the private cluster's folder holds no archive.
    pub fn require_existing(&self) -> Result<(), CrawlError> {
        if let Self::Embedded(c) = self
            && c.status()? == caiji_archive::ClusterStatus::NotInitialised
        {
            return Err(CrawlError::Usage(format!(
                "no archive in {} (a relative database.data_dir is resolved against the project root: \
                 the config file's folder, or its parent when that folder is `config/`): \
                 pass the project's --config, or --data-dir / CAIJI_DATA_DIR",
                c.requested_root().display()
            )));
        }
        Ok(())
    }
}
