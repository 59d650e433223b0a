//! SHA-256 digests of what a plan was made from: the configuration files and the
//! observed state, written `sha256:<hex>`.
//!
//! Hashing is through aws-lc-rs (already linked for TLS), whose assembly is about
//! twice as fast as a portable implementation on CPUs without SHA extensions: the
//! observed state of thousands of VMs is megabytes of JSON, hashed on every plan and
//! every apply.

use std::io;

use aws_lc_rs::digest::{Context, SHA256};

/// An [`io::Write`] that hashes everything written to it, so that serialisers can
/// stream into it instead of building the text in memory first.
pub struct Sha256Writer(Context);

impl Sha256Writer {
    pub fn new() -> Self {
        Sha256Writer(Context::new(&SHA256))
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// `sha256:` and the digest in lowercase hex.
    pub fn finish(self) -> String {
        let digest = self.0.finish();
        let mut text = String::with_capacity(7 + 64);
        text.push_str("sha256:");
        for byte in digest.as_ref() {
            text.push_str(&format!("{byte:02x}"));
        }
        text
    }
}

impl Default for Sha256Writer {
    fn default() -> Self {
        Sha256Writer::new()
    }
}

impl io::Write for Sha256Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn the_digest_is_sha256_in_lowercase_hex() {
        // FIPS 180-2, appendix B.1.
        let mut writer = Sha256Writer::new();
        writer.write_all(b"ab").unwrap();
        writer.update(b"c");
        assert_eq!(
            writer.finish(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn nothing_written_is_the_digest_of_the_empty_string() {
        assert_eq!(
            Sha256Writer::default().finish(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
