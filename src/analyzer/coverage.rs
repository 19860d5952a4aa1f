//! Coverage: what a layer holds that no analyzer reads. Recognised by path and cheap magic bytes in
//! the same single pass as the analyzers, and recorded as [`LayerGap`]s so the report can say "these
//! packages were not checked" instead of a silent "clean".
//!
//! The claim rule: the unpacker asks this module only about files no analyzer wants
//! ([`super::required`] is false). So when an analyzer starts reading a kind of file (an rpm
//! database, `node_modules/*/package.json`), its gaps disappear by construction, with no list to
//! keep in step.
//!
//! Cost: a path test per entry (suffix and component checks, no allocation), and for files of at
//! least [`MIN_BINARY_SIZE`] bytes a read of their first [`PREFIX`] bytes, which are already in the
//! decompressed buffer. Only a file that shows a Go build-ID note or Go section is read further, up
//! to its data segment, to confirm the build-info magic.

use crate::model::{GapKind, LayerGap};
use std::collections::BTreeMap;
use std::io::{self, Read};

/// Executables smaller than this are not probed: a Go executable is never this small (a stripped
/// "hello world" is over 1 MiB).
pub const MIN_BINARY_SIZE: u64 = 256 << 10;

/// How much of a candidate executable is read to identify it: headers, program headers or load
/// commands, and the note segment all sit at the start.
const PREFIX: usize = 8192;

/// How far past the start of a Go executable's data segment the build-info magic is looked for.
const BUILDINFO_WINDOW: usize = 64 << 10;

/// The magic that starts a Go executable's build information (`debug/buildinfo`).
const GO_BUILDINFO_MAGIC: &[u8] = b"\xff Go buildinf:";

/// Set (to anything) to turn the recognition off; only for `cargo xtask bench` to measure what it
/// costs, side by side in one binary.
const DISABLE_ENV: &str = "LAYERSCAN_BENCH_NO_COVERAGE";

fn disabled() -> bool {
    static DISABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DISABLED.get_or_init(|| std::env::var_os(DISABLE_ENV).is_some())
}

/// What the path alone says about a file no analyzer wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathMatch {
    /// A gap, whatever the content.
    Gap(GapKind),
    /// A gap only if the content is a zip (`PK\x03\x04`, or the end record of an empty zip).
    Zip(GapKind),
}

/// The components of `path` (normalised, no leading slash) before the file name.
fn parent_and_base(path: &str) -> (&str, &str) {
    crate::unpack::split_parent(path)
}

fn ends_with_ci(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.as_bytes()
            .get(s.len() - suffix.len()..)
            .is_some_and(|t| t.eq_ignore_ascii_case(suffix.as_bytes()))
}

/// The last component of a directory path.
fn last_component(dir: &str) -> &str {
    parent_and_base(dir).1
}

