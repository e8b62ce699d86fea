//! Typed Ethereum calls over [`Rpc`]: blocks, receipts, nonces, fees, `eth_call`, raw
//! transactions; the ERC-721 calls the appliance makes; and the custody key, unlocked from a
//! standard scrypt JSON keystore, that signs EIP-1559 transactions.
//!
//! Blocks and transactions are decoded into the few fields the appliance reads, which keeps
//! OP-stack specifics (deposit transactions of type 0x7e in every block) from failing a decode.

use std::path::Path;

use alloy_consensus::{SignableTransaction, TxEip1559};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address as EthAddress, B256, Bytes, TxKind, U64, U256};
use alloy_sol_types::{SolCall, sol};
use serde::Deserialize;
use serde_json::json;

use super::rpc::{Rpc, RpcError};
use domain::secret::Secret;

sol! {
    /// The ERC-721 calls the appliance makes.
    interface IERC721 {
        function ownerOf(uint256 tokenId) external view returns (address owner);
        function safeTransferFrom(address from, address to, uint256 tokenId, bytes data) external;
    }
}

/// A block with its transactions.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Block {
    /// Its number.
    pub number: U64,
    /// Its hash.
    pub hash: B256,
    /// Its parent's hash.
    pub parent_hash: B256,
    /// EIP-1559 base fee.
    #[serde(default)]
    pub base_fee_per_gas: Option<U256>,
    /// Its transactions (with `eth_getBlockByNumber(n, true)`).
    #[serde(default)]
    pub transactions: Vec<BlockTx>,
}

/// The fields of a transaction the deposit watcher reads.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BlockTx {
    /// Its hash.
    pub hash: B256,
    /// The sender.
    pub from: EthAddress,
    /// The recipient (none for contract creation).
    #[serde(default)]
    pub to: Option<EthAddress>,
    /// Wei sent.
    pub value: U256,
}

/// A block's identity, without its transactions.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    /// Its number.
    pub number: U64,
    /// Its hash.
    pub hash: B256,
    /// Its parent's hash.
    pub parent_hash: B256,
}

/// A transaction's receipt.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// The transaction.
    pub transaction_hash: B256,
    /// The block it is in.
    pub block_number: U64,
    /// That block's hash.
    pub block_hash: B256,
    /// 1 success, 0 reverted.
    pub status: U64,
}

fn quantity(n: u64) -> String {
    format!("{n:#x}")
}

fn mismatch(method: &str, what: String) -> RpcError {
    RpcError::Unavailable {
        method: method.to_string(),
        last: what,
    }
}

/// Typed calls.
impl Rpc {
    /// `eth_chainId`.
    pub async fn chain_id(&self) -> Result<u64, RpcError> {
        Ok(self.call::<U64>("eth_chainId", json!([])).await?.to())
    }

    /// `eth_blockNumber`.
    pub async fn block_number(&self) -> Result<u64, RpcError> {
        Ok(self.call::<U64>("eth_blockNumber", json!([])).await?.to())
    }

    /// Block `n` with its transactions; `None` if the node does not have it (yet).
    pub async fn block(&self, n: u64) -> Result<Option<Block>, RpcError> {
        let block: Option<Block> = self
            .call("eth_getBlockByNumber", json!([quantity(n), true]))
            .await?;
        if let Some(b) = &block
            && b.number.to::<u64>() != n
        {
            return Err(mismatch(
                "eth_getBlockByNumber",
                format!("asked for block {n}, got {}", b.number),
            ));
        }
        Ok(block)
    }

    /// Block `n`'s identity.
    pub async fn header(&self, n: u64) -> Result<Option<Header>, RpcError> {
        let header: Option<Header> = self
            .call("eth_getBlockByNumber", json!([quantity(n), false]))
            .await?;
        if let Some(h) = &header
            && h.number.to::<u64>() != n
        {
            return Err(mismatch(
                "eth_getBlockByNumber",
                format!("asked for block {n}, got {}", h.number),
            ));
        }
        Ok(header)
    }

