//! Writing a batch of new objects as one pack instead of one loose file each.
//!
//! `approve` of a long subtask rewrites every commit and writes a note for each: a thousand
//! commits made some 2,300 loose files (a file, a directory entry and an fsync'd rename each),
//! which is most of its cost, and more under file-system load. A command that writes many objects
//! does so through a repository whose writes stay in memory ([`in_memory`]); the store flushes them
//! ([`flush`]) right before the ref transaction that makes them reachable: as one pack and its
//! index when there are at least [`UNPACK_LIMIT`] of them (what `git fetch` does with what it
//! receives), else as loose objects, as git writes a few.
//!
//! The pack holds every object whole (no deltas): that is what makes writing it cheap, and git's
//! next `gc` or `repack` deltifies it as it does any pack. Its `.keep` file, which tells a
//! concurrent `gc` not to drop the pack before a ref points into it, is removed once the ref
//! transaction is over ([`Flushed`]).

use gix::ObjectId;
use gix_pack as pack;
use std::path::PathBuf;

/// From this many objects on, a batch is written as a pack (git's `fetch.unpackLimit` default).
pub const UNPACK_LIMIT: usize = 100;

/// A batch of objects that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("could not write {count} new objects to {dir}: {message}")]
pub struct PackError {
    /// How many objects.
    pub count: usize,
    /// Where they were to go.
    pub dir: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// `repo` with writes kept in memory until [`flush`]ed: for a command that writes many objects.
/// Reads see them (memory first, then the object database). Such a command also reads many
/// (the trees of every commit it rewrites): the handle keeps decoded delta bases
/// ([`crate::store::index::tune`]).
pub fn in_memory(repo: &gix::Repository) -> gix::Repository {
    let mut repo = repo.clone().with_object_memory();
    crate::store::index::tune(&mut repo);
    repo
}

/// What [`flush`] wrote; dropping it removes the pack's `.keep` file, once refs point into the
/// pack (or the transaction failed and nothing will).
#[derive(Debug, Default)]
#[must_use = "keep it until the ref transaction is over"]
pub struct Flushed {
    /// How many objects were written.
    pub objects: usize,
    /// Whether they went into a pack.
    pub packed: bool,
    keep: Option<PathBuf>,
}

impl Drop for Flushed {
    fn drop(&mut self) {
        if let Some(keep) = self.keep.take() {
            let _ = std::fs::remove_file(keep);
        }
    }
}

/// Write the objects `repo` holds in memory to its object database, and empty the memory: as one
/// pack from [`UNPACK_LIMIT`] objects on, else loose. Nothing to do for a repository without
/// object memory, or with nothing in it.
pub fn flush(repo: &gix::Repository) -> Result<Flushed, PackError> {
    let Some(storage) = repo.objects.reset_object_memory() else {
        return Ok(Flushed::default());
    };
    if storage.is_empty() {
        return Ok(Flushed::default());
    }
    let dir = repo.objects.store_ref().path().to_owned();
    let count = storage.len();
    let fail = |message: String| PackError {
        count,
        dir: dir.clone(),
        message,
    };
    // Objects in a stable order, commits first, then trees, then blobs, as git orders a pack.
    let mut objects: Vec<(&ObjectId, &(gix::objs::Kind, Vec<u8>))> = storage.iter().collect();
    objects.sort_by_key(|(id, (kind, _))| (kind_rank(*kind), **id));
    if count < UNPACK_LIMIT {
        // The memory is empty now, so this clone copies nothing.
        let odb = repo.objects.clone().into_inner();
        for (id, (kind, data)) in objects {
            let written =
                gix::objs::Write::write_buf(&odb, *kind, data).map_err(|e| fail(e.to_string()))?;
            debug_assert_eq!(written, *id);
        }
        return Ok(Flushed {
            objects: count,
            packed: false,
            keep: None,
        });
    }
    let bytes = pack_bytes(&objects, repo.object_hash()).map_err(|e| fail(e.to_string()))?;
    let pack_dir = dir.join("pack");
    std::fs::create_dir_all(&pack_dir).map_err(|e| fail(e.to_string()))?;
    let outcome = pack::Bundle::write_to_directory(
        &mut &bytes[..],
        Some(&pack_dir),
        &mut gix::progress::Discard,
        &std::sync::atomic::AtomicBool::new(false),
        None::<gix::objs::find::Never>,
        repo.object_hash(),
        pack::bundle::write::Options {
            thread_limit: Some(1),
            ..Default::default()
        },
    )
    .map_err(|e| fail(format!("{e:#}")))?;
    Ok(Flushed {
        objects: count,
        packed: true,
        keep: outcome.keep_path,
    })
}

fn kind_rank(kind: gix::objs::Kind) -> u8 {
    match kind {
        gix::objs::Kind::Commit => 0,
        gix::objs::Kind::Tag => 1,
        gix::objs::Kind::Tree => 2,
        gix::objs::Kind::Blob => 3,
    }
}

/// A version 2 pack of `objects`, each stored whole: the header, each entry's type and size and
/// its zlib stream, and the hash of all that.
fn pack_bytes(
    objects: &[(&ObjectId, &(gix::objs::Kind, Vec<u8>))],
    hash: gix::hash::Kind,
) -> std::io::Result<Vec<u8>> {
    let total: usize = objects.iter().map(|(_, (_, d))| d.len()).sum();
    let mut out = Vec::with_capacity(total / 2 + 64);
    let count = u32::try_from(objects.len())
        .map_err(|_| std::io::Error::other("too many objects for one pack"))?;
    out.extend_from_slice(&pack::data::header::encode(pack::data::Version::V2, count));
    // One compressor, reset for each object: a new one allocates and clears its whole state.
    // Level 1, what git uses for the loose objects this pack stands in for
    // (core.looseCompression); git's next gc or repack recompresses it as it does any pack.
    let mut z = gix::zlib::stream::deflate::Compress::new(gix::zlib::Compression::BEST_SPEED);
    let mut buf = vec![0u8; 32 * 1024];
    for (_, (kind, data)) in objects {
        let header = match kind {
            gix::objs::Kind::Commit => pack::data::entry::Header::Commit,
            gix::objs::Kind::Tree => pack::data::entry::Header::Tree,
            gix::objs::Kind::Blob => pack::data::entry::Header::Blob,
            gix::objs::Kind::Tag => pack::data::entry::Header::Tag,
        };
        header.write_to(data.len() as u64, &mut out)?;
        deflate_into(&mut z, data, &mut buf, &mut out)?;
    }
    let mut hasher = gix::hash::hasher(hash);
    hasher.update(&out);
    let digest = hasher
        .try_finalize()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    out.extend_from_slice(digest.as_bytes());
    Ok(out)
}

/// `data` as one zlib stream appended to `out`, through `z` (reset first) and `buf`.
fn deflate_into(
    z: &mut gix::zlib::stream::deflate::Compress,
    data: &[u8],
    buf: &mut [u8],
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    use gix::zlib::stream::deflate::FlushCompress;
    z.reset();
    let mut input = data;
    loop {
        let (read, written) = (z.total_in(), z.total_out());
        let status = z
            .compress(input, buf, FlushCompress::Finish)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        out.extend_from_slice(&buf[..(z.total_out() - written) as usize]);
        input = &input[(z.total_in() - read) as usize..];
        if status == gix::zlib::Status::StreamEnd {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> (tempfile::TempDir, gix::Repository) {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = gix::init_bare(dir.path().join("r.git")).expect("init");
        (dir, repo)
    }

    fn loose_count(repo: &gix::Repository) -> usize {
        let objects = repo.objects.store_ref().path().to_owned();
        std::fs::read_dir(&objects)
            .expect("objects dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().len() == 2)
            .map(|e| std::fs::read_dir(e.path()).map_or(0, |d| d.count()))
            .sum()
    }

    #[test]
    fn many_objects_become_one_pack_that_reads_back() {
        let (_dir, repo) = repo();
        let mem = in_memory(&repo);
        let ids: Vec<ObjectId> = (0..UNPACK_LIMIT + 5)
            .map(|i| {
                mem.write_blob(format!("blob {i}\n").as_bytes())
                    .expect("write")
                    .detach()
            })
            .collect();
        // One object larger than the compressor's buffer, hard to compress.
        let mut big = Vec::with_capacity(300_000);
        let mut x: u32 = 12345;
        while big.len() < 300_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            big.push((x >> 16) as u8);
        }
        let big_id = mem.write_blob(&big).expect("write").detach();
        assert_eq!(loose_count(&repo), 0, "nothing on disk before the flush");
        let flushed = flush(&mem).expect("flush");
        assert!(flushed.packed);
        assert_eq!(flushed.objects, ids.len() + 1);
        let keep = flushed
            .keep
            .clone()
            .expect("a keep file until the refs move");
        assert!(keep.exists());
        drop(flushed);
        assert!(!keep.exists());
        assert_eq!(loose_count(&repo), 0);
        // A fresh handle on the repository reads every object from the pack.
        let again = gix::open(repo.path()).expect("open");
        for (i, id) in ids.iter().enumerate() {
            let blob = again.find_blob(*id).expect("in the pack");
            assert_eq!(blob.data, format!("blob {i}\n").as_bytes());
        }
        assert_eq!(again.find_blob(big_id).expect("in the pack").data, big);
        // The memory is empty: a second flush writes nothing.
        assert_eq!(flush(&mem).expect("flush").objects, 0);
    }

    #[test]
    fn a_few_objects_are_written_loose_and_no_memory_is_no_op() {
        let (_dir, repo) = repo();
        assert_eq!(flush(&repo).expect("no memory").objects, 0);
        let mem = in_memory(&repo);
        let id = mem.write_blob(b"one\n").expect("write").detach();
        let flushed = flush(&mem).expect("flush");
        assert!(!flushed.packed);
        assert_eq!(loose_count(&repo), 1);
        assert!(gix::open(repo.path()).expect("open").find_blob(id).is_ok());
    }
}
