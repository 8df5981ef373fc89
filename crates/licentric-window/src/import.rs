//! Reading a licence file the user picked: no bigger than a licence file can be, and not the
//! activation request picked by mistake.

use std::io::Read as _;
use std::path::Path;

/// Opens `path` for reading without waiting on it (a FIFO would block its open).
fn open(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        rustix::fs::OFlags::NONBLOCK.bits() as i32,
    );
    options.open(path)
}

/// The most a licence file holds (the agent refuses more).
const MAX_BYTES: u64 = 256 * 1024;

/// The text of the licence file at `path`, or what is wrong with it in words.
///
/// # Errors
/// A file that cannot be read, too large, or an activation request.
pub fn read(path: &Path) -> Result<String, String> {
    let file = open(path).map_err(|e| format!("Cannot read that file: {e}."))?;
    // Only a file: a pipe or a device could keep the window waiting on it for ever.
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err("That is not a file: pick the licence file itself.".into());
    }
    let mut text = String::new();
    file.take(MAX_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|_| {
            crate::view::import_words("armor_invalid", false)
                .unwrap_or_default()
                .to_owned()
        })?;
    if text.len() as u64 > MAX_BYTES {
        return Err("That file is too large to be a licence file.".into());
    }
    if text
        .trim_start()
        .starts_with("-----BEGIN LICENTRIC ACTIVATION REQUEST-----")
    {
        return Err(crate::view::import_words("request_picked", false)
            .unwrap_or_default()
            .to_owned());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_a_large_file_and_a_missing_one_are_refused_in_words() {
        let dir = tempfile::tempdir().unwrap();
        let request = dir.path().join("request.txt");
        std::fs::write(
            &request,
            "\n-----BEGIN LICENTRIC ACTIVATION REQUEST-----\nabc\n",
        )
        .unwrap();
        assert!(
            read(&request)
                .unwrap_err()
                .starts_with("This is the activation request")
        );
        let large = dir.path().join("large.lic");
        std::fs::write(&large, vec![b'a'; 300 * 1024]).unwrap();
        assert_eq!(
            read(&large).unwrap_err(),
            "That file is too large to be a licence file."
        );
        assert!(
            read(&dir.path().join("none"))
                .unwrap_err()
                .starts_with("Cannot read that file")
        );
        let fifo = dir.path().join("fifo.lic");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        assert_eq!(
            read(&fifo).unwrap_err(),
            "That is not a file: pick the licence file itself.",
            "a FIFO is refused without waiting for a writer"
        );
        let good = dir.path().join("good.lic");
        std::fs::write(&good, "-----BEGIN LICENTRIC LICENSE-----\n").unwrap();
        assert_eq!(read(&good).unwrap(), "-----BEGIN LICENTRIC LICENSE-----\n");
    }
}
