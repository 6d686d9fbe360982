//! Standard output of listings, previews, completions and the manual page: written in one
//! piece, and a reader that has gone away (`reporter history | head -1`) ends the output
//! quietly, as `cat` and `ls` do, instead of being an error (reporter(1)).

use std::io::{self, Write};

/// Writes `text` to standard output and flushes it. A closed pipe counts as written:
/// whoever read the output has read what they wanted.
pub fn print(text: impl AsRef<[u8]>) -> io::Result<()> {
    let mut out = io::stdout().lock();
    let written = out.write_all(text.as_ref()).and_then(|()| out.flush());
    match written {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
