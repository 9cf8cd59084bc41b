//! Standard output for people, and what a closed pipe means for it.
//!
//! `balance-monitor check-config | head -1` closes the pipe after one line. `println!`
//! would panic on the next write (exit 101); the signal disposition that would end the
//! process quietly is not reachable without `unsafe`. Every command writes through
//! [`Output`] instead: a closed reader (`BrokenPipe`) stops the output and the command
//! ends quietly with exit 0, while every other write error is still an error. It does
//! not decide what is printed; the command files do.

use std::io::{self, Write};

use super::Failure;

/// Standard output, remembering whether the reader went away.
#[derive(Debug)]
pub struct Output {
    stdout: io::Stdout,
    closed: bool,
}

impl Output {
    pub fn stdout() -> Output {
        Output {
            stdout: io::stdout(),
            closed: false,
        }
    }

    /// Writes `text` and flushes it. A closed reader is not a failure: the text, and
    /// everything after it, is dropped.
    pub fn print(&mut self, text: &str) -> Result<(), Failure> {
        match self.write_all(text.as_bytes()).and_then(|()| self.flush()) {
            Err(error) if error.kind() != io::ErrorKind::BrokenPipe => Err(Failure::Runtime(
                anyhow::Error::new(error).context("cannot write to stdout"),
            )),
            _ => Ok(()),
        }
    }

    /// `result`, except that a failure caused by this output's closed pipe is a quiet
    /// success. A broken pipe elsewhere (a server that hung up) stays a failure.
    pub fn quiet_if_closed(&self, result: Result<(), Failure>) -> Result<(), Failure> {
        match result {
            Err(Failure::Runtime(error)) if self.closed && is_broken_pipe(&error) => Ok(()),
            other => other,
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let written = self.stdout.write(buf);
        self.note(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let flushed = self.stdout.flush();
        self.note(flushed)
    }
}

impl Output {
    fn note<T>(&mut self, result: io::Result<T>) -> io::Result<T> {
        if let Err(error) = &result {
            self.closed |= error.kind() == io::ErrorKind::BrokenPipe;
        }
        result
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_broken_pipe_of_this_output_is_quiet() {
        let pipe = || anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe));
        let mut out = Output::stdout();
        assert!(out.quiet_if_closed(Err(Failure::Runtime(pipe()))).is_err());
        out.closed = true;
        assert!(out.quiet_if_closed(Err(Failure::Runtime(pipe()))).is_ok());
        let other = anyhow::Error::new(io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(out.quiet_if_closed(Err(Failure::Runtime(other))).is_err());
        assert!(
            out.write(b"x").is_err(),
            "nothing is written after the pipe closed"
        );
    }
}
