//! Structure-aware: a tar built from fuzzer-chosen entries (names made of
//! `..`, `.`, absolute prefixes, whiteouts, the names beside the destination,
//! long names through PAX; symlinks, hardlinks, devices, xattrs, truncated
//! data), plain, gzip or zstd, into a fresh directory; see src/lib.rs.
#![no_main]

use std::io::Write;

use arbitrary::Arbitrary;
use tar::{EntryType, Header};

#[derive(Arbitrary, Debug)]
enum Part {
    A,
    B,
    Dot,
    DotDot,
    Empty,
    /// What sits beside the destination in the fuzz sandbox.
    Victim,
    Root,
    Etc,
    Whiteout(bool),
    Opaque,
    AufsMeta,
    Long(u8),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Name {
    absolute: bool,
    parts: Vec<Part>,
    trailing_slash: bool,
}

impl Name {
    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.absolute {
            out.push(b'/');
        }
        for (i, p) in self.parts.iter().enumerate() {
            if i > 0 {
                out.push(b'/');
            }
            match p {
                Part::A => out.extend_from_slice(b"a"),
                Part::B => out.extend_from_slice(b"b"),
                Part::Dot => out.push(b'.'),
                Part::DotDot => out.extend_from_slice(b".."),
                Part::Empty => {}
                Part::Victim => out.extend_from_slice(b"victim"),
                Part::Root => out.extend_from_slice(b"root"),
                Part::Etc => out.extend_from_slice(b"etc"),
                Part::Whiteout(b) => out.extend_from_slice(if *b { b".wh.a" } else { b".wh.b" }),
                Part::Opaque => out.extend_from_slice(b".wh..wh..opq"),
                Part::AufsMeta => out.extend_from_slice(b".wh..wh.plnk"),
                Part::Long(n) => out.extend(std::iter::repeat_n(b'l', *n as usize + 1)),
                Part::Raw(b) => out.extend_from_slice(b),
            }
        }
        if self.trailing_slash {
            out.push(b'/');
        }
        out
    }
}

#[derive(Arbitrary, Debug)]
enum Kind {
    Dir,
    File,
    Symlink,
    Hardlink,
    Char,
    Block,
    Fifo,
    Continuous,
    Sparse,
    Other(u8),
}

#[derive(Arbitrary, Debug)]
enum XName {
    User,
    Opaque,
    Redirect,
    Capability,
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Entry {
    name: Name,
    kind: Kind,
    link: Name,
    mode: u16,
    uid: u8,
    major: u8,
    minor: u8,
    data: Vec<u8>,
    xattrs: Vec<(XName, Vec<u8>)>,
    /// Names through a PAX header even when they fit the ustar field.
    pax_names: bool,
    /// A size larger than the data that follows (a truncated layer).
    short: bool,
}

#[derive(Arbitrary, Debug)]
enum Compression {
    Plain,
    Gzip,
    Zstd,
}

#[derive(Arbitrary, Debug)]
struct Layer {
    compression: Compression,
    literal: bool,
    entries: Vec<Entry>,
    no_end_blocks: bool,
}

fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    // "<len> <key>=<value>\n", the length counting its own digits.
    let body = key.len() + value.len() + 3;
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn block(out: &mut Vec<u8>, header: &mut Header, data: &[u8]) {
    header.set_cksum();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out.extend(std::iter::repeat_n(0u8, (512 - data.len() % 512) % 512));
}

fn tar_of(layer: &Layer) -> Vec<u8> {
    let mut out = Vec::new();
    for e in &layer.entries {
        let name = e.name.bytes();
        let link = e.link.bytes();
        let mut pax = Vec::new();
        if e.pax_names || name.len() > 100 {
            pax_record(&mut pax, b"path", &name);
        }
        if e.pax_names || link.len() > 100 {
            pax_record(&mut pax, b"linkpath", &link);
        }
        for (xname, value) in &e.xattrs {
            let key: &[u8] = match xname {
                XName::User => b"user.fuzz",
                XName::Opaque => b"trusted.overlay.opaque",
                XName::Redirect => b"trusted.overlay.redirect",
                XName::Capability => b"security.capability",
                XName::Raw(b) => b,
            };
            let mut k = b"SCHILY.xattr.".to_vec();
            k.extend_from_slice(key);
            pax_record(&mut pax, &k, value);
        }
        if !pax.is_empty() {
            let mut h = Header::new_ustar();
            h.as_old_mut().name[..9].copy_from_slice(b"PaxHeader");
            h.set_entry_type(EntryType::XHeader);
            h.set_size(pax.len() as u64);
            h.set_mode(0o644);
            block(&mut out, &mut h, &pax);
        }
        let kind = match e.kind {
            Kind::Dir => EntryType::Directory,
            Kind::File => EntryType::Regular,
            Kind::Symlink => EntryType::Symlink,
            Kind::Hardlink => EntryType::Link,
            Kind::Char => EntryType::Char,
            Kind::Block => EntryType::Block,
            Kind::Fifo => EntryType::Fifo,
            Kind::Continuous => EntryType::Continuous,
            Kind::Sparse => EntryType::GNUSparse,
            Kind::Other(b) => EntryType::new(b),
        };
        let mut h = Header::new_ustar();
        {
            let old = h.as_old_mut();
            let n = name.len().min(100);
            old.name[..n].copy_from_slice(&name[..n]);
            let l = link.len().min(100);
            old.linkname[..l].copy_from_slice(&link[..l]);
        }
        h.set_entry_type(kind);
        h.set_mode(u32::from(e.mode));
        h.set_uid(u64::from(e.uid));
        h.set_gid(u64::from(e.uid));
        h.set_mtime(1_600_000_000);
        let _ = h.set_device_major(u32::from(e.major));
        let _ = h.set_device_minor(u32::from(e.minor));
        let data: &[u8] = if matches!(e.kind, Kind::File | Kind::Continuous | Kind::Other(_)) {
            &e.data
        } else {
            &[]
        };
        let declared = data.len() as u64 + if e.short { 1000 } else { 0 };
        h.set_size(declared);
        block(&mut out, &mut h, data);
    }
    if !layer.no_end_blocks {
        out.extend(std::iter::repeat_n(0u8, 1024));
    }
    out
}

libfuzzer_sys::fuzz_target!(|layer: Layer| {
    let tar = tar_of(&layer);
    let stream = match layer.compression {
        Compression::Plain => tar,
        Compression::Gzip => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&tar).unwrap();
            gz.finish().unwrap()
        }
        Compression::Zstd => zstd::encode_all(&tar[..], 1).unwrap(),
    };
    ketch_fuzz::unpack_and_check(&stream, layer.literal);
});
