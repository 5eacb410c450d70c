//! Chart sources: HTTP(S) chart repositories (`index.yaml` and archives), as Helm's
//! `helm repo add` URLs and Flux's `HelmRepository` address them, and OCI registries
//! (`oci://`, [`OciRepository`]) as `helm push` fills them.
//!
//! [`read_chart_versions`] reads one chart's entries from an index as a stream (memory follows
//! that chart, not the file), [`choose`] picks a version by a Masterminds constraint as Helm
//! does, and [`HttpRepository`] fetches the index with a conditional GET and downloads
//! archives with their digest checked; [`HttpRepository::fetch_index`] hands the whole index
//! over with its digest, for a caller that stores it (a HelmRepository's artifact), and
//! [`check_index`] reads it through without building entries.

mod http;
mod index;
mod oci;

pub use http::{HttpRepository, IndexDownload, IndexFetch, IndexState, RepositoryError};
pub use index::{ChartVersion, IndexError, check_index, choose, read_chart_versions};
pub use oci::{CHART_MEDIA_TYPE, CONFIG_MEDIA_TYPE, OciError, OciRepository, PulledChart};
