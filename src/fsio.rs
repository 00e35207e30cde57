//! fsio
