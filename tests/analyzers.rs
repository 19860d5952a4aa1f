//! Integration tests: analyzers.