    /// How many providers say block `n` has hash `hash`, and what each said (for the log).
    pub async fn agreeing_on(&self, n: u64, hash: B256) -> (usize, Vec<String>) {
        let mut agree = 0;
        let mut said = Vec::new();
        for (host, answer) in self
            .ask_each("eth_getBlockByNumber", json!([quantity(n), false]))
            .await
        {
            let view = match answer.map(serde_json::from_value::<Option<Header>>) {
                Ok(Ok(Some(h))) if h.number.to::<u64>() == n => {
                    if h.hash == hash {
                        agree += 1;
                    }
                    h.hash.to_string()
                }
                Ok(Ok(Some(h))) => format!("block {} instead", h.number),
                Ok(Ok(None)) => "no such block yet".to_string(),
                Ok(Err(e)) => format!("unreadable answer: {e}"),
                Err(why) => format!("no answer: {why}"),
            };
            said.push(format!("{host}: {view}"));
        }
        (agree, said)
    }

    /// The latest block's base fee.
    pub async fn base_fee(&self) -> Result<u128, RpcError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Latest {
            base_fee_per_gas: Option<U256>,
        }
        let latest: Latest = self
            .call("eth_getBlockByNumber", json!(["latest", false]))
            .await?;
        latest
            .base_fee_per_gas
            .map(|f| f.saturating_to())
            .ok_or_else(|| mismatch("eth_getBlockByNumber", "no baseFeePerGas".into()))
    }

    /// `eth_maxPriorityFeePerGas`.
    pub async fn priority_fee(&self) -> Result<u128, RpcError> {
        Ok(self
            .call::<U256>("eth_maxPriorityFeePerGas", json!([]))
            .await?
            .saturating_to())
    }

    /// `eth_getTransactionCount(address, "pending")`.
    pub async fn pending_nonce(&self, address: EthAddress) -> Result<u64, RpcError> {
        Ok(self
            .call::<U64>("eth_getTransactionCount", json!([address, "pending"]))
            .await?
            .to())
    }

    /// `eth_getBalance(address, "latest")`.
    pub async fn balance(&self, address: EthAddress) -> Result<U256, RpcError> {
        self.call("eth_getBalance", json!([address, "latest"]))
            .await
    }

    /// A transaction's receipt, once mined.
    pub async fn receipt(&self, hash: B256) -> Result<Option<Receipt>, RpcError> {
        let receipt: Option<Receipt> = self
            .call("eth_getTransactionReceipt", json!([hash]))
            .await?;
        if let Some(r) = &receipt
            && r.transaction_hash != hash
        {
            return Err(mismatch(
                "eth_getTransactionReceipt",
                format!("asked for {hash}, got {}", r.transaction_hash),
            ));
        }
        Ok(receipt)
    }

    /// `eth_sendRawTransaction`; returns the hash the node reports.
    pub async fn send_raw(&self, raw: &[u8]) -> Result<B256, RpcError> {
        self.call(
            "eth_sendRawTransaction",
            json!([format!("0x{}", alloy_primitives::hex::encode(raw))]),
        )
        .await
    }

    /// `eth_call` at the latest block.
    pub async fn eth_call(&self, to: EthAddress, data: &[u8]) -> Result<Bytes, RpcError> {
        self.call(
            "eth_call",
            json!([{"to": to, "data": Bytes::copy_from_slice(data)}, "latest"]),
        )
        .await
    }

    /// `eth_estimateGas`.
    pub async fn estimate_gas(
        &self,
        from: EthAddress,
        to: EthAddress,
        value: U256,
        data: &[u8],
    ) -> Result<u64, RpcError> {
        Ok(self
            .call::<U64>(
                "eth_estimateGas",
                json!([{"from": from, "to": to, "value": value, "data": Bytes::copy_from_slice(data)}]),
            )
            .await?
            .to())
    }

    /// `ownerOf(token)` of an ERC-721 contract, with the block it was read at.
    pub async fn owner_of(
        &self,
        contract: EthAddress,
        token: U256,
    ) -> Result<EthAddress, RpcError> {
        let data = IERC721::ownerOfCall { tokenId: token }.abi_encode();
        let out = self.eth_call(contract, &data).await?;
        IERC721::ownerOfCall::abi_decode_returns(&out)
            .map_err(|e| mismatch("eth_call", format!("ownerOf returned {out}: {e}")))
    }
}

