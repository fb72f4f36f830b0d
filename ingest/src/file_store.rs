//! The raw file store: `<root>/<first two hex digits>/<sha256>`. A file is written to a temporary
//! name while its SHA-256 is computed, then renamed to its hash (the same content lands once).

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
}

/// A file in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub sha256: String,
    pub size_bytes: u64,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("the upload is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the upload is empty")]
    Empty,
    #[error("reading the upload failed: {0}")]
    Upload(String),
    #[error("writing the file store failed: {0}")]
    Io(#[from] std::io::Error),
}

impl FileStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path_of(&self, sha256: &str) -> PathBuf {
        self.root.join(&sha256[..2.min(sha256.len())]).join(sha256)
    }

    /// Streams `body` to the store, hashing as it goes. At most `limit` bytes.
    pub async fn receive<S, E>(&self, mut body: S, limit: u64) -> Result<StoredFile, ReceiveError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let incoming = self.root.join("incoming");
        tokio::fs::create_dir_all(&incoming).await?;
        let temp = incoming.join(uuid::Uuid::new_v4().to_string());
        let result = async {
            let mut file = tokio::fs::File::create(&temp).await?;
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| ReceiveError::Upload(e.to_string()))?;
                size += chunk.len() as u64;
                if size > limit {
                    return Err(ReceiveError::TooLarge { limit });
                }
                hasher.update(&chunk);
                file.write_all(&chunk).await?;
            }
            if size == 0 {
                return Err(ReceiveError::Empty);
            }
            file.flush().await?;
            file.sync_all().await?;
            Ok((hex::encode(hasher.finalize()), size))
        }
        .await;
        let (sha256, size_bytes) = match result {
            Ok(done) => done,
            Err(e) => {
                let _ = tokio::fs::remove_file(&temp).await;
                return Err(e);
            }
        };
        let path = self.path_of(&sha256);
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        tokio::fs::rename(&temp, &path).await?;
        Ok(StoredFile {
            sha256,
            size_bytes,
            path,
        })
    }

    /// A stored file by hash, if present.
    pub async fn open(&self, sha256: &str) -> Option<StoredFile> {
        let path = self.path_of(sha256);
        let meta = tokio::fs::metadata(&path).await.ok()?;
        Some(StoredFile {
            sha256: sha256.to_string(),
            size_bytes: meta.len(),
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(
        parts: &[&'static [u8]],
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        futures::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn files_are_stored_under_their_sha256_and_limits_hold() {
        let dir = std::env::temp_dir().join(uuid::Uuid::new_v4().to_string());
        let store = FileStore::new(&dir);
        let stored = store
            .receive(chunks(&[b"hello ", b"world"]), 100)
            .await
            .unwrap();
        assert_eq!(
            stored.sha256,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        assert_eq!(stored.size_bytes, 11);
        assert_eq!(std::fs::read(&stored.path).unwrap(), b"hello world");
        assert_eq!(store.open(&stored.sha256).await, Some(stored));
        assert!(matches!(
            store.receive(chunks(&[b"0123456789"]), 5).await,
            Err(ReceiveError::TooLarge { .. })
        ));
        assert!(matches!(
            store.receive(chunks(&[]), 5).await,
            Err(ReceiveError::Empty)
        ));
        // Failed uploads leave nothing behind.
        assert_eq!(std::fs::read_dir(dir.join("incoming")).unwrap().count(), 0);
        let _ = std::fs::remove_dir_all(dir);
    }
}
