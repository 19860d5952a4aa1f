//! `cache clean`: empty the layer analysis cache (the advisory database is left alone).
use crate::cache::{layers_dir, LayerCache};
use crate::cli::CacheCommand;

pub fn run(cmd: CacheCommand) -> anyhow::Result<i32> {
    match cmd {
        CacheCommand::Clean { cache_dir } => {
            let dir = crate::cli::cache_dir(cache_dir.as_ref());
            let cache = LayerCache::new(layers_dir(&dir));
            let removed = cache.clean()?;
            crate::output::line_to_stderr(&format!(
                "removed {removed} cached layer analyses from {}",
                cache.root().display()
            ));
            Ok(0)
        }
    }
}
