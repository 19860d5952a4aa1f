//! The one integration-test binary (ripgrep style): each area is a module.

mod common;

mod analyzers;
mod config;
mod db;
mod enrich;
mod expectations;
mod fixtures;
mod hook;
mod matching;
mod pipeline;
mod registry;
mod report;
