//! Operator actions on an auction: pause, resume, extend, cancel, force settle, close, override.

use super::*;

impl Core {
    /// An audited operator action on one auction: the reason is required, `decide` sees the
    /// auction and returns the events to append or why the action is refused.
    pub(super) fn operator_action(
        &mut self,
        w: &mut Writer<'_>,
        id: AuctionId,
        audit: &Audit,
        now: Timestamp,
        decide: impl FnOnce(&Auction) -> Result<Vec<Event>, CommandError>,
    ) -> store::Result<Handled> {
        refuse!(check_audit(audit));
        let a = refuse!(must_auction(w, id)?);
        for event in refuse!(decide(&a)) {
            w.append(now, event)?;
        }
        auction_reply(w, id)
    }

    pub(super) fn pause(
        &mut self,
        w: &mut Writer<'_>,
        id: AuctionId,
        audit: &Audit,
        now: Timestamp,
    ) -> store::Result<Handled> {
        self.operator_action(w, id, audit, now, |a| {
            require_state(a, &[AuctionState::Active])?;
            Ok(vec![Event::AuctionPaused {
                auction: id,
                remaining_micros: a.ends_at.micros_since(now).max(0),
                audit: audit.clone(),
            }])
        })
    }

    pub(super) fn resume(
        &mut self,
        w: &mut Writer<'_>,
        id: AuctionId,
        audit: &Audit,
        now: Timestamp,
    ) -> store::Result<Handled> {
        self.operator_action(w, id, audit, now, |a| {
            require_state(a, &[AuctionState::Paused])?;
            // Bidders get at least the anti-sniping window after a resume.
            let floor = i64::from(a.rules.extension_secs) * 1_000_000;
            let remaining = a.paused_remaining_micros.unwrap_or(0).max(floor);
            Ok(vec![Event::AuctionResumed {
                auction: id,
                ends_at: now.plus_micros(remaining),
                audit: audit.clone(),
            }])
        })
    }

    pub(super) fn extend(
        &mut self,
        w: &mut Writer<'_>,
        id: AuctionId,
        seconds: u32,
        audit: &Audit,
        now: Timestamp,
    ) -> store::Result<Handled> {
        self.operator_action(w, id, audit, now, |a| {
            if !(1..=86_400).contains(&seconds) {
                return Err(CommandError::invalid("extend by 1 to 86400 seconds"));
            }
            require_state(a, &[AuctionState::Active])?;
            Ok(vec![Event::AuctionExtended {
                auction: id,
                ends_at: a.ends_at.max(now).plus_secs(i64::from(seconds)),
                audit: audit.clone(),
            }])
        })
    }

    pub(super) fn cancel(
        &mut self,
        w: &mut Writer<'_>,
        id: AuctionId,
        audit: &Audit,
        now: Timestamp,
    ) -> store::Result<Handled> {
        self.operator_action(w, id, audit, now, |a| {
            if a.state.is_final() {
                return Err(CommandError::state(format!(
                    "auction {id} is already {}",
                    a.state.as_str()
                )));
            }
            Ok(vec![Event::AuctionCancelled {
                auction: id,
                at: now,
                audit: audit.clone(),
            }])
        })
    }

    pub(super) fn force_settle(
        &mut self,
        w: &mut Writer<'_>,
        id: AuctionId,
        audit: &Audit,
        now: Timestamp,
    ) -> store::Result<Handled> {
        refuse!(check_audit(audit));
        let a = refuse!(must_auction(w, id)?);
        match a.state {
            // Ends bidding now; a sale then settles as any other (on chain when connected).
            AuctionState::Active | AuctionState::Paused => {
                self.close(w, &a, Some(audit.clone()), now)?
            }
            // The operator has handled the sale: record it as settled.
            AuctionState::Processing => self.settle(w, id, Some(audit.clone()), now)?,
            other => {
                return Ok(Err(CommandError::state(format!(
                    "auction {id} is {}; only a started auction can be settled (cancel a pending one)",
                    other.as_str()
                ))));
            }
        }
        auction_reply(w, id)
    }