/// Recognise by path. Called only for files no analyzer wants; no allocation.
pub fn by_path(path: &str) -> Option<PathMatch> {
    let (dir, base) = parent_and_base(path);
    if base.is_empty() {
        return None;
    }
    // rpm databases: sqlite (rpm >= 4.16), Berkeley DB (`Packages`), ndb (`Packages.db`), in each
    // place a distribution keeps them.
    if matches!(base, "rpmdb.sqlite" | "Packages" | "Packages.db")
        && matches!(
            dir,
            "var/lib/rpm" | "usr/lib/sysimage/rpm" | "usr/share/rpm"
        )
    {
        return Some(PathMatch::Gap(GapKind::RpmDatabase));
    }
    match base {
        "package-lock.json"
        | "npm-shrinkwrap.json"
        | "yarn.lock"
        | "pnpm-lock.yaml"
        | "bun.lock"
        | ".package-lock.json" => {
            return Some(PathMatch::Gap(GapKind::NodeLockfile));
        }
        "package.json" => {
            // An installed package: `node_modules/<name>/package.json` or
            // `node_modules/@scope/<name>/package.json` (files deeper in a package are not).
            let (up, _name) = parent_and_base(dir);
            let (up2, scope) = parent_and_base(up);
            if last_component(up) == "node_modules"
                || (scope.starts_with('@') && last_component(up2) == "node_modules")
            {
                return Some(PathMatch::Gap(GapKind::NodeModules));
            }
            return None;
        }
        "Gemfile.lock" | "gems.locked" => return Some(PathMatch::Gap(GapKind::RubyGems)),
        "composer.lock" => return Some(PathMatch::Gap(GapKind::PhpComposer)),
        "installed.json" if dir == "vendor/composer" || dir.ends_with("/vendor/composer") => {
            return Some(PathMatch::Gap(GapKind::PhpComposer));
        }
        "packages.lock.json" => return Some(PathMatch::Gap(GapKind::Dotnet)),
        "Cargo.lock" => return Some(PathMatch::Gap(GapKind::RustCargo)),
        "Pipfile.lock" | "poetry.lock" | "uv.lock" | "pdm.lock" => {
            return Some(PathMatch::Gap(GapKind::PythonLockfile));
        }
        "pom.properties"
            if dir.starts_with("META-INF/maven/") || dir.contains("/META-INF/maven/") =>
        {
            return Some(PathMatch::Gap(GapKind::JavaArchive));
        }
        "gradle.lockfile" => return Some(PathMatch::Gap(GapKind::JavaArchive)),
        _ => {}
    }
    if ends_with_ci(base, ".deps.json") {
        return Some(PathMatch::Gap(GapKind::Dotnet));
    }
    if base.ends_with(".gemspec") && last_component(dir) == "specifications" {
        return Some(PathMatch::Gap(GapKind::RubyGems));
    }
    if base.ends_with(".json") && last_component(dir) == "conda-meta" {
        return Some(PathMatch::Gap(GapKind::Conda));
    }
    if ends_with_ci(base, ".jar") || ends_with_ci(base, ".war") || ends_with_ci(base, ".ear") {
        return Some(PathMatch::Zip(GapKind::JavaArchive));
    }
    if ends_with_ci(base, ".egg") {
        return Some(PathMatch::Zip(GapKind::PythonEgg));
    }
    None
}

/// Does the recognizer look at files by size (executables), so that a directory walk must stat
/// every file? False only when recognition is off.
pub fn probes_sizes() -> bool {
    !disabled()
}

/// Should the unpacker hand this file (that no analyzer wants) to [`recognize`]? Cheap.
pub fn wants(path: &str, size: u64) -> bool {
    !disabled() && (size >= MIN_BINARY_SIZE || by_path(path).is_some())
}

/// Where a gap is grouped: a tree of many small files (an installed `node_modules`, a gem
/// `specifications` directory, `conda-meta`) is one gap at its directory, counted in files; anything
/// else is a gap at the file. The outermost `node_modules` holds the whole tree, nested ones too.
pub fn group_path(kind: GapKind, path: &str) -> &str {
    match kind {
        GapKind::NodeModules => {
            let mut end = 0;
            for comp in path.split('/') {
                end += comp.len();
                if comp == "node_modules" {
                    return path.get(..end).unwrap_or(path);
                }
                end += 1;
            }
            path
        }
        GapKind::RubyGems | GapKind::Conda => {
            let (dir, _) = parent_and_base(path);
            if matches!(last_component(dir), "specifications" | "conda-meta") {
                dir
            } else {
                path
            }
        }
        _ => path,
    }
}

/// Is this gap path a tree's directory (that later layers add files to) rather than one file (that
/// a later layer's file at the same path replaces)?
pub fn is_tree(kind: GapKind, path: &str) -> bool {
    let last = crate::unpack::split_parent(path).1;
    match kind {
        GapKind::NodeModules => last == "node_modules",
        GapKind::RubyGems => last == "specifications",
        GapKind::Conda => last == "conda-meta",
        _ => false,
    }
}

