//! The layer pipeline: for each layer (in parallel, bounded by `--parallel`), a cache lookup by
//! DiffID or a streaming unpack + analyze; then the applier merges the results in layer order.
//!
//! Memory stays bounded because each worker streams one layer at a time and keeps only the files an
//! analyzer asked for; the per-layer results are small.

use crate::cache::LayerCache;
use crate::model::{Inventory, LayerAnalysis, LayerRef};
use crate::source::{LayerBlob, Source};
use crate::unpack;
use anyhow::Context;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Debug, Clone, Default)]
pub struct PipelineOptions {
    pub parallel: usize,
    /// Layer cache directory (`<cache-dir>/layers`); `None` with `--no-cache`.
    pub cache_dir: Option<std::path::PathBuf>,
    /// Show progress bars (only when stderr is a terminal).
    pub progress: bool,
}

/// The worker count: `--parallel`, else the number of cores; never more than the layers.
fn workers(opts: &PipelineOptions, layers: usize) -> usize {
    let wanted = if opts.parallel > 0 {
        opts.parallel
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    };
    wanted.clamp(1, layers.max(1))
}

pub fn run(source: &dyn Source, opts: &PipelineOptions) -> anyhow::Result<Inventory> {
    let analyses = analyze_layers(source, opts)?;
    Ok(crate::applier::apply(&source.target().layers, analyses))
}

/// Analyse every layer of the source (in parallel), returning the analyses in layer order. The
/// first failing layer (in layer order) is the error; other workers stop taking new layers.
pub fn analyze_layers(
    source: &dyn Source,
    opts: &PipelineOptions,
) -> anyhow::Result<Vec<LayerAnalysis>> {
    let layers = &source.target().layers;
    let count = layers.len();
    let cache = opts.cache_dir.as_ref().map(LayerCache::new);
    let bars = opts.progress.then(indicatif::MultiProgress::new);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<anyhow::Result<LayerAnalysis>>>> =
        Mutex::new((0..count).map(|_| None).collect());

    std::thread::scope(|scope| {
        for _ in 0..workers(opts, count) {
            scope.spawn(|| loop {
                if failed.load(Ordering::Relaxed) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(layer) = layers.get(i) else { break };
                let bar = bars.as_ref().map(|m| m.add(layer_bar(layer, i, count)));
                // An analyzer bug must not take the process down with a panic mid-report.
                let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    analyze_layer(source, i, layer, cache.as_ref(), bar.as_ref())
                }))
                .unwrap_or_else(|_| {
                    Err(anyhow::anyhow!(
                        "internal error while analysing layer {} of {}",
                        i + 1,
                        count
                    ))
                });
                if let Some(b) = bar {
                    b.finish_and_clear();
                }
                if res.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                if let Ok(mut r) = results.lock() {
                    if let Some(slot) = r.get_mut(i) {
                        *slot = Some(res);
                    }
                }
            });
        }
    });

    let results = results
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a layer worker panicked"))?;
    let mut out = Vec::with_capacity(count);
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Some(Ok(a)) => out.push(a),
            Some(Err(e)) => return Err(e),
            None => anyhow::bail!("layer {} of {} was not analysed", i + 1, count),
        }
    }
    Ok(out)
}

