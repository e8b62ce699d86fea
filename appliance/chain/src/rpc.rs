//! JSON-RPC over HTTP to a list of providers (Alchemy, Infura, a public node, ...), failing over
//! to the next on a transport error, a timeout, a server error or an unreadable answer, and
//! sticking with the one that answered. A node's own refusal (a JSON-RPC error such as
//! "nonce too low") is an answer, not a failure, and is returned as is.
//!
//! Every answer is validated: the JSON-RPC envelope (version, id, exactly one of result and
//! error) and then the result's shape, decoded into typed values ([`types`](super::types)).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Largest answer read.
const MAX_BODY: usize = 32 * 1024 * 1024;

/// What went wrong with a call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// No provider gave a usable answer.
    #[error("no RPC provider answered {method}: {last}")]
    Unavailable {
        /// The method.
        method: String,
        /// What the last provider tried did wrong.
        last: String,
    },
    /// A node answered with a JSON-RPC error.
    #[error("the node refused {method}: {message} (code {code})")]
    Node {
        /// The method.
        method: String,
        /// JSON-RPC error code.
        code: i64,
        /// Its message.
        message: String,
    },
}

impl RpcError {
    /// The node's message, when it answered with an error.
    pub fn node_message(&self) -> Option<&str> {
        match self {
            RpcError::Node { message, .. } => Some(message),
            RpcError::Unavailable { .. } => None,
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    jsonrpc: Option<String>,
    id: Option<Value>,
    result: Option<Value>,
    error: Option<NodeError>,
}

#[derive(Deserialize)]
struct NodeError {
    code: i64,
    message: String,
}

/// Node error codes that mean the provider is in trouble (limits, internal failure), so another
/// provider should be asked.
fn provider_trouble(code: i64) -> bool {
    matches!(code, -32005 | -32603 | 429)
}

/// Counters for the status page.
#[derive(Debug, Default)]
pub struct RpcStats {
    /// Calls answered.
    pub calls: AtomicU64,
    /// Times a provider failed and the next was tried.
    pub failovers: AtomicU64,
    /// The last provider failure.
    pub last_error: domain::report::LastError,
}

/// A JSON-RPC client over several providers.
pub struct Rpc {
    http: reqwest::Client,
    urls: Vec<String>,
    current: AtomicUsize,
    next_id: AtomicU64,
    /// Counters.
    pub stats: RpcStats,
}

impl std::fmt::Debug for Rpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Provider URLs often carry an API key: show only their hosts.
        let hosts: Vec<String> = self.urls.iter().map(|u| egress::host_of(u)).collect();
        f.debug_struct("Rpc").field("providers", &hosts).finish()
    }
}

impl Rpc {
    /// A client for `urls`, tried in order; each request times out after `timeout`.
    pub fn new(urls: &[String], timeout: Duration) -> Result<Rpc, String> {
        if urls.is_empty() {
            return Err("chain.rpc_urls is empty: give at least one JSON-RPC URL".into());
        }
        for u in urls {
            egress::check_url("chain.rpc_urls", u)?;
        }
        Ok(Rpc {
            http: egress::client(timeout)?,
            urls: urls.to_vec(),
            current: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            stats: RpcStats::default(),
        })
    }

    /// Asks every provider for its chain id: one serving another chain is a configuration
    /// mistake (an error); unreachable ones are only reported. At least one must answer.
    pub async fn verify_chain(&self, expected: u64) -> Result<(), String> {
        let mut answered = 0;
        for (index, url) in self.urls.iter().enumerate() {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            match self
                .once(url, id, "eth_chainId", &serde_json::json!([]))
                .await
            {
                Ok(Ok(value)) => {
                    let chain = serde_json::from_value::<alloy_primitives::U64>(value)
                        .map(|v| v.to::<u64>())
                        .map_err(|e| {
                            format!("{}: unreadable chain id: {e}", egress::host_of(url))
                        })?;
                    if chain != expected {
                        return Err(format!(
                            "the RPC provider {} serves chain {chain}, but chain.chain_id is {expected}",
                            egress::host_of(url)
                        ));
                    }
                    if answered == 0 {
                        self.current.store(index, Ordering::Relaxed);
                    }
                    answered += 1;
                }
                Ok(Err(node)) => self.note_failure(url, "eth_chainId", &node.message),
                Err(why) => self.note_failure(url, "eth_chainId", &why),
            }
        }
        if answered == 0 {
            return Err("no RPC provider answered".into());
        }
        Ok(())
    }

    /// How many providers are configured.
    pub fn providers(&self) -> usize {
        self.urls.len()
    }