/// Recognise a file no analyzer wants, from its path and, when that is not enough, its first
/// bytes. Reads at most [`PREFIX`] bytes, except from a Go executable, which is read up to its
/// build information.
pub fn recognize(path: &str, size: u64, reader: &mut dyn Read) -> io::Result<Option<GapKind>> {
    if disabled() {
        return Ok(None);
    }
    match by_path(path) {
        Some(PathMatch::Gap(kind)) => return Ok(Some(kind)),
        Some(PathMatch::Zip(kind)) => {
            let mut head = [0u8; 4];
            let n = crate::unpack::read_up_to(reader, &mut head)?;
            let is_zip = n == 4 && (&head == b"PK\x03\x04" || &head == b"PK\x05\x06");
            return Ok(is_zip.then_some(kind));
        }
        None => {}
    }
    if size < MIN_BINARY_SIZE {
        return Ok(None);
    }
    let mut prefix = vec![0u8; PREFIX];
    let n = crate::unpack::read_up_to(reader, &mut prefix)?;
    prefix.truncate(n);
    let Some(data_offset) = go_data_offset(&prefix) else {
        return Ok(None);
    };
    // Forward to the data segment (only Go executables get here), then look for the magic.
    let offset = data_offset.max(n as u64);
    let skip = offset - n as u64;
    let skipped = io::copy(&mut reader.take(skip), &mut io::sink())?;
    if skipped < skip {
        return Ok(None);
    }
    let mut window = Vec::new();
    // The prefix may already hold the start of the data segment (a tiny test executable).
    if let Some(held) = usize::try_from(data_offset)
        .ok()
        .and_then(|o| prefix.get(o..))
    {
        window.extend_from_slice(held);
    }
    reader
        .take((BUILDINFO_WINDOW.saturating_sub(window.len())) as u64)
        .read_to_end(&mut window)?;
    Ok(has_buildinfo_magic(&window).then_some(GapKind::GoBinary))
}

/// `debug/buildinfo` looks for the magic on 16-byte boundaries.
fn has_buildinfo_magic(window: &[u8]) -> bool {
    window.chunks(16).enumerate().any(|(i, _)| {
        window
            .get(i * 16..)
            .is_some_and(|w| w.starts_with(GO_BUILDINFO_MAGIC))
    })
}

/// Little- or big-endian integer readers over a byte slice; `None` past the end.
#[derive(Clone, Copy)]
struct Bytes<'a> {
    b: &'a [u8],
    big: bool,
}

impl Bytes<'_> {
    fn u16(&self, at: usize) -> Option<u64> {
        let s: [u8; 2] = self.b.get(at..at + 2)?.try_into().ok()?;
        Some(u64::from(if self.big {
            u16::from_be_bytes(s)
        } else {
            u16::from_le_bytes(s)
        }))
    }
    fn u32(&self, at: usize) -> Option<u64> {
        let s: [u8; 4] = self.b.get(at..at + 4)?.try_into().ok()?;
        Some(u64::from(if self.big {
            u32::from_be_bytes(s)
        } else {
            u32::from_le_bytes(s)
        }))
    }
    fn u64(&self, at: usize) -> Option<u64> {
        let s: [u8; 8] = self.b.get(at..at + 8)?.try_into().ok()?;
        Some(if self.big {
            u64::from_be_bytes(s)
        } else {
            u64::from_le_bytes(s)
        })
    }
}

/// If the prefix is the start of a Go executable (ELF with a Go build-ID note, Mach-O with a
/// `__go_buildinfo` section, PE with a `.go.buildinfo` or Go's `.data` layout), the file offset
/// where its build information starts (or the data segment it starts in).
fn go_data_offset(prefix: &[u8]) -> Option<u64> {
    if prefix.starts_with(b"\x7fELF") {
        elf_go_data_offset(prefix)
    } else if prefix.starts_with(b"MZ") {
        pe_go_data_offset(prefix)
    } else {
        macho_go_data_offset(prefix)
    }
}

const PT_LOAD: u64 = 1;
const PT_NOTE: u64 = 4;
const PF_W: u64 = 2;
/// `ELF_NOTE_GOBUILDID_TAG` in Go's linker.
const NOTE_GO_BUILDID: u64 = 4;

