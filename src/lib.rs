//! layerscan: a supply-chain scanner for container images and AWS Lambda layers.
//!
//! The pipeline (see `HOUSE-STYLE.md`): [`source`] fetches a [`model::Target`], [`unpack`] streams each
//! layer through the [`analyzer`]s, [`applier`] merges the layers into an [`model::Inventory`],
//! [`matcher`] checks it against the [`db`], [`audit`] checks configuration, [`report`] renders.

pub mod advisory;
pub mod analyzer;
pub mod app;
pub mod applier;
pub mod audit;
pub mod cache;
pub mod cli;
pub mod cmd;
pub mod db;
pub mod error;
#[doc(hidden)]
pub mod fuzz;
pub mod gunzip;
pub mod hook;
pub mod limits;
pub mod matcher;
pub mod model;
pub mod output;
pub mod pipeline;
pub mod policy;
pub mod report;
pub mod source;
pub mod unpack;
pub mod version;
