//! `appliance verify`: anyone given an export of the event log can check it against the chain.
//! Each settlement's token transfer carries the log's head (sequence number and hash) in
//! `safeTransferFrom`'s data; the export's hash chain is recomputed from its stored bytes and
//! the hash at that sequence number must be the anchored one.

use std::io::Write;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use store::Event;
use store::export::{Verified, parse_anchor};

/// Verifies `log` against the anchor in transaction `tx`; writes what it found to `out` and
/// returns whether the export matches.
pub async fn run(log: &Path, tx: &str, rpc: &str, out: &mut dyn Write) -> anyhow::Result<bool> {
    let file =
        std::fs::File::open(log).with_context(|| format!("cannot open {}", log.display()))?;
    let verified = store::export::verify(&mut std::io::BufReader::new(file));
    let hash = alloy_primitives::B256::from_str(tx.trim())
        .map_err(|e| anyhow::anyhow!("--tx {tx:?} is not a transaction hash: {e}"))?;
    let rpc = chain::rpc::Rpc::new(&[rpc.to_string()], Duration::from_secs(20))
        .map_err(|e| anyhow::anyhow!(e.replace("chain.rpc_urls", "--rpc")))?;
    let transfer = rpc.transfer(hash).await.map_err(anyhow::Error::msg)?;
    let (seq, anchored) = parse_anchor(&transfer.data).ok_or_else(|| {
        anyhow::anyhow!(
            "transaction {hash} carries no event log anchor (its data is {} bytes, not an SBAI anchor)",
            transfer.data.len()
        )
    })?;
    writeln!(
        out,
        "transaction {hash}: token {} of {} to {}, block {}",
        transfer.token, transfer.contract, transfer.to, transfer.block
    )?;
    writeln!(
        out,
        "anchored: event #{seq} with hash {}",
        hex::encode(anchored)
    )?;
    writeln!(
        out,
        "export: {} events match their hashes",
        verified.good.len()
    )?;
    if let Some((at, why)) = &verified.broken {
        writeln!(out, "export stops matching at event #{at}: {why}")?;
    }
    match verified.hash_at(seq) {
        Some(h) if h == anchored => {
            writeln!(
                out,
                "MATCH: events #1 to #{seq} are the record sealed on chain{}",
                sale(&verified, seq)
            )?;
            Ok(true)
        }
        Some(h) => {
            writeln!(
                out,
                "NO MATCH: the export's event #{seq} has hash {}, the chain holds {}: this is not the \
                 record that was sealed (an event at or before #{seq} was changed and the hashes after it recomputed)",
                hex::encode(h),
                hex::encode(anchored)
            )?;
            Ok(false)
        }
        None => {
            let reason = match &verified.broken {
                Some((at, _)) if *at <= seq => {
                    format!("the export was altered at event #{at}, before the anchored #{seq}")
                }
                _ => format!(
                    "the export holds {} intact events, fewer than the anchored #{seq}",
                    verified.good.len()
                ),
            };
            writeln!(out, "NO MATCH: {reason}")?;
            Ok(false)
        }
    }
}

/// The sale the anchor was made for: the latest auction closed at or before `seq`, with its day
/// and item as the campaign's events describe them.
fn sale(v: &Verified, seq: u64) -> String {
    let upto = || v.good.iter().take_while(|(s, _, _, _)| *s <= seq);
    let Some((auction, at)) = upto()
        .filter_map(|(_, _, _, e)| match e {
            Event::AuctionClosed { auction, at, .. } => Some((*auction, *at)),
            _ => None,
        })
        .last()
    else {
        return String::new();
    };
    let mut day = None;
    let mut item_names = std::collections::HashMap::new();
    for (_, _, _, e) in upto() {
        let (items, auctions) = match e {
            Event::CampaignCreated {
                items, auctions, ..
            }
            | Event::CampaignEdited {
                items, auctions, ..
            } => (items, auctions),
            _ => continue,
        };
        for i in items {
            item_names.insert(i.id, i.name.clone());
        }
        if let Some(a) = auctions.iter().find(|a| a.id == auction) {
            day = Some((a.day, a.item));
        }
    }
    match day {
        Some((d, item)) => format!(
            ": day {d}, {}, closed {}",
            item_names.get(&item).map_or("?", String::as_str),
            at.rfc3339()
        ),
        None => format!(": auction {auction}, closed {}", at.rfc3339()),
    }
}