/// The calldata of `safeTransferFrom(from, to, token, data)`: `data` carries the event log's
/// anchor ([`store::export::anchor`]) to the chain with the sale.
pub fn safe_transfer_from(from: EthAddress, to: EthAddress, token: U256, data: Vec<u8>) -> Vec<u8> {
    IERC721::safeTransferFromCall {
        from,
        to,
        tokenId: token,
        data: data.into(),
    }
    .abi_encode()
}

/// A token transfer as a settlement made it, read back from the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// The token contract.
    pub contract: EthAddress,
    /// From (the custody wallet).
    pub from: EthAddress,
    /// To (the winner).
    pub to: EthAddress,
    /// The token.
    pub token: U256,
    /// The `data` it carried.
    pub data: Vec<u8>,
    /// The block it was mined in.
    pub block: u64,
}

impl Rpc {
    /// The token transfer made by transaction `hash`: an error when the transaction is unknown,
    /// not mined, reverted, or not a `safeTransferFrom` with data.
    pub async fn transfer(&self, hash: B256) -> Result<Transfer, String> {
        #[derive(Deserialize)]
        struct Tx {
            to: Option<EthAddress>,
            input: Bytes,
        }
        let tx: Option<Tx> = self
            .call("eth_getTransactionByHash", json!([hash]))
            .await
            .map_err(|e| e.to_string())?;
        let tx = tx.ok_or_else(|| format!("the chain does not know transaction {hash}"))?;
        let receipt = self
            .receipt(hash)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("transaction {hash} is not mined"))?;
        if receipt.status.to::<u64>() != 1 {
            return Err(format!(
                "transaction {hash} reverted: it transferred nothing"
            ));
        }
        let contract = tx
            .to
            .ok_or_else(|| format!("transaction {hash} created a contract"))?;
        let call = IERC721::safeTransferFromCall::abi_decode(&tx.input).map_err(|_| {
            format!("transaction {hash} is not a safeTransferFrom(from, to, tokenId, data)")
        })?;
        Ok(Transfer {
            contract,
            from: call.from,
            to: call.to,
            token: call.tokenId,
            data: call.data.to_vec(),
            block: receipt.block_number.to(),
        })
    }
}

/// The custody key: owns the escrow wallet and the tokens on sale.
pub struct Signer {
    key: k256::ecdsa::SigningKey,
    address: EthAddress,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// A transaction signed and ready to broadcast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTx {
    /// Its hash.
    pub hash: B256,
    /// EIP-2718 encoding, as broadcast.
    pub raw: Vec<u8>,
}

impl Signer {
    /// A signer from a raw private key.
    pub fn from_bytes(bytes: &[u8]) -> Result<Signer, String> {
        let key = k256::ecdsa::SigningKey::from_slice(bytes)
            .map_err(|_| "the key is not a valid secp256k1 private key".to_string())?;
        let address = EthAddress::from_private_key(&key);
        Ok(Signer { key, address })
    }

    /// Unlocks a standard JSON keystore (scrypt or pbkdf2). Slow on purpose (the KDF): call
    /// it off the async threads.
    pub fn from_keystore(path: &Path, passphrase: &Secret) -> Result<Signer, String> {
        let bytes = eth_keystore::decrypt_key(path, passphrase.expose()).map_err(|e| {
            format!(
                "cannot unlock the keystore {}: {}",
                path.display(),
                match e {
                    eth_keystore::KeystoreError::MacMismatch => "wrong passphrase".to_string(),
                    other => other.to_string(),
                }
            )
        })?;
        Signer::from_bytes(&bytes)
    }

    /// Its address.
    pub fn address(&self) -> EthAddress {
        self.address
    }

