//! TODO: implemented by the owner of this module.
