//! Bidders: their wallets, escrow, deposits, bids and refunds.

use super::*;

/// A bidder with their escrow.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BidderRow {
    /// X id.
    pub id: String,
    /// Handle.
    pub handle: String,
    /// X account created (RFC 3339).
    pub account_created: String,
    /// Simulated bidder.
    pub simulated: bool,
    /// Linked wallet.
    pub wallet: Option<String>,
    /// Whether the link was proven by signature.
    pub verified: bool,
    /// Credited deposits, ETH.
    pub deposited_eth: String,
    /// Committed to leading bids, ETH.
    pub leading_eth: String,
    /// Won, ETH.
    pub won_eth: String,
    /// Refunded, ETH.
    pub withdrawn_eth: String,
    /// Free to bid, ETH.
    pub available_eth: String,
}

fn bidder_row(r: &Reader, u: &store::User) -> Result<BidderRow> {
    let w = s(r.wallet(u.id))?;
    let b = s(r.balance(u.id))?;
    Ok(BidderRow {
        id: u.id.to_string(),
        handle: u.handle.clone(),
        account_created: u.account_created.rfc3339(),
        simulated: u.simulated,
        wallet: w.as_ref().map(|w| w.address.to_string()),
        verified: w.is_some_and(|w| w.verified),
        deposited_eth: eth(b.deposited),
        leading_eth: eth(b.leading),
        won_eth: eth(b.won),
        withdrawn_eth: eth(b.withdrawn),
        available_eth: eth(b.available()),
    })
}

/// Every bidder.
pub fn bidders(r: &Reader) -> Result<Vec<BidderRow>> {
    s(r.users())?.iter().map(|u| bidder_row(r, u)).collect()
}

/// A deposit.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DepositRow {
    /// Id.
    pub id: u64,
    /// Sending wallet.
    pub from: String,
    /// Bidder it is credited to.
    pub handle: Option<String>,
    /// ETH.
    pub amount_eth: String,
    /// Chain reference.
    pub reference: String,
    /// When recorded (RFC 3339).
    pub at: String,
    /// `credited`, `held` (wallet not linked) or `reverted`.
    pub state: String,
}

pub(super) fn deposit_row(r: &Reader, d: &Deposit) -> Result<DepositRow> {
    let state = if s(r.deposit_reverted(d.id))?.is_some() {
        "reverted"
    } else if d.user.is_some() {
        "credited"
    } else {
        "held"
    };
    Ok(DepositRow {
        id: d.id.0,
        from: d.from.to_string(),
        handle: d.user.map(|u| handle(r, u)).transpose()?,
        amount_eth: eth(d.amount),
        reference: d.reference.clone(),
        at: d.at.rfc3339(),
        state: state.into(),
    })
}

/// A refund.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WithdrawalRow {
    /// Id.
    pub id: u64,
    /// Bidder.
    pub handle: String,
    /// Wallet paid.
    pub to: String,
    /// ETH.
    pub amount_eth: String,
    /// When requested (RFC 3339).
    pub at: String,
    /// Who asked.
    pub requested_by: String,
}

/// A bidder with everything they did.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BidderDetail {
    /// The bidder.
    pub bidder: BidderRow,
    /// Their bids.
    pub bids: Vec<BidRow>,
    /// Their deposits.
    pub deposits: Vec<DepositRow>,
    /// Their refunds.
    pub withdrawals: Vec<WithdrawalRow>,
}

/// One bidder.
pub fn bidder_detail(r: &Reader, id: u64) -> Result<Option<BidderDetail>> {
    let Some(u) = s(r.user(UserId(id)))? else {
        return Ok(None);
    };
    let bids = s(r.bids_of_user(u.id))?
        .iter()
        .map(|b| bid_row(r, b))
        .collect::<Result<_>>()?;
    let deposits = s(r.deposits())?
        .iter()
        .filter(|d| d.user == Some(u.id))
        .map(|d| deposit_row(r, d))
        .collect::<Result<_>>()?;
    let withdrawals = s(r.withdrawals())?
        .iter()
        .filter(|w| w.user == u.id)
        .map(|w| WithdrawalRow {
            id: w.id.0,
            handle: u.handle.clone(),
            to: w.to.to_string(),
            amount_eth: eth(w.amount),
            at: w.requested_at.rfc3339(),
            requested_by: w.requested_by.clone(),
        })
        .collect();
    Ok(Some(BidderDetail {
        bidder: bidder_row(r, &u)?,
        bids,
        deposits,
        withdrawals,
    }))
}
