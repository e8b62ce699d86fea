//! Bidders: users as X shows them, wallet links, escrow deposits and bids.

use super::*;

impl Core {
    pub(in crate::engine) fn see_user(
        &mut self,
        w: &mut Writer<'_>,
        id: UserId,
        handle: &str,
        account_created: Timestamp,
        simulated: bool,
        now: Timestamp,
    ) -> store::Result<Handled> {
        if simulated && self.policy.onchain {
            return Ok(Err(CommandError::state(
                "simulated bidders cannot be enrolled while the campaign settles on chain",
            )));
        }
        if !valid_handle(handle) {
            return Ok(Err(CommandError::invalid(format!(
                "{handle:?} is not an X handle"
            ))));
        }
        let handle = handle.trim_start_matches('@').to_string();
        let existing = w.user(id)?;
        if let Some(u) = &existing
            && u.handle == handle
            && u.account_created == account_created
            && u.simulated == simulated
        {
            return Ok(Ok(Reply::User { id }));
        }
        let user = User {
            id,
            handle,
            account_created,
            first_seen: existing.map_or(now, |u| u.first_seen),
            simulated,
        };
        w.append(now, Event::UserSeen { user })?;
        Ok(Ok(Reply::User { id }))
    }

    pub(in crate::engine) fn link_wallet(
        &mut self,
        w: &mut Writer<'_>,
        user: UserId,
        address: Address,
        verified: bool,
        now: Timestamp,
    ) -> store::Result<Handled> {
        if w.user(user)?.is_none() {
            return Ok(Err(CommandError::not_found(format!(
                "there is no user {user}"
            ))));
        }
        if address == Address::default() {
            return Ok(Err(CommandError::invalid(
                "the zero address cannot be linked",
            )));
        }
        if let Some(owner) = w.wallet_owner(&address)?
            && owner != user
        {
            return Ok(Err(CommandError::conflict(format!(
                "{address} is already linked to another account"
            ))));
        }
        let unchanged = w
            .wallet(user)?
            .is_some_and(|l| l.address == address && l.verified == verified);
        if !unchanged {
            let link = WalletLink {
                user,
                address,
                verified,
                linked_at: now,
            };
            w.append(now, Event::WalletLinked { link })?;
        }
        let mut credited = 0;
        if verified {
            for d in w.deposits()? {
                if d.from == address && d.user.is_none() {
                    w.append(
                        now,
                        Event::DepositCredited {
                            deposit: d.id,
                            user,
                        },
                    )?;
                    credited += 1;
                }
            }
        }
        Ok(Ok(Reply::Wallet {
            user,
            address,
            credited_deposits: credited,
        }))
    }

    pub(super) fn record_deposit(
        &mut self,
        w: &mut Writer<'_>,
        from: Address,
        amount: Wei,
        reference: &str,
        now: Timestamp,
    ) -> store::Result<Handled> {
        let reference = reference.trim();
        if reference.is_empty() || reference.len() > 200 {
            return Ok(Err(CommandError::invalid(
                "a deposit needs its chain reference (1-200 characters)",
            )));
        }
        if amount == Wei::ZERO {
            return Ok(Err(CommandError::invalid(
                "a deposit of zero is no deposit",
            )));
        }
        if let Some(d) = w.deposit_by_reference(reference)? {
            if d.from != from || d.amount != amount {
                return Ok(Err(CommandError::conflict(format!(
                    "deposit {reference} was recorded with a different sender or amount"
                ))));
            }
            return Ok(Ok(Reply::Deposit {
                id: d.id,
                credited: d.user.is_some(),
                duplicate: true,
            }));
        }
        let user = match w.wallet_owner(&from)? {
            Some(u) if w.wallet(u)?.is_some_and(|l| l.verified) => Some(u),
            _ => None,
        };
        let id = DepositId(w.last_id(IdTable::Deposits)? + 1);
        let deposit = Deposit {
            id,
            from,
            user,
            amount,
            reference: reference.to_string(),
            at: now,
        };
        let seq = w.append(now, Event::DepositRecorded { deposit })?;
        if user.is_some() {
            self.notify(w, seq, now, Notice::DepositCredited { deposit: id })?;
        }
        Ok(Ok(Reply::Deposit {
            id,
            credited: user.is_some(),
            duplicate: false,
        }))
    }