    /// Signs an EIP-1559 transaction.
    pub fn sign(&self, tx: TxEip1559) -> Result<SignedTx, String> {
        let hash = tx.signature_hash();
        let (sig, recid) = self
            .key
            .sign_prehash_recoverable(hash.as_slice())
            .map_err(|e| format!("signing failed: {e}"))?;
        let signature =
            alloy_primitives::Signature::from_signature_and_parity(sig, recid.is_y_odd());
        let signed = tx.into_signed(signature);
        Ok(SignedTx {
            hash: *signed.hash(),
            raw: signed.encoded_2718(),
        })
    }
}

/// An EIP-1559 call or transfer.
#[allow(clippy::too_many_arguments)]
pub fn transaction(
    chain_id: u64,
    nonce: u64,
    to: EthAddress,
    value: U256,
    data: Vec<u8>,
    gas_limit: u64,
    max_fee: u128,
    priority_fee: u128,
) -> TxEip1559 {
    TxEip1559 {
        chain_id,
        nonce,
        gas_limit,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: priority_fee,
        to: TxKind::Call(to),
        value,
        access_list: Default::default(),
        input: data.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_transactions_recover_to_the_signer() {
        // Hardhat's first development account.
        let key = alloy_primitives::hex::decode(
            "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
        )
        .unwrap();
        let signer = Signer::from_bytes(&key).unwrap();
        assert_eq!(
            signer.address().to_string().to_lowercase(),
            "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
        );
        let tx = transaction(
            360,
            7,
            EthAddress::repeat_byte(0x11),
            U256::from(5u64),
            vec![],
            21_000,
            2_000_000_000,
            1_000_000,
        );
        let signed = signer.sign(tx).unwrap();
        assert_eq!(signed.raw[0], 2, "EIP-1559 envelope");
        assert_eq!(alloy_primitives::keccak256(&signed.raw), signed.hash);
        use alloy_eips::eip2718::Decodable2718;
        let decoded = alloy_consensus::TxEnvelope::decode_2718(&mut signed.raw.as_slice()).unwrap();
        use alloy_consensus::transaction::SignerRecoverable;
        assert_eq!(decoded.recover_signer().unwrap(), signer.address());
        assert!(!format!("{signer:?}").contains("ac0974"));
    }

    #[test]
    fn erc721_calldata_has_the_standard_selectors() {
        let anchor = store::export::anchor(9, &[3; 32]);
        let data = safe_transfer_from(EthAddress::ZERO, EthAddress::ZERO, U256::from(1), anchor);
        // safeTransferFrom(address,address,uint256,bytes)
        assert_eq!(&data[..4], &[0xb8, 0x8d, 0x4f, 0xde]);
        let call = IERC721::safeTransferFromCall::abi_decode(&data).unwrap();
        assert_eq!(store::export::parse_anchor(&call.data), Some((9, [3; 32])));
        let owner = IERC721::ownerOfCall {
            tokenId: U256::from(1),
        }
        .abi_encode();
        assert_eq!(&owner[..4], &[0x63, 0x52, 0x21, 0x1e]);
    }

    #[test]
    fn blocks_with_op_deposit_transactions_decode() {
        let block: Block = serde_json::from_str(
            r#"{"number":"0x10","hash":"0x1111111111111111111111111111111111111111111111111111111111111111",
                "parentHash":"0x2222222222222222222222222222222222222222222222222222222222222222",
                "baseFeePerGas":"0x7","transactions":[
                {"type":"0x7e","hash":"0x3333333333333333333333333333333333333333333333333333333333333333",
                 "from":"0xdeaddeaddeaddeaddeaddeaddeaddeaddead0001","to":"0x4200000000000000000000000000000000000015",
                 "value":"0x0","sourceHash":"0x00","mint":"0x0","isSystemTx":false,"input":"0x"}]}"#,
        )
        .unwrap();
        assert_eq!(block.number.to::<u64>(), 16);
        assert_eq!(block.transactions.len(), 1);
    }
}