fn elf_go_data_offset(p: &[u8]) -> Option<u64> {
    let is64 = match p.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let big = *p.get(5)? == 2;
    let b = Bytes { b: p, big };
    let (phoff, phentsize, phnum) = if is64 {
        (b.u64(32)?, b.u16(54)?, b.u16(56)?)
    } else {
        (b.u32(28)?, b.u16(42)?, b.u16(44)?)
    };
    let mut go_note = false;
    let mut data = None;
    for i in 0..phnum.min(64) {
        let at = usize::try_from(phoff + i * phentsize).ok()?;
        let (ptype, flags, offset, filesz) = if is64 {
            (b.u32(at)?, b.u32(at + 4)?, b.u64(at + 8)?, b.u64(at + 32)?)
        } else {
            (b.u32(at)?, b.u32(at + 24)?, b.u32(at + 4)?, b.u32(at + 16)?)
        };
        match ptype {
            PT_NOTE => go_note |= has_go_note(p, offset, filesz, big),
            PT_LOAD if flags & PF_W != 0 && data.is_none() => data = Some(offset),
            _ => {}
        }
    }
    data.filter(|_| go_note)
}

/// Does the note segment at `offset..offset+size` (within the prefix) hold Go's build-ID note?
fn has_go_note(p: &[u8], offset: u64, size: u64, big: bool) -> bool {
    let (Ok(start), Ok(size)) = (usize::try_from(offset), usize::try_from(size)) else {
        return false;
    };
    let Some(seg) = p.get(start..start.saturating_add(size).min(p.len())) else {
        return false;
    };
    let b = Bytes { b: seg, big };
    let mut at = 0usize;
    while let (Some(namesz), Some(descsz), Some(kind)) = (b.u32(at), b.u32(at + 4), b.u32(at + 8)) {
        let name_at = at + 12;
        if kind == NOTE_GO_BUILDID
            && namesz == 4
            && seg.get(name_at..name_at + 4) == Some(b"Go\0\0")
        {
            return true;
        }
        let pad = |n: u64| n.div_ceil(4) * 4;
        let next = 12u64 + pad(namesz) + pad(descsz);
        at = match usize::try_from(next).ok().and_then(|n| at.checked_add(n)) {
            Some(a) if a > at => a,
            _ => return false,
        };
    }
    false
}

fn macho_go_data_offset(p: &[u8]) -> Option<u64> {
    let magic = p.get(..4)?;
    let (is64, big) = match magic {
        [0xcf, 0xfa, 0xed, 0xfe] => (true, false),
        [0xce, 0xfa, 0xed, 0xfe] => (false, false),
        [0xfe, 0xed, 0xfa, 0xcf] => (true, true),
        [0xfe, 0xed, 0xfa, 0xce] => (false, true),
        _ => return None,
    };
    let b = Bytes { b: p, big };
    let ncmds = b.u32(16)?;
    let mut at: usize = if is64 { 32 } else { 28 };
    for _ in 0..ncmds.min(256) {
        let cmd = b.u32(at)?;
        let cmdsize = usize::try_from(b.u32(at + 4)?).ok()?;
        // LC_SEGMENT (0x1) / LC_SEGMENT_64 (0x19): sections follow the segment command.
        let (seg_len, sect_len, nsects_at) = match cmd {
            0x19 => (72usize, 80usize, 64usize),
            0x1 => (56, 68, 48),
            _ => (0, 0, 0),
        };
        if seg_len > 0 {
            let nsects = b.u32(at + nsects_at)?;
            for s in 0..nsects.min(256) {
                let sect = at + seg_len + usize::try_from(s).ok()? * sect_len;
                let name = p.get(sect..sect + 16)?;
                if name.starts_with(b"__go_buildinfo") {
                    let off_at = sect + if is64 { 48 } else { 40 };
                    return b.u32(off_at);
                }
            }
        }
        if cmdsize == 0 {
            return None;
        }
        at = at.checked_add(cmdsize)?;
    }
    None
}

fn pe_go_data_offset(p: &[u8]) -> Option<u64> {
    let b = Bytes { b: p, big: false };
    let pe = usize::try_from(b.u32(0x3c)?).ok()?;
    if p.get(pe..pe + 4)? != b"PE\0\0" {
        return None;
    }
    let nsects = b.u16(pe + 6)?;
    let opt_size = usize::try_from(b.u16(pe + 20)?).ok()?;
    let table = pe + 24 + opt_size;
    // Go's linker writes linker version 3.0 in the optional header.
    let go_linker = p.get(pe + 26..pe + 28) == Some(&[3, 0]);
    let mut data = None;
    let mut has_symtab = false;
    for i in 0..usize::try_from(nsects.min(96)).ok()? {
        let s = table + i * 40;
        let name = p.get(s..s + 8)?;
        let raw = b.u32(s + 20)?;
        let flags = b.u32(s + 36)?;
        if name.starts_with(b".go.buil") {
            return Some(raw);
        }
        // Go's linker writes `.data` as initialized, readable, writable data, and, unless
        // stripped, a `.symtab` section, which other PE linkers do not.
        if name.starts_with(b".data\0") && flags & 0xC000_0040 == 0xC000_0040 && data.is_none() {
            data = Some(raw);
        }
        has_symtab |= name.starts_with(b".symtab\0");
    }
    data.filter(|_| has_symtab || go_linker)
}