    /// Asks every provider for `method` (no failover): each provider's host and its answer, or
    /// why it gave none. For the checks that need several providers to agree.
    pub async fn ask_each(
        &self,
        method: &str,
        params: Value,
    ) -> Vec<(String, Result<Value, String>)> {
        let mut out = Vec::with_capacity(self.urls.len());
        for url in &self.urls {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let answer = match self.once(url, id, method, &params).await {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(node)) => Err(format!("{} (code {})", node.message, node.code)),
                Err(why) => Err(why),
            };
            out.push((egress::host_of(url), answer));
        }
        out
    }

    /// The provider calls go to first.
    pub fn current_provider(&self) -> String {
        egress::host_of(&self.urls[self.current.load(Ordering::Relaxed) % self.urls.len()])
    }

    /// Calls `method` and decodes its result as `T`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<T, RpcError> {
        let value = self.call_value(method, params).await?;
        serde_json::from_value(value).map_err(|e| RpcError::Unavailable {
            method: method.to_string(),
            last: format!("the result does not have the expected shape: {e}"),
        })
    }

    /// Calls `method`; the raw result (`null` included).
    pub async fn call_value(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let start = self.current.load(Ordering::Relaxed);
        let mut last = String::new();
        for step in 0..self.urls.len() {
            let index = (start + step) % self.urls.len();
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            match self.once(&self.urls[index], id, method, &params).await {
                Ok(Ok(value)) => {
                    self.current.store(index, Ordering::Relaxed);
                    self.stats.calls.fetch_add(1, Ordering::Relaxed);
                    return Ok(value);
                }
                Ok(Err(node)) if !provider_trouble(node.code) => {
                    self.current.store(index, Ordering::Relaxed);
                    return Err(RpcError::Node {
                        method: method.to_string(),
                        code: node.code,
                        message: node.message.chars().take(500).collect(),
                    });
                }
                Ok(Err(node)) => last = format!("{} (code {})", node.message, node.code),
                Err(why) => last = why,
            }
            self.note_failure(&self.urls[index], method, &last);
            last = format!("{}: {last}", egress::host_of(&self.urls[index]));
        }
        Err(RpcError::Unavailable {
            method: method.to_string(),
            last,
        })
    }

    fn note_failure(&self, url: &str, method: &str, why: &str) {
        let line = format!("{}: {why}", egress::host_of(url));
        self.stats.failovers.fetch_add(1, Ordering::Relaxed);
        self.stats.last_error.set(line);
        tracing::warn!(provider = %egress::host_of(url), method, error = %why, "RPC provider failed; trying the next");
    }

    /// One attempt at one provider: a result, the node's error, or why the provider failed.
    async fn once(
        &self,
        url: &str,
        id: u64,
        method: &str,
        params: &Value,
    ) -> Result<Result<Value, NodeError>, String> {
        let body =
            serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut response = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        let status = response.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| e.without_url().to_string())?
        {
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(format!("answer larger than {MAX_BODY} bytes"));
            }
            bytes.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        let envelope: Envelope =
            serde_json::from_slice(&bytes).map_err(|e| format!("not a JSON-RPC answer: {e}"))?;
        if envelope.jsonrpc.as_deref() != Some("2.0") {
            return Err("not a JSON-RPC 2.0 answer".into());
        }
        if envelope.id.as_ref().and_then(Value::as_u64) != Some(id) {
            return Err(format!(
                "answer to request {id} carries id {:?}",
                envelope.id
            ));
        }
        match (envelope.result, envelope.error) {
            (_, Some(error)) => Ok(Err(error)),
            (Some(result), None) => Ok(Ok(result)),
            (None, None) => Ok(Ok(Value::Null)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_keys_stay_out_of_logs() {
        assert_eq!(
            egress::host_of("https://shape-mainnet.g.alchemy.com/v2/SECRETKEY"),
            "shape-mainnet.g.alchemy.com"
        );
        assert_eq!(egress::host_of("http://127.0.0.1:8545"), "127.0.0.1:8545");
        let rpc = Rpc::new(
            &["https://rpc.example/v3/SECRETKEY".to_string()],
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(!format!("{rpc:?}").contains("SECRETKEY"));
        assert!(Rpc::new(&[], Duration::from_secs(1)).is_err());
        assert!(Rpc::new(&["ftp://x".to_string()], Duration::from_secs(1)).is_err());
        assert_eq!(
            egress::host_of("https://ana:s3cret@rpc.example:8443/v1?key=K"),
            "rpc.example:8443"
        );
        let e = Rpc::new(
            &["https://ana:s3cret@rpc.example/".into()],
            Duration::from_secs(1),
        )
        .map(|r| format!("{r:?}"))
        .unwrap();
        assert!(!e.contains("s3cret") && !e.contains("ana"), "{e}");
    }
}
