//! [`JobBox`]: a box its handle owns.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;

use super::BoxRef;
use crate::Result;
use crate::fs::CgroupFs;
use crate::layout::KEPT_XATTR;

/// A box this handle owns, made by a [`Builder`](crate::Builder): dropping
/// it kills whatever runs inside and removes the box, on a best-effort
/// basis (failures are logged), as `tempfile` removes its files.
/// [`JobBox::destroy`] does the same and reports failure; [`JobBox::keep`]
/// opts out. While it lives it holds the box's `flock`, so that a reaper
/// can tell a live box from an orphan. Every operation on the box is on
/// [`BoxRef`], which it derefs to.
///
/// # Examples
///
/// ```
/// use std::path::Path;
/// use std::sync::Arc;
/// use cgbox::fs::FakeFs;
/// use cgbox::{BoxRef, Builder};
///
/// let fake = Arc::new(FakeFs::new());
/// let job = Builder::new().name("tool").create(fake.clone())?;
/// fake.spawn("cgbox/agents/tool")?;
/// assert!(job.is_populated()?); // a BoxRef operation
/// drop(job); // owned: killed and removed
/// assert_eq!(fake.cgroups(), ["/", "/cgbox", "/cgbox/agents"]);
///
/// // keep(): the box outlives its handle (marked kept: reaping leaves it).
/// let path = Builder::new().name("kept").create(fake.clone())?.keep();
/// assert_eq!(path, Path::new("/sys/fs/cgroup/cgbox/agents/kept"));
/// assert_eq!(fake.xattr("cgbox/agents/kept", "user.cgbox.kept"), Some(b"1".to_vec()));
/// BoxRef::open(fake.clone(), "cgbox", "kept")?.destroy()?;
/// # Ok::<(), cgbox::Error>(())
/// ```
pub struct JobBox<F: CgroupFs> {
    inner: BoxRef<F>,
    /// End the box when the handle is dropped (tempfile's cleanup).
    owned: bool,
}

impl<F: CgroupFs> JobBox<F> {
    pub(crate) fn own(inner: BoxRef<F>) -> JobBox<F> {
        JobBox { inner, owned: true }
    }

    /// Kill, wait until empty, and remove the box with any cgroups the job
    /// made inside it, reporting what failed. `<app>` and `agents` stay
    /// (see [`App::remove`](crate::App::remove)).
    ///
    /// See the [example](crate::BoxRef#examples) of [`BoxRef`].
    pub fn destroy(mut self) -> Result<()> {
        self.owned = false;
        self.inner.end_box()
    }

    /// Stop owning the box: it stays after the handle is dropped, marked
    /// kept so that reaping leaves it alone. Returns its path.
    ///
    /// See the [example](JobBox#examples).
    #[must_use = "the box stays: keep its path to find it again"]
    pub fn keep(mut self) -> PathBuf {
        self.owned = false;
        if let Err(e) = self
            .inner
            .fs()
            .write_xattr(self.inner.dir(), KEPT_XATTR, b"1")
        {
            log::warn!(
                "could not mark {} kept ({e}): `cgbox reap` will treat it as left over",
                self.inner.path().display()
            );
        }
        self.inner.path().to_path_buf()
    }
}

impl<F: CgroupFs> std::fmt::Debug for JobBox<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobBox")
            .field("path", &self.inner.path())
            .field("owned", &self.owned)
            .finish()
    }
}

impl<F: CgroupFs> Deref for JobBox<F> {
    type Target = BoxRef<F>;

    fn deref(&self) -> &BoxRef<F> {
        &self.inner
    }
}

impl<F: CgroupFs> DerefMut for JobBox<F> {
    fn deref_mut(&mut self) -> &mut BoxRef<F> {
        &mut self.inner
    }
}

impl<F: CgroupFs> Drop for JobBox<F> {
    fn drop(&mut self) {
        if self.owned
            && let Err(e) = self.inner.end_box()
        {
            log::error!("could not remove box {}: {e}", self.inner.path().display());
        }
    }
}