    pub(in crate::engine) fn place_bid(
        &mut self,
        w: &mut Writer<'_>,
        bidder: UserId,
        amount: Wei,
        source: &BidSource,
        auction: Option<AuctionId>,
        now: Timestamp,
    ) -> store::Result<Handled> {
        if self.policy.onchain && *source == BidSource::Simulated {
            return Ok(Err(CommandError::state(
                "simulated bids are refused while the campaign settles on chain: they would compete with real escrow",
            )));
        }
        let key = source.key();
        if let Some(key) = &key {
            if key.len() > 200 {
                return Ok(Err(CommandError::invalid(
                    "the bid's source reference is too long",
                )));
            }
            if let Some(id) = w.bid_by_source(key)? {
                return Ok(Ok(Reply::Bid(receipt_of(w, id, true)?)));
            }
        }
        let target = match auction {
            Some(id) => Some(refuse!(must_auction(w, id)?)),
            None => self.live_auction(w)?,
        };
        let id = BidId(w.last_id(IdTable::Bids)? + 1);
        let mut bid = Bid {
            id,
            auction: target.as_ref().map(|a| a.id),
            bidder,
            amount,
            placed_at: now,
            source: source.clone(),
            rejection: None,
        };
        let tweet = matches!(source, BidSource::Tweet(_));
        let Some(auction) = target else {
            let (_, next) = current_auction(w)?;
            let when = next.map_or(String::new(), |n| {
                format!(" The next opens at {}.", n.starts_at.rfc3339())
            });
            bid.rejection = Some(rejection(
                "no_auction",
                format!("No auction is taking bids right now.{when}"),
            ));
            let receipt = BidReceipt {
                bid: id,
                accepted: false,
                duplicate: false,
                auction: None,
                price: Wei::ZERO,
                ends_at: None,
                rejection: bid.rejection.clone(),
            };
            let seq = w.append(now, Event::BidRejected { bid })?;
            if tweet {
                self.notify(w, seq, now, Notice::BidRejected { bid: id })?;
            }
            self.rate.stage(bidder, now);
            return Ok(Ok(Reply::Bid(receipt)));
        };
        let recent = self
            .rate
            .count(bidder, now, auction.rules.rate_limit_window_secs);
        let judged = judge(w, &auction, bidder, amount, recent, now)?;
        let mut receipt = BidReceipt {
            bid: id,
            accepted: false,
            duplicate: false,
            auction: Some(auction.id),
            price: auction.price,
            ends_at: Some(auction.ends_at),
            rejection: None,
        };
        match judged {
            Ok(acceptance) => {
                receipt.accepted = true;
                receipt.price = amount;
                receipt.ends_at = Some(acceptance.ends_at);
                let seq = accept(w, bid, acceptance, now)?;
                if tweet {
                    self.notify(w, seq, now, Notice::BidAccepted { bid: id })?;
                }
                self.tell_outbid(w, seq, now, auction.leading_bid, bidder, id)?;
                self.resolve_ceilings(w, auction.id, now)?;
            }
            Err(reason) => {
                receipt.rejection = Some(reason.clone());
                bid.rejection = Some(reason);
                let seq = w.append(now, Event::BidRejected { bid })?;
                if tweet {
                    self.notify(w, seq, now, Notice::BidRejected { bid: id })?;
                }
            }
        }
        self.rate.stage(bidder, now);
        Ok(Ok(Reply::Bid(receipt)))
    }

    /// Tells the previous leader they were outbid (a bid by tweet, or by their ceiling).
    fn tell_outbid(
        &mut self,
        w: &mut Writer<'_>,
        seq: u64,
        now: Timestamp,
        previous: Option<BidId>,
        by_bidder: UserId,
        by: BidId,
    ) -> store::Result<()> {
        if let Some(prev) = previous
            && let Some(prev_bid) = w.bid(prev)?
            && prev_bid.bidder != by_bidder
            && matches!(prev_bid.source, BidSource::Tweet(_) | BidSource::Proxy(_))
        {
            self.notify(w, seq, now, Notice::Outbid { bid: prev, by })?;
        }
        Ok(())
    }

