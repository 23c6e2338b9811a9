//! Just enough of the Chrome DevTools Protocol to watch a page live in headless Chromium:
//! the page target from `/json/list`, a WebSocket to it (RFC 6455, text frames, client
//! masking), `Runtime.evaluate`, and the console and exception events `Runtime.enable`
//! reports. Blocking, bounded by socket timeouts; for tests only.

#![allow(clippy::indexing_slicing)] // a test helper: JSON and frame fields by index

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};

/// A page under DevTools control.
pub struct Page {
    ws: TcpStream,
    next: u64,
    /// Console messages of level error or warning, and uncaught exceptions, seen so far.
    pub errors: Vec<String>,
}

fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    // Until the head and Content-Length bytes of body are in (the server may keep the
    // connection open).
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf)?;
        out.extend_from_slice(buf.get(..n).unwrap_or_default());
        let text = String::from_utf8_lossy(&out).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse::<usize>().ok());
            if n == 0 || len.is_some_and(|l| body.len() >= l) {
                return Ok(body.to_string());
            }
        }
        if n == 0 {
            return Ok(String::new());
        }
    }
}

impl Page {
    /// Connects to the first page target of the Chromium whose DevTools listen on `port`
    /// (retrying for up to 10 s while it starts), and enables the runtime's events.
    pub fn attach(port: u16) -> std::io::Result<Page> {
        let mut url = None;
        for _ in 0..100 {
            if let Ok(body) = http_get(port, "/json/list") {
                let list: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                url = list.as_array().and_then(|l| {
                    l.iter()
                        .find(|t| t["type"] == "page")
                        .and_then(|t| t["webSocketDebuggerUrl"].as_str().map(str::to_string))
                });
                if url.is_some() {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let url = url.ok_or_else(|| std::io::Error::other("no DevTools page target"))?;
        let path = url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap_or_default();
        let mut ws = TcpStream::connect(("127.0.0.1", port))?;
        ws.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            ws,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        )?;
        let mut r = BufReader::new(ws.try_clone()?);
        let mut line = String::new();
        r.read_line(&mut line)?;
        if !line.contains(" 101 ") {
            return Err(std::io::Error::other(format!("no WebSocket upgrade: {line}")));
        }
        loop {
            line.clear();
            r.read_line(&mut line)?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        let mut page = Page { ws, next: 1, errors: Vec::new() };
        page.call("Runtime.enable", json!({}))?;
        Ok(page)
    }

    fn send(&mut self, text: &str) -> std::io::Result<()> {
        let b = text.as_bytes();
        let mut f = vec![0x81u8];
        match b.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n < 65536 => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = [0x37u8, 0xfa, 0x21, 0x3d];
        f.extend_from_slice(&mask);
        f.extend(b.iter().enumerate().map(|(i, c)| c ^ mask[i % 4]));
        self.ws.write_all(&f)
    }

    /// One whole message (continuation frames joined); pings answered, others skipped.
    fn recv(&mut self) -> std::io::Result<String> {
        let mut msg = Vec::new();
        loop {
            let mut h = [0u8; 2];
            self.ws.read_exact(&mut h)?;
            let len = match h[1] & 0x7f {
                126 => {
                    let mut l = [0u8; 2];
                    self.ws.read_exact(&mut l)?;
                    u64::from(u16::from_be_bytes(l))
                }
                127 => {
                    let mut l = [0u8; 8];
                    self.ws.read_exact(&mut l)?;
                    u64::from_be_bytes(l)
                }
                n => u64::from(n),
            };
            let mut payload = vec![0u8; usize::try_from(len).unwrap_or(0)];
            self.ws.read_exact(&mut payload)?;
            match h[0] & 0x0f {
                0x8 => return Err(std::io::Error::other("WebSocket closed")),
                0x9 => continue,
                _ => msg.extend_from_slice(&payload),
            }
            if h[0] & 0x80 != 0 {
                return Ok(String::from_utf8_lossy(&msg).to_string());
            }
        }
    }

    /// Calls `method` and returns its result, keeping the events that arrive meanwhile.
    pub fn call(&mut self, method: &str, params: Value) -> std::io::Result<Value> {
        let id = self.next;
        self.next += 1;
        self.send(&json!({ "id": id, "method": method, "params": params }).to_string())?;
        for _ in 0..10_000 {
            let v: Value = serde_json::from_str(&self.recv()?).unwrap_or(Value::Null);
            if v["id"] == id {
                return Ok(v["result"].clone());
            }
            match v["method"].as_str() {
                Some("Runtime.exceptionThrown") => {
                    self.errors.push(v["params"]["exceptionDetails"].to_string());
                }
                Some("Runtime.consoleAPICalled")
                    if matches!(v["params"]["type"].as_str(), Some("error" | "warning")) =>
                {
                    self.errors.push(v["params"]["args"].to_string());
                }
                _ => {}
            }
        }
        Err(std::io::Error::other("no answer"))
    }

    /// The value of `expr` in the page (a string, number or bool).
    pub fn eval(&mut self, expr: &str) -> std::io::Result<Value> {
        let r =
            self.call("Runtime.evaluate", json!({ "expression": expr, "returnByValue": true }))?;
        Ok(r["result"]["value"].clone())
    }
}
