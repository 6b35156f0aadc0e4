//! What box creation does with a limit it cannot apply.

use crate::Error;

/// What to do with a limit that cannot be applied.
///
/// See the [example](crate::Builder#examples).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Fail box creation, leaving nothing behind.
    #[default]
    Strict,
    /// Apply what can be applied, log a warning for the rest and report it
    /// in [`BoxRef::skipped`](crate::BoxRef::skipped).
    BestEffort,
}

/// A limit (or controller) that was not applied under [`Policy::BestEffort`].
///
/// See the [example](crate::Builder#examples).
#[derive(Debug, Clone)]
pub struct Skipped {
    /// The interface file, or the controller, that was skipped.
    pub what: String,
    /// Why.
    pub error: Error,
}
