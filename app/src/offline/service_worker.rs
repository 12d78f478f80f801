//! Registers /sw.js and tells the page when a new version is waiting. (Owned by the PWA-shell work.)
