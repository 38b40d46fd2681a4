//! The layer stream's decoding: which compression (gzip, zstd, bzip2, xz or
//! none) from its first bytes, the decompressor, with the compressed bytes
//! hashed on the way in (the blob digest), and what a read error of the
//! stream means (a truncated or corrupt layer is the layer's fault).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;

use sha2::Digest;

use crate::digest::HashingReader;
use crate::error::{Context, Error, Result};

pub(super) const BUF: usize = 1 << 20;

enum Compression {
    Gzip,
    Zstd,
    Bzip2,
    Xz,
    Plain,
}

/// The most an xz stream may make the decoder allocate (its dictionary):
/// `xz -9` needs 65 MiB; a crafted header must not ask for gigabytes.
const XZ_MEMLIMIT: u64 = 256 << 20;

fn sniff<R: BufRead>(r: &mut R) -> io::Result<Compression> {
    let head = r.fill_buf()?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if head.len() >= 4 && head.starts_with(b"BZh") && (b'1'..=b'9').contains(&head[3]) {
        Compression::Bzip2
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else {
        Compression::Plain
    })
}

pub(super) type Compressed<R> = BufReader<HashingReader<R>>;

/// The decompressor, kept concrete so the compressed reader (and its hash)
/// can be taken back out at the end. One exists per layer: its size is no matter.
#[allow(clippy::large_enum_variant)]
pub(super) enum Decoder<R: Read> {
    Gzip(flate2::bufread::MultiGzDecoder<Compressed<R>>),
    Zstd(zstd::stream::read::Decoder<'static, Compressed<R>>),
    Bzip2(bzip2::bufread::MultiBzDecoder<Compressed<R>>),
    Xz(liblzma::bufread::XzDecoder<Compressed<R>>),
    Plain(Compressed<R>),
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Gzip(d) => d.read(buf),
            Decoder::Zstd(d) => d.read(buf),
            Decoder::Bzip2(d) => d.read(buf),
            Decoder::Xz(d) => d.read(buf),
            Decoder::Plain(d) => d.read(buf),
        }
    }
}

impl<R: Read> Decoder<R> {
    /// Picks the decompressor from the stream's first bytes; the compressed
    /// bytes are hashed as they are read.
    pub(super) fn new(reader: R) -> Result<Self> {
        let mut compressed = BufReader::with_capacity(BUF, HashingReader::new(reader));
        Ok(match sniff(&mut compressed).map_err(read_error)? {
            Compression::Gzip => Decoder::Gzip(flate2::bufread::MultiGzDecoder::new(compressed)),
            Compression::Zstd => Decoder::Zstd(
                zstd::stream::read::Decoder::with_buffer(compressed).ctx(|| "zstd".into())?,
            ),
            Compression::Bzip2 => Decoder::Bzip2(bzip2::bufread::MultiBzDecoder::new(compressed)),
            Compression::Xz => {
                let stream = liblzma::stream::Stream::new_stream_decoder(
                    XZ_MEMLIMIT,
                    liblzma::stream::CONCATENATED,
                )
                .map_err(|e| Error::Invalid(format!("xz: {e}")))?;
                Decoder::Xz(liblzma::bufread::XzDecoder::new_stream(compressed, stream))
            }
            Compression::Plain => Decoder::Plain(compressed),
        })
    }

    pub(super) fn into_inner(self) -> Compressed<R> {
        match self {
            Decoder::Gzip(d) => d.into_inner(),
            Decoder::Zstd(d) => d.finish(),
            Decoder::Bzip2(d) => d.into_inner(),
            Decoder::Xz(d) => d.into_inner(),
            Decoder::Plain(d) => d,
        }
    }
}

/// Whether `reader` holds a tar archive, plain or compressed in any of the
/// ways `unpack` reads: its first block decompresses to a tar header whose
/// checksum holds (docker's ADD test: a `.gz` of plain text is a file).
pub fn is_archive<R: Read>(reader: R) -> bool {
    let Ok(mut decoder) = Decoder::new(reader) else {
        return false;
    };
    let mut block = [0u8; 512];
    let mut got = 0;
    while got < block.len() {
        match decoder.read(&mut block[got..]) {
            Ok(0) => return false,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    let field = &block[148..156];
    let text: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(|b| (b'0'..=b'7').contains(b))
        .collect();
    let Ok(want) = u32::from_str_radix(std::str::from_utf8(&text).unwrap_or(""), 8) else {
        return false;
    };
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                *b as u32
            }
        })
        .sum();
    sum == want && block.iter().any(|b| *b != 0)
}

/// Writes the uncompressed tar of the layer file `src` to `dst` (created):
/// (diff id, size). For archives read by tools that know no zstd.
pub fn decompress_file(src: &Path, dst: &Path) -> Result<(String, u64)> {
    let f = File::open(src).ctx(|| format!("open {}", src.display()))?;
    let mut decoder = Decoder::new(f)?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dst)
        .ctx(|| format!("create {}", dst.display()))?;
    let mut sink = crate::digest::HashingSink(sha2::Sha256::new(), 0);
    let mut buf = vec![0u8; BUF];
    loop {
        let n = match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e)),
        };
        out.write_all(&buf[..n])
            .ctx(|| format!("write {}", dst.display()))?;
        sink.write_all(&buf[..n]).expect("hashing never fails");
    }
    let size = sink.1;
    Ok((crate::digest::format_digest(sink.0), size))
}

/// An error while reading the layer stream: a truncated or corrupt layer is
/// the layer's fault (BadLayer), anything else stays an I/O error.
pub(super) fn read_error(e: io::Error) -> Error {
    if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        return Error::io("read layer", e); // ours, from inside the reader chain (TooLarge)
    }
    // The tar crate reports a stream that ends inside an entry as "other".
    let eof = e.kind() == io::ErrorKind::UnexpectedEof || e.to_string().contains("unexpected EOF");
    match e.kind() {
        _ if eof => {
            Error::BadLayer("the layer ends early (truncated tar or compressed stream)".into())
        }
        // The decompressors' complaints, then the tar reader's (no errno).
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => {
            Error::BadLayer(format!("corrupt layer: {}", headline(&e)))
        }
        _ if e.raw_os_error().is_none() => {
            Error::BadLayer(format!("not a valid tar stream: {}", headline(&e)))
        }
        _ => Error::io("read layer", e),
    }
}

/// The tar reader quotes header bytes in its messages ("numeric field was
/// not a number: <field> when getting cksum for <name>"): they are the input's
/// content (a host file given to `import` would be shown), so only the
/// leading phrase is kept.
fn headline(e: &io::Error) -> String {
    let msg = e.to_string();
    let head = msg.split(':').next().unwrap_or_default();
    let head = head.split(" when ").next().unwrap_or_default().trim();
    if head.is_empty() {
        "not a tar stream".into()
    } else {
        head.into()
    }
}
