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
}