    /// Closes bidding. A sale on chain is handed to the chain deliverer (token transfer and
    /// treasury payment) and completes when they are confirmed; otherwise it settles at once.
    pub(super) fn close(
        &mut self,
        w: &mut Writer<'_>,
        a: &Auction,
        audit: Option<Audit>,
        now: Timestamp,
    ) -> store::Result<()> {
        w.append(
            now,
            Event::AuctionClosed {
                auction: a.id,
                at: now,
                audit: audit.clone(),
            },
        )?;
        if self.policy.onchain && a.leader.is_some() {
            let seq = w.append(
                now,
                Event::MilestoneReached {
                    auction: a.id,
                    milestone: Milestone::SettlementQueued,
                },
            )?;
            let has_token = w.item(a.item)?.is_some_and(|i| i.token.is_some());
            if has_token {
                self.notify(w, seq, now, Notice::TransferNft { auction: a.id })?;
            }
            self.notify(w, seq, now, Notice::PayTreasury { auction: a.id })?;
            Ok(())
        } else {
            self.settle(w, a.id, audit, now)
        }
    }

    /// Records the sale (or that the item went unsold) and announces the result.
    pub(in crate::engine) fn settle(
        &mut self,
        w: &mut Writer<'_>,
        id: AuctionId,
        audit: Option<Audit>,
        now: Timestamp,
    ) -> store::Result<()> {
        let seq = w.append(
            now,
            Event::AuctionSettled {
                auction: id,
                at: now,
                audit,
            },
        )?;
        self.notify(w, seq, now, Notice::AuctionResult { auction: id })?;
        // The runner-up hears the final price (their best bid that counted and stands).
        if let Some(a) = w.auction(id)?
            && let Some(winner) = a.leader
        {
            let mut best: Option<store::Bid> = None;
            for b in w.bids_of_auction(id)? {
                if b.accepted()
                    && b.bidder != winner
                    && w.bid_voided(b.id)?.is_none()
                    && best.as_ref().is_none_or(|x| b.amount > x.amount)
                {
                    best = Some(b);
                }
            }
            if let Some(b) = best {
                self.notify(
                    w,
                    seq,
                    now,
                    Notice::RunnerUp {
                        auction: id,
                        user: b.bidder,
                        bid: b.id,
                    },
                )?;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn override_auction(
        &mut self,
        w: &mut Writer<'_>,
        id: AuctionId,
        ends_at: Option<Timestamp>,
        reserve: Option<Wei>,
        reopen: bool,
        audit: &Audit,
        now: Timestamp,
    ) -> store::Result<Handled> {
        refuse!(check_audit(audit));
        let a = refuse!(must_auction(w, id)?);
        if ends_at.is_none() && reserve.is_none() && !reopen {
            return Ok(Err(CommandError::invalid(
                "an override changes ends_at, reserve or reopens bidding",
            )));
        }
        if a.state.is_final() {
            return Ok(Err(CommandError::state(format!(
                "auction {id} is {} and cannot change",
                a.state.as_str()
            ))));
        }
        if reopen && a.state != AuctionState::Processing {
            return Ok(Err(CommandError::state(format!(
                "auction {id} is {}; only a closed, unsettled auction reopens",
                a.state.as_str()
            ))));
        }
        if reopen && let (Some(live), _) = current_auction(w)? {
            return Ok(Err(CommandError::state(format!(
                "auction {} is taking bids; only one auction can be live at a time",
                live.id
            ))));
        }
        if a.state == AuctionState::Processing && !reopen && ends_at.is_some() {
            return Ok(Err(CommandError::state(
                "bidding has closed; set reopen to move the end",
            )));
        }
        if let Some(end) = ends_at {
            if end <= now {
                return Ok(Err(CommandError::invalid(
                    "the new end must be in the future",
                )));
            }
            if a.state == AuctionState::Paused {
                return Ok(Err(CommandError::state(
                    "the auction is paused; resume it, then move its end",
                )));
            }
            if a.state == AuctionState::Pending && end <= a.starts_at {
                return Ok(Err(CommandError::invalid(
                    "the new end must be after the auction's start",
                )));
            }
        } else if reopen {
            return Ok(Err(CommandError::invalid(
                "reopening needs a new end (ends_at)",
            )));
        }
        if reserve.is_some() && a.bids_accepted > 0 {
            return Ok(Err(CommandError::state(
                "the reserve cannot change once a bid has been accepted",
            )));
        }
        w.append(
            now,
            Event::AuctionOverridden {
                auction: id,
                ends_at,
                reserve,
                reopened: reopen,
                audit: audit.clone(),
            },
        )?;
        auction_reply(w, id)
    }
}
