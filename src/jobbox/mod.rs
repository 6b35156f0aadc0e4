//! Boxes: [`App`] (the long-lived `<home>/<app>/agents` of one app),
//! [`Builder`] (a box described, then made all or nothing), [`JobBox`] (a
//! box its handle owns) and [`BoxRef`] (every operation on a box; a box
//! opened by name).
//!
//! Made with a [`Builder`], all or nothing: limits are validated before
//! anything is touched, controllers are enabled level by level (home,
//! `<app>`, `agents`) with one write each and taken back if a later step
//! fails, and any failure after the directory was made removes it again.

mod app;
mod builder;
mod enable;
mod handle;
mod listing;
mod options;
mod owned;
mod policy;
mod set;
pub(crate) mod shown;
mod tally;

#[cfg(test)]
mod shown_tests;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use app::App;
pub(crate) use app::AppDirs;
pub use builder::Builder;
pub use handle::BoxRef;
pub use listing::{BoxEntry, Listing, OddEntry, Owner, Reaped};
pub use options::AppOptions;
pub use owned::JobBox;
pub use policy::{Policy, Skipped};
pub use set::{Change, Changed};

/// How long `destroy` and `Drop` give a box to empty and go.
///
/// See the [example](crate::BoxRef#examples) of [`BoxRef`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