/// Gaps of one layer as they are found: one entry per (kind, group path) with its file count.
#[derive(Debug, Default)]
pub struct GapCollector {
    groups: BTreeMap<(GapKind, String), u64>,
    /// Kind by file path, so that a hard link to a recognised file is recognised too.
    by_file: std::collections::HashMap<String, GapKind>,
}

/// Files remembered per layer for hard links (beyond this, links to them are not followed).
const MAX_REMEMBERED: usize = 100_000;

impl GapCollector {
    pub fn add(&mut self, kind: GapKind, path: &str) {
        let group = group_path(kind, path);
        *self.groups.entry((kind, group.to_string())).or_insert(0) += 1;
        if self.by_file.len() < MAX_REMEMBERED {
            self.by_file.insert(path.to_string(), kind);
        }
    }

    /// A hard link in the same layer: a gap if its target was one.
    pub fn hardlink(&mut self, path: &str, target: &str) {
        if let Some(kind) = self.by_file.get(target).copied() {
            self.add(kind, path);
        } else if let Some(PathMatch::Gap(kind)) = by_path(path).filter(|_| !disabled()) {
            self.add(kind, path);
        }
    }

    pub fn finish(self) -> Vec<LayerGap> {
        self.groups
            .into_iter()
            .map(|((kind, path), files)| LayerGap { kind, path, files })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_table() {
        use GapKind::*;
        use PathMatch::{Gap, Zip};
        let table: &[(&str, Option<PathMatch>)] = &[
            ("var/lib/rpm/rpmdb.sqlite", Some(Gap(RpmDatabase))),
            ("var/lib/rpm/Packages", Some(Gap(RpmDatabase))),
            ("var/lib/rpm/Packages.db", Some(Gap(RpmDatabase))),
            ("usr/lib/sysimage/rpm/rpmdb.sqlite", Some(Gap(RpmDatabase))),
            ("usr/lib/sysimage/rpm/Packages.db", Some(Gap(RpmDatabase))),
            ("usr/share/rpm/Packages", Some(Gap(RpmDatabase))),
            ("var/lib/rpm/rpmdb.sqlite-shm", None),
            ("var/lib/rpm/Name", None),
            ("opt/var/lib/rpm/Packages", None),
            (
                "nodejs/node_modules/lodash/package.json",
                Some(Gap(NodeModules)),
            ),
            (
                "node_modules/@types/node/package.json",
                Some(Gap(NodeModules)),
            ),
            (
                "app/node_modules/a/node_modules/b/package.json",
                Some(Gap(NodeModules)),
            ),
            ("app/node_modules/lodash/fp/package.json", None),
            ("app/package.json", None),
            ("app/package-lock.json", Some(Gap(NodeLockfile))),
            ("npm-shrinkwrap.json", Some(Gap(NodeLockfile))),
            ("app/yarn.lock", Some(Gap(NodeLockfile))),
            ("app/pnpm-lock.yaml", Some(Gap(NodeLockfile))),
            (
                "app/node_modules/.package-lock.json",
                Some(Gap(NodeLockfile)),
            ),
            ("srv/Gemfile.lock", Some(Gap(RubyGems))),
            (
                "usr/local/bundle/specifications/rack-3.0.8.gemspec",
                Some(Gap(RubyGems)),
            ),
            ("srv/app.gemspec", None),
            ("srv/composer.lock", Some(Gap(PhpComposer))),
            ("srv/vendor/composer/installed.json", Some(Gap(PhpComposer))),
            ("vendor/composer/installed.json", Some(Gap(PhpComposer))),
            ("srv/installed.json", None),
            ("app/MyApp.deps.json", Some(Gap(Dotnet))),
            ("app/packages.lock.json", Some(Gap(Dotnet))),
            ("src/Cargo.lock", Some(Gap(RustCargo))),
            ("src/Cargo.toml", None),
            ("app/poetry.lock", Some(Gap(PythonLockfile))),
            ("app/Pipfile.lock", Some(Gap(PythonLockfile))),
            ("app/uv.lock", Some(Gap(PythonLockfile))),
            (
                "opt/conda/conda-meta/zlib-1.2.13-h5eee18b_0.json",
                Some(Gap(Conda)),
            ),
            ("opt/conda/conda-meta/history", None),
            ("opt/app/lib/guava-31.1.jar", Some(Zip(JavaArchive))),
            ("opt/app/app.WAR", Some(Zip(JavaArchive))),
            ("opt/app/app.ear", Some(Zip(JavaArchive))),
            (
                "opt/app/classes/META-INF/maven/com.google/guava/pom.properties",
                Some(Gap(JavaArchive)),
            ),
            ("srv/gradle.lockfile", Some(Gap(JavaArchive))),
            (
                "usr/lib/python3/site-packages/six-1.16.0-py3.12.egg",
                Some(Zip(PythonEgg)),
            ),
            ("usr/bin/ls", None),
            ("", None),
            ("var/lib/rpm/", None),
        ];
        for (path, want) in table {
            assert_eq!(by_path(path), *want, "by_path({path:?})");
        }
    }

    /// The claim rule: a path an analyzer wants is never handed to the recognizer, so every
    /// recognised sample path must be unclaimed today; when an analyzer claims one, it moves
    /// from here to that analyzer's table.
    #[test]
    fn recognised_paths_are_not_claimed_by_an_analyzer() {
        for path in [
            "var/lib/dpkg/status",
            "lib/apk/db/installed",
            "requirements.txt",
            "sp/x-1.dist-info/METADATA",
            "site-packages/foo-1.0.egg/EGG-INFO/PKG-INFO",
        ] {
            assert!(super::super::required(path));
            assert_eq!(by_path(path), None, "{path} is claimed and recognised");
        }
    }

    #[test]
    fn group_paths() {
        assert_eq!(
            group_path(
                GapKind::NodeModules,
                "nodejs/node_modules/a/node_modules/b/package.json"
            ),
            "nodejs/node_modules"
        );
        assert_eq!(
            group_path(GapKind::NodeModules, "node_modules/a/package.json"),
            "node_modules"
        );
        assert_eq!(
            group_path(
                GapKind::RubyGems,
                "usr/local/bundle/specifications/rack.gemspec"
            ),
            "usr/local/bundle/specifications"
        );
        assert_eq!(
            group_path(GapKind::RubyGems, "srv/Gemfile.lock"),
            "srv/Gemfile.lock"
        );
        assert_eq!(
            group_path(GapKind::Conda, "opt/conda/conda-meta/zlib.json"),
            "opt/conda/conda-meta"
        );
        assert_eq!(group_path(GapKind::GoBinary, "usr/bin/app"), "usr/bin/app");
    }

    #[test]
    fn many_files_of_a_tree_are_one_gap_with_a_count() {
        let mut c = GapCollector::default();
        for i in 0..50_000 {
            c.add(
                GapKind::NodeModules,
                &format!("app/node_modules/p{i}/package.json"),
            );
        }
        c.add(GapKind::NodeLockfile, "app/package-lock.json");
        c.hardlink("app/copy-lock.json", "app/package-lock.json");
        let gaps = c.finish();
        assert_eq!(
            gaps,
            vec![
                LayerGap {
                    kind: GapKind::NodeModules,
                    path: "app/node_modules".into(),
                    files: 50_000
                },
                LayerGap {
                    kind: GapKind::NodeLockfile,
                    path: "app/copy-lock.json".into(),
                    files: 1
                },
                LayerGap {
                    kind: GapKind::NodeLockfile,
                    path: "app/package-lock.json".into(),
                    files: 1
                },
            ]
        );
    }

    #[test]
    fn jars_and_eggs_must_be_zips() {
        let zip = b"PK\x03\x04rest of a zip";
        let mut r: &[u8] = zip;
        assert_eq!(
            recognize("a/b.jar", zip.len() as u64, &mut r).unwrap(),
            Some(GapKind::JavaArchive)
        );
        let mut r: &[u8] = b"not a zip";
        assert_eq!(recognize("a/b.jar", 9, &mut r).unwrap(), None);
        let mut r: &[u8] = b"PK\x05\x06";
        assert_eq!(
            recognize("x-1.0.egg", 4, &mut r).unwrap(),
            Some(GapKind::PythonEgg)
        );
    }

    /// A minimal 64-bit little-endian ELF: header, a PT_NOTE and a writable PT_LOAD, the note at
    /// 0x100, the data segment at `data_at` starting with `data`.
    fn elf(note_name: &[u8; 4], data_at: usize, data: &[u8], size: usize) -> Vec<u8> {
        let mut f = vec![0u8; size.max(data_at + data.len())];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        f[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        f[56..58].copy_from_slice(&2u16.to_le_bytes()); // e_phnum
        let ph = |f: &mut Vec<u8>, at: usize, t: u32, flags: u32, off: u64, sz: u64| {
            f[at..at + 4].copy_from_slice(&t.to_le_bytes());
            f[at + 4..at + 8].copy_from_slice(&flags.to_le_bytes());
            f[at + 8..at + 16].copy_from_slice(&off.to_le_bytes());
            f[at + 32..at + 40].copy_from_slice(&sz.to_le_bytes());
        };
        ph(&mut f, 64, 4, 4, 0x100, 0x20);
        ph(&mut f, 120, 1, 6, data_at as u64, data.len() as u64);
        // Note: namesz 4, descsz 8, type 4, "Go\0\0", 8 bytes of id.
        f[0x100..0x104].copy_from_slice(&4u32.to_le_bytes());
        f[0x104..0x108].copy_from_slice(&8u32.to_le_bytes());
        f[0x108..0x10c].copy_from_slice(&4u32.to_le_bytes());
        f[0x10c..0x110].copy_from_slice(note_name);
        f[data_at..data_at + data.len()].copy_from_slice(data);
        f
    }

    #[test]
    fn go_elf_is_recognised_by_note_and_buildinfo_magic() {
        let mut info = vec![0u8; 32];
        info.extend_from_slice(GO_BUILDINFO_MAGIC);
        let size = 1 << 20;
        let go = elf(b"Go\0\0", 600_000, &info, size);
        let mut r: &[u8] = &go;
        assert_eq!(
            recognize("usr/bin/app", size as u64, &mut r).unwrap(),
            Some(GapKind::GoBinary)
        );
        // Another toolchain's note, or no magic where Go puts it: not a Go executable.
        let gnu = elf(b"GNU\0", 600_000, &info, size);
        let mut r: &[u8] = &gnu;
        assert_eq!(recognize("usr/bin/app", size as u64, &mut r).unwrap(), None);
        let mut info_misaligned = vec![0u8; 33];
        info_misaligned.extend_from_slice(GO_BUILDINFO_MAGIC);
        let odd = elf(b"Go\0\0", 600_000, &info_misaligned, size);
        let mut r: &[u8] = &odd;
        assert_eq!(recognize("usr/bin/app", size as u64, &mut r).unwrap(), None);
        // Too small to be probed.
        let mut r: &[u8] = &go;
        assert_eq!(recognize("usr/bin/app", 1000, &mut r).unwrap(), None);
        // Truncated before its data segment.
        let mut r: &[u8] = &go[..500_000];
        assert_eq!(recognize("usr/bin/app", size as u64, &mut r).unwrap(), None);
    }

    proptest::proptest! {
        #[test]
        fn no_panic_on_arbitrary_headers(mut head in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..9000), which in 0u8..4) {
            let magic: &[u8] = match which {
                0 => b"\x7fELF\x02\x01",
                1 => b"MZ",
                2 => b"\xcf\xfa\xed\xfe",
                _ => b"",
            };
            for (i, m) in magic.iter().enumerate() {
                if let Some(b) = head.get_mut(i) { *b = *m; }
            }
            let _ = go_data_offset(&head);
            let mut r: &[u8] = &head;
            let _ = recognize("bin/x", MIN_BINARY_SIZE, &mut r);
        }
    }
}
