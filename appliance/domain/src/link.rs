//! Proof that a bidder owns the wallet they link: an EIP-191 `personal_sign` signature of the
//! canonical link message, recovered to an address and compared with the one claimed.

use store::Address;

/// The message a bidder signs to link a wallet: `SothebAIs: link @alice to 0xAbC… (@SothebAIs)`,
/// with the address in its EIP-55 checksummed form.
pub fn link_message(handle: &str, address: &Address, host: &str) -> String {
    format!(
        "SothebAIs: link @{} to {} (@{})",
        handle.trim_start_matches('@'),
        checksummed(address),
        host.trim_start_matches('@')
    )
}

/// An address in EIP-55 mixed-case checksum form.
pub fn checksummed(address: &Address) -> String {
    alloy_primitives::Address::from(address.0).to_checksum(None)
}

/// Why a link signature does not prove ownership.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a 65-byte `r | s | v` signature with a valid recovery id.
    #[error("the signature is malformed: {0}")]
    Malformed(String),
    /// It is a signature, but by another key or of another message.
    #[error(
        "the signature was not made by {address} over \"{expected}\"; sign exactly that message with that wallet"
    )]
    WrongSigner {
        /// The address claimed.
        address: String,
        /// The message that should have been signed.
        expected: String,
    },
}

impl LinkError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            LinkError::Malformed(_) => "bad_signature",
            LinkError::WrongSigner { .. } => "wrong_signer",
        }
    }
}

/// The link tweet a wallet owner sends: `@host link <address> <signature>`, the signature being
/// the wallet's `personal_sign` (EIP-191) of [`link_message`]. For the simulated crowds of the
/// benchmarks and tests; the appliance itself never holds bidders' keys. Returns the tweet and
/// the wallet's address.
pub fn link_tweet(host: &str, handle: &str, key: &k256::ecdsa::SigningKey) -> (String, Address) {
    let address = Address(alloy_primitives::Address::from_private_key(key).0.0);
    let message = link_message(handle, &address, host);
    let hash = alloy_primitives::eip191_hash_message(message.as_bytes());
    let mut bytes = match key.sign_prehash_recoverable(hash.as_slice()) {
        Ok((sig, recid)) => {
            let mut b = sig.to_bytes().to_vec();
            b.push(27 + recid.to_byte());
            b
        }
        // A 32-byte prehash always signs; an empty signature would simply be refused.
        Err(_) => Vec::new(),
    };
    bytes.truncate(65);
    (
        format!(
            "@{host} link {} 0x{}",
            checksummed(&address),
            alloy_primitives::hex::encode(bytes)
        ),
        address,
    )
}

/// Checks that `signature` is `address`'s `personal_sign` of the link message for `handle` and
/// `host`. The canonical message has the checksummed address; the address as the bidder typed it
/// and all-lower-case forms of address and handle are accepted too, since they name the same
/// wallet and account.
pub fn verify(
    handle: &str,
    address: &Address,
    address_as_typed: Option<&str>,
    signature: &[u8],
    host: &str,
) -> Result<(), LinkError> {
    let sig = alloy_primitives::Signature::from_raw(signature)
        .map_err(|e| LinkError::Malformed(e.to_string()))?;
    let handle = handle.trim_start_matches('@');
    let host = host.trim_start_matches('@');
    let mut addresses = vec![checksummed(address), address.to_string()];
    if let Some(typed) = address_as_typed
        && !addresses.iter().any(|a| a == typed)
    {
        addresses.push(typed.to_string());
    }
    let mut handles = vec![handle.to_string()];
    if handle.to_ascii_lowercase() != handle {
        handles.push(handle.to_ascii_lowercase());
    }
    for h in &handles {
        for a in &addresses {
            let message = format!("SothebAIs: link @{h} to {a} (@{host})");
            if let Ok(signer) = sig.recover_address_from_msg(message.as_bytes())
                && signer.0.0 == address.0
            {
                return Ok(());
            }
        }
    }
    Err(LinkError::WrongSigner {
        address: checksummed(address),
        expected: link_message(handle, address, host),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k256::ecdsa::SigningKey;

    /// Signs like a wallet's `personal_sign`: keccak256 of the EIP-191 prefixed message.
    pub(crate) fn personal_sign(key: &SigningKey, message: &str) -> Vec<u8> {
        let hash = alloy_primitives::eip191_hash_message(message.as_bytes());
        let (sig, recid) = key.sign_prehash_recoverable(hash.as_slice()).unwrap();
        let mut out = sig.to_bytes().to_vec();
        out.push(27 + recid.to_byte());
        out
    }

    fn key_and_address(seed: u8) -> (SigningKey, Address) {
        let key = SigningKey::from_slice(&[seed; 32]).unwrap();
        let addr = alloy_primitives::Address::from_private_key(&key);
        (key, Address(addr.0.0))
    }

    #[test]
    fn the_canonical_message_verifies() {
        let (key, address) = key_and_address(7);
        let message = link_message("alice", &address, "SothebAIs");
        assert!(message.starts_with("SothebAIs: link @alice to 0x"));
        assert!(message.ends_with(" (@SothebAIs)"));
        let sig = personal_sign(&key, &message);
        verify("alice", &address, None, &sig, "@SothebAIs").unwrap();
        // Case variants of the same account and wallet.
        let lower = format!("SothebAIs: link @alice to {address} (@SothebAIs)");
        verify(
            "Alice",
            &address,
            None,
            &personal_sign(&key, &lower),
            "SothebAIs",
        )
        .unwrap();
    }

    #[test]
    fn another_key_another_handle_or_garbage_is_refused() {
        let (key, address) = key_and_address(7);
        let (other, _) = key_and_address(8);
        let message = link_message("alice", &address, "SothebAIs");
        let err = verify(
            "alice",
            &address,
            None,
            &personal_sign(&other, &message),
            "SothebAIs",
        )
        .unwrap_err();
        assert_eq!(err.code(), "wrong_signer");
        // Signed for bob, claimed by alice.
        let for_bob = personal_sign(&key, &link_message("bob", &address, "SothebAIs"));
        assert!(verify("alice", &address, None, &for_bob, "SothebAIs").is_err());
        // Signed for another host.
        let other_host = personal_sign(&key, &link_message("alice", &address, "Elsewhere"));
        assert!(verify("alice", &address, None, &other_host, "SothebAIs").is_err());
        assert_eq!(
            verify("alice", &address, None, &[0u8; 10], "SothebAIs")
                .unwrap_err()
                .code(),
            "bad_signature"
        );
        let mut bad_v = personal_sign(&key, &message);
        bad_v[64] = 99;
        assert!(verify("alice", &address, None, &bad_v, "SothebAIs").is_err());
    }
}
