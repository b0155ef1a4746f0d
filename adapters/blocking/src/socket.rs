//! One TCP socket shared by a reading and a writing tungstenite session (server and client).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

/// One socket shared by a reading and a writing tungstenite session: reads on the reader's
/// clone, every write under one lock.
#[derive(Debug)]
pub(crate) struct Shared {
    read: TcpStream,
    write: Arc<Mutex<TcpStream>>,
}

impl Shared {
    pub(crate) fn new(tcp: &TcpStream) -> std::io::Result<Self> {
        Ok(Shared {
            read: tcp.try_clone()?,
            write: Arc::new(Mutex::new(tcp.try_clone()?)),
        })
    }

    pub(crate) fn twin(&self) -> std::io::Result<Self> {
        Ok(Shared {
            read: self.read.try_clone()?,
            write: self.write.clone(),
        })
    }
}

impl Read for Shared {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.read.read(buf)
    }
}

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut w = self
            .write
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?;
        // The whole buffer in one go, so frames from the two sessions never interleave.
        w.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
