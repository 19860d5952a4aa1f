//! The one integration-test binary (ripgrep style): each area is a module.

mod common;

mod analyzers;
mod config;
mod db;
mod enrich;
mod expectations;
mod fixtures;
mod fuzz;
mod golden;
mod hook;
mod limits;
mod matching;
mod npm;
mod output;
mod pipeline;
mod registry;
mod report;
mod rpm;
