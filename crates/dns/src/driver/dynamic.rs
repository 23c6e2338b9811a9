//! The dynamic part of the local zone: hickory's sqlite-journaled zone, which takes RFC 2136
//! UPDATEs authenticated by TSIG (RFC 8945) and keeps them across restarts.
//!
//! Hickory reads TSIG keys only from files (`TsigKeyConfig::key_file`, the raw secret), so the
//! configured secrets ([`TsigKey`]) are written to `<state_dir>/dns/tsig-<n>.key` (mode 0600)
//! at start. The zone starts from a zone file with the SOA and NS written on first start; after
//! that, the journal (`<domain>.jrnl`, SQLite) is the zone.
//!
//! Queries and UPDATEs reach hickory's [`Catalog`] as a [`Request`] built from the received
//! bytes; [`Capture`] is a `ResponseHandler` that encodes hickory's response into bytes for
//! our own listener to send.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hickory_server::net::NetError;
use hickory_server::net::runtime::{TokioRuntimeProvider, TokioTime};
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{Message, Query};
use hickory_server::proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_server::proto::rr::{LowerName, Name, Record, RecordType};
use hickory_server::proto::serialize::binary::BinEncoder;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::sqlite::{SqliteConfig, SqliteZoneHandler, TsigKeyConfig};
use hickory_server::zone_handler::{AxfrPolicy, Catalog, MessageResponse, ZoneType};

use crate::{Error, TsigKey};

/// Opens (or creates) the journaled zone for `domain` under `state_dir` and puts it in a
/// catalogue of its own.
pub async fn open(
    domain: &str,
    state_dir: &Path,
    keys: &[TsigKey],
    ttl: u32,
) -> Result<Catalog, Error> {
    let dir = state_dir.join("dns");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("mkdir {}", dir.display()), e))?;
    let zone_path = dir.join(format!("{domain}.zone"));
    let journal_path = dir.join(format!("{domain}.jrnl"));
    if !journal_path.exists() {
        let soa = format!(
            "$ORIGIN {domain}.\n@ {ttl} IN SOA ns.{domain}. hostmaster.{domain}. 1 3600 600 86400 {ttl}\n\
             @ {ttl} IN NS ns.{domain}.\n"
        );
        write_private(&zone_path, soa.as_bytes())?;
    }
    let mut tsig_keys = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let key_file = dir.join(format!("tsig-{i}.key"));
        write_private(&key_file, &k.secret)?;
        let name = k.name.clone();
        tsig_keys.push(TsigKeyConfig {
            name,
            key_file,
            algorithm: TsigAlgorithm::HmacSha256,
            fudge: 300,
        });
    }
    let config = SqliteConfig { zone_path, journal_path, allow_update: true, tsig_keys };
    let origin =
        Name::from_ascii(format!("{domain}.")).map_err(|e| Error::Config(e.to_string()))?;
    let handler = SqliteZoneHandler::<TokioRuntimeProvider>::try_from_config(
        origin.clone(),
        ZoneType::Primary,
        AxfrPolicy::Deny,
        false,
        None,
        &config,
        None,
    )
    .await
    .map_err(Error::Zone)?;
    let mut catalog = Catalog::new();
    catalog.upsert(LowerName::new(&origin), vec![Arc::new(handler)]);
    Ok(catalog)
}

fn write_private(path: &PathBuf, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io(format!("write {}", path.display()), e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(format!("write {}", path.display()), e))
}

/// Hands `msg` to the catalogue; returns hickory's response, at most `max` bytes long.
/// `None` when hickory could not read the message at all.
pub async fn ask(
    catalog: &Catalog,
    msg: Vec<u8>,
    src: SocketAddr,
    tcp: bool,
    max: u16,
) -> Option<Vec<u8>> {
    let protocol = if tcp { Protocol::Tcp } else { Protocol::Udp };
    let request = Request::from_bytes(msg, src, protocol).ok()?;
    let capture = Capture { out: Arc::new(Mutex::new(None)), max };
    catalog.handle_request::<_, TokioTime>(&request, capture.clone()).await;
    capture.out.lock().ok()?.take()
}

/// Whether `fqdn` has any record in the dynamic zone (asks for type ANY).
pub async fn name_exists(catalog: &Catalog, fqdn: &str) -> bool {
    let Ok(name) = Name::from_ascii(format!("{}.", fqdn.trim_end_matches('.'))) else {
        return false;
    };
    let mut m = Message::query();
    m.add_query(Query::query(name, RecordType::ANY));
    let Ok(bytes) = m.to_vec() else { return false };
    let src = SocketAddr::from(([127, 0, 0, 1], 0));
    let Some(reply) = ask(catalog, bytes, src, true, u16::MAX).await else { return false };
    Message::from_vec(&reply).is_ok_and(|r| !r.answers.is_empty())
}

/// A `ResponseHandler` that keeps the encoded response instead of sending it.
#[derive(Clone)]
pub struct Capture {
    out: Arc<Mutex<Option<Vec<u8>>>>,
    max: u16,
}

#[async_trait::async_trait]
impl ResponseHandler for Capture {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let mut buf = Vec::with_capacity(512);
        let mut encoder = BinEncoder::new(&mut buf);
        encoder.set_max_size(self.max);
        let info = response.destructive_emit(&mut encoder)?;
        if let Ok(mut slot) = self.out.lock() {
            *slot = Some(buf);
        }
        Ok(info)
    }
}