fn layer_bar(layer: &LayerRef, i: usize, count: usize) -> indicatif::ProgressBar {
    let (bar, template) = match layer.size {
        Some(n) => (
            indicatif::ProgressBar::new(n),
            "{prefix} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}",
        ),
        None => (
            indicatif::ProgressBar::new_spinner(),
            "{prefix} {spinner} {bytes} {bytes_per_sec}",
        ),
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    let short: String = layer
        .digest
        .strip_prefix("sha256:")
        .unwrap_or(&layer.digest)
        .chars()
        .take(12)
        .collect();
    bar.set_prefix(format!("layer {}/{} {short}", i + 1, count));
    bar
}

/// One layer: from the cache when its DiffID is known and an entry made from the same blob is
/// cached, else streamed and analysed (and cached).
///
/// The blob digest (when the source names one) is always verified: by the source as it streams, or
/// here. The DiffID is only re-derived, at the cost of a sha256 pass over the uncompressed layer,
/// when there is no blob digest to bind the analysis to; the cache keeps the verified digests
/// beside each entry (see `cache`).
fn analyze_layer(
    source: &dyn Source,
    index: usize,
    layer: &LayerRef,
    cache: Option<&LayerCache>,
    bar: Option<&indicatif::ProgressBar>,
) -> anyhow::Result<LayerAnalysis> {
    let label = if layer.digest.is_empty() {
        source.target().name.clone()
    } else {
        format!("layer {}", layer.digest)
    };
    let diff_id = layer.diff_id.as_deref().filter(|d| !d.is_empty());
    let blob_digest = Some(layer.digest.as_str()).filter(|d| !d.is_empty());
    if let (Some(cache), Some(diff_id)) = (cache, diff_id) {
        if let Some(hit) = cache.get(diff_id, blob_digest.unwrap_or(diff_id)) {
            tracing::debug!("layer {diff_id}: from cache");
            return Ok(hit);
        }
    }
    let blob = source
        .open_layer(index)
        .with_context(|| format!("opening {label}"))?;
    match blob {
        LayerBlob::Tar(reader) => {
            // A source that checks blob digests while it streams (the registry) spares the
            // unpacker a second sha256 pass over the compressed bytes.
            let digest = blob_digest.filter(|_| !source.verifies_blob_digests());
            let check_diff_id = if blob_digest.is_none() { diff_id } else { None };
            let mut analysis = match bar {
                Some(b) => unpack::analyze_tar_blob(b.wrap_read(reader), digest, check_diff_id),
                None => unpack::analyze_tar_blob(reader, digest, check_diff_id),
            }
            .with_context(|| format!("{} ({label})", source.target().name))?;
            let mut verified: Vec<String> = blob_digest.into_iter().map(str::to_string).collect();
            if let Some(d) = analysis.diff_id.as_ref().filter(|d| !verified.contains(d)) {
                verified.push(d.clone());
            }
            if analysis.diff_id.is_none() {
                analysis.diff_id = diff_id.map(str::to_string);
            }
            if let (Some(cache), Some(diff_id)) = (cache, diff_id) {
                if let Err(e) = cache.put(diff_id, &verified, &analysis) {
                    tracing::debug!("not caching {diff_id}: {e:#}");
                }
            }
            Ok(analysis)
        }
        LayerBlob::Zip(path) => unpack::analyze_zip(&path),
        LayerBlob::Dir(path) => unpack::analyze_dir(&path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ArtifactType, Target};
    use crate::unpack::sha256_digest;
    use std::sync::atomic::AtomicUsize;

    /// An in-memory image whose layer opens are counted.
    struct MemSource {
        target: Target,
        blobs: Vec<Vec<u8>>,
        opens: AtomicUsize,
    }

    impl Source for MemSource {
        fn target(&self) -> &Target {
            &self.target
        }
        fn artifact_type(&self) -> ArtifactType {
            ArtifactType::ContainerImage
        }
        fn open_layer(&self, index: usize) -> anyhow::Result<LayerBlob> {
            self.opens.fetch_add(1, Ordering::SeqCst);
            let blob = self.blobs.get(index).cloned().unwrap_or_default();
            Ok(LayerBlob::Tar(Box::new(std::io::Cursor::new(blob))))
        }
    }

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, path, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn source(blobs: Vec<Vec<u8>>) -> MemSource {
        let layers = blobs
            .iter()
            .map(|b| LayerRef {
                digest: sha256_digest(b),
                diff_id: Some(sha256_digest(b)),
                media_type: "application/vnd.oci.image.layer.v1.tar".into(),
                size: Some(b.len() as u64),
                created_by: None,
            })
            .collect();
        MemSource {
            target: Target {
                name: "mem".into(),
                layers,
                ..Target::default()
            },
            blobs,
            opens: AtomicUsize::new(0),
        }
    }

    #[test]
    fn layers_are_analysed_in_parallel_but_applied_in_order() {
        let mut blobs = Vec::new();
        for i in 0..8 {
            let marker = format!("opt/.wh.l{i}");
            let file = format!("opt/l{}", i + 1);
            blobs.push(tar_of(&[(marker.as_str(), b""), (file.as_str(), b"x")]));
        }
        let src = source(blobs);
        let opts = PipelineOptions {
            parallel: 4,
            ..Default::default()
        };
        let analyses = analyze_layers(&src, &opts).unwrap();
        assert_eq!(analyses.len(), 8);
        for (i, a) in analyses.iter().enumerate() {
            assert_eq!(a.whiteouts, vec![format!("opt/l{i}")]);
            assert_eq!(a.diff_id, src.target.layers[i].diff_id);
        }
    }

    /// Wraps a source and claims that it verifies blob digests itself.
    struct SelfVerifying(MemSource);

    impl Source for SelfVerifying {
        fn target(&self) -> &Target {
            self.0.target()
        }
        fn artifact_type(&self) -> ArtifactType {
            self.0.artifact_type()
        }
        fn open_layer(&self, index: usize) -> anyhow::Result<LayerBlob> {
            self.0.open_layer(index)
        }
        fn verifies_blob_digests(&self) -> bool {
            true
        }
    }

    #[test]
    fn blob_digest_is_checked_once_and_diff_id_without_one() {
        let mut src = source(vec![tar_of(&[("a", b"1")])]);
        let wrong = sha256_digest(b"something else");
        src.target.layers[0].digest = wrong.clone();
        // The unpacker checks the blob digest unless the source does.
        let err = analyze_layers(&src, &PipelineOptions::default()).unwrap_err();
        assert!(
            format!("{err:#}").contains("layer blob digest mismatch"),
            "{err:#}"
        );
        let mut trusted = SelfVerifying(src);
        assert_eq!(
            analyze_layers(&trusted, &PipelineOptions::default())
                .unwrap()
                .len(),
            1
        );
        // With no blob digest, the DiffID is what the layer is checked against.
        trusted.0.target.layers[0].digest = String::new();
        trusted.0.target.layers[0].diff_id = Some(wrong.clone());
        let err = analyze_layers(&trusted, &PipelineOptions::default()).unwrap_err();
        assert!(
            format!("{err:#}").contains("layer DiffID digest mismatch"),
            "{err:#}"
        );
    }

    /// A config that claims another layer's DiffID: its blob is analysed (the claim is not what
    /// the report is made of), and the cache entry it leaves is never served for the real layer's
    /// blob, nor the real layer's entry for it.
    #[test]
    fn a_false_diff_id_claim_neither_reads_nor_poisons_the_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let opts = PipelineOptions {
            parallel: 1,
            cache_dir: Some(tmp.path().join("layers")),
            progress: false,
        };
        let real = source(vec![tar_of(&[("etc/real", b"1")])]);
        let claimed = real.target.layers[0].diff_id.clone();
        let mut liar = source(vec![tar_of(&[("etc/evil", b"1"), ("x/.wh.y", b"")])]);
        liar.target.layers[0].diff_id = claimed;

        let real_first = analyze_layers(&real, &opts).unwrap();
        let liar_first = analyze_layers(&liar, &opts).unwrap();
        assert_eq!(
            liar.opens.load(Ordering::SeqCst),
            1,
            "not served from cache"
        );
        assert_eq!(liar_first[0].whiteouts, vec!["x/y".to_string()]);
        let real_again = analyze_layers(&real, &opts).unwrap();
        assert_eq!(real_again, real_first);
        assert_eq!(
            real.opens.load(Ordering::SeqCst),
            2,
            "the liar's entry was not used"
        );
        analyze_layers(&real, &opts).unwrap();
        assert_eq!(
            real.opens.load(Ordering::SeqCst),
            2,
            "and the real one is cached again"
        );
    }

    #[test]
    fn first_failing_layer_is_the_error() {
        let mut src = source(vec![tar_of(&[("a", b"1")]), tar_of(&[("b", b"2")])]);
        let wrong = sha256_digest(b"something else");
        src.target.layers[1].digest = wrong.clone();
        let err = analyze_layers(&src, &PipelineOptions::default()).unwrap_err();
        assert!(format!("{err:#}").contains(&wrong), "{err:#}");
    }

    #[test]
    fn verified_layers_come_from_the_cache_the_second_time() {
        let tmp = tempfile::tempdir().unwrap();
        let opts = PipelineOptions {
            parallel: 2,
            cache_dir: Some(tmp.path().join("layers")),
            progress: false,
        };
        let src = source(vec![tar_of(&[("a", b"1")]), tar_of(&[("b", b"2")])]);
        let first = analyze_layers(&src, &opts).unwrap();
        assert_eq!(src.opens.load(Ordering::SeqCst), 2);
        let second = analyze_layers(&src, &opts).unwrap();
        assert_eq!(src.opens.load(Ordering::SeqCst), 2, "no layer re-read");
        assert_eq!(first, second);
        let no_cache = PipelineOptions {
            cache_dir: None,
            ..opts
        };
        analyze_layers(&src, &no_cache).unwrap();
        assert_eq!(src.opens.load(Ordering::SeqCst), 4);
    }
}