    /// Sets (or raises) `bidder`'s ceiling on the live auction, then lets the ceilings bid.
    /// The ceiling is judged as a bid of that amount would be (auction open, bidder eligible,
    /// at least the next minimum, covered by escrow). Returns the auction as it then stands.
    pub(in crate::engine) fn set_ceiling(
        &mut self,
        w: &mut Writer<'_>,
        bidder: UserId,
        max: Wei,
        tweet: &str,
        now: Timestamp,
    ) -> store::Result<Result<Auction, store::Rejection>> {
        let Some(auction) = self.live_auction(w)? else {
            return Ok(Err(rejection(
                "no_auction",
                "No auction is taking bids right now.",
            )));
        };
        let recent = self
            .rate
            .count(bidder, now, auction.rules.rate_limit_window_secs);
        self.rate.stage(bidder, now);
        if let Err(why) = judge(w, &auction, bidder, max, recent, now)? {
            return Ok(Err(why));
        }
        let ceilings = w.ceilings(auction.id)?;
        let order = ceilings.iter().map(|c| c.order).max().unwrap_or(0) + 1;
        w.append(
            now,
            Event::CeilingSet {
                auction: auction.id,
                ceiling: store::Ceiling {
                    user: bidder,
                    max,
                    order,
                    tweet: tweet.to_string(),
                },
            },
        )?;
        self.resolve_ceilings(w, auction.id, now)?;
        Ok(Ok(w.auction(auction.id)?.unwrap_or(auction)))
    }

    /// Lets the ceilings bid until none can (see [`rules::next_raise`]): each raise is an
    /// ordinary accepted bid (anti-sniping applies), made for the ceiling's bidder. A ceiling the
    /// bidder's escrow no longer covers is withdrawn.
    pub(in crate::engine) fn resolve_ceilings(
        &mut self,
        w: &mut Writer<'_>,
        auction: AuctionId,
        now: Timestamp,
    ) -> store::Result<()> {
        // Each raise is strictly higher than the last: this ends; the bound only guards bugs.
        for _ in 0..1000 {
            let Some(a) = w.auction(auction)? else {
                return Ok(());
            };
            if a.state != AuctionState::Active {
                return Ok(());
            }
            let ceilings = w.ceilings(auction)?;
            let Some((bidder, amount)) = rules::next_raise(&a, &ceilings) else {
                return Ok(());
            };
            let ceiling = ceilings
                .iter()
                .find(|c| c.user == bidder)
                .cloned()
                .ok_or_else(|| store::Error::Corrupt("a raise for no ceiling".into()))?;
            match judge(w, &a, bidder, amount, 0, now)? {
                Ok(acceptance) => {
                    let id = BidId(w.last_id(IdTable::Bids)? + 1);
                    let bid = Bid {
                        id,
                        auction: Some(a.id),
                        bidder,
                        amount,
                        placed_at: now,
                        source: BidSource::Proxy(ceiling.tweet.clone()),
                        rejection: None,
                    };
                    let seq = accept(w, bid, acceptance, now)?;
                    self.tell_outbid(w, seq, now, a.leading_bid, bidder, id)?;
                }
                Err(why) => {
                    tracing::info!(bidder = %bidder, auction = %a.id, reason = %why.code, "a ceiling can no longer bid; withdrawn");
                    w.append(
                        now,
                        Event::CeilingSet {
                            auction: a.id,
                            ceiling: store::Ceiling {
                                max: Wei::ZERO,
                                ..ceiling
                            },
                        },
                    )?;
                }
            }
        }
        Err(store::Error::Corrupt(format!(
            "the ceilings on auction {auction} did not settle"
        )))
    }

    /// The auction taking bids (or paused), if any.
    pub(super) fn live_auction(&mut self, w: &Writer<'_>) -> store::Result<Option<Auction>> {
        if let Some(id) = self.live_hint
            && let Some(a) = w.auction(id)?
            && matches!(a.state, AuctionState::Active | AuctionState::Paused)
        {
            return Ok(Some(a));
        }
        let (live, _) = current_auction(w)?;
        self.live_hint = live.as_ref().map(|a| a.id);
        Ok(live)
    }
}

/// Judges a bid of `amount` by `bidder` on `auction` with the records it depends on
/// (see [`rules::evaluate`]); `recent`: their bids in the rate-limit window before it.
fn judge(
    w: &Writer<'_>,
    auction: &Auction,
    bidder: UserId,
    amount: Wei,
    recent: u32,
    now: Timestamp,
) -> store::Result<Result<rules::Acceptance, store::Rejection>> {
    let user = w.user(bidder)?;
    let wallet = w.wallet(bidder)?;
    let balance = w.balance(bidder)?;
    Ok(rules::evaluate(&BidContext {
        auction,
        bidder,
        user: user.as_ref(),
        wallet: wallet.as_ref(),
        balance: &balance,
        recent_bids: recent,
        now,
        amount,
    }))
}

/// Records an accepted bid; returns its event's sequence number.
fn accept(
    w: &mut Writer<'_>,
    bid: Bid,
    acceptance: rules::Acceptance,
    now: Timestamp,
) -> store::Result<u64> {
    w.append(
        now,
        Event::BidAccepted {
            bid,
            ends_at: acceptance.ends_at,
            extended: acceptance.extended,
        },
    )
}
