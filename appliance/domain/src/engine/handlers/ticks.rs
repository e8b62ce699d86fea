//! Ticks and deadlines: auctions opened, closed and settled on schedule, announcements, reminders.

use super::*;

impl Core {
    /// Makes the transitions the schedule calls for at `now`. Returns how many were made.
    pub fn tick(&mut self, w: &mut Writer<'_>, now: Timestamp) -> store::Result<u32> {
        let mut transitions = 0;
        let auctions = w.auctions()?;
        // Close what has ended first, so the next day's auction can start in the same tick.
        for a in &auctions {
            if a.state == AuctionState::Active && now >= a.ends_at {
                self.close(w, a, None, now)?;
                transitions += 1;
            } else if a.state == AuctionState::Processing
                && !w.milestone(a.id, Milestone::SettlementQueued)?
            {
                self.settle(w, a.id, None, now)?;
                transitions += 1;
            }
        }
        let mut live = w
            .auctions()?
            .iter()
            .any(|a| matches!(a.state, AuctionState::Active | AuctionState::Paused));
        let mut pending: Vec<&Auction> = auctions
            .iter()
            .filter(|a| a.state == AuctionState::Pending && now >= a.starts_at)
            .collect();
        pending.sort_by_key(|a| (a.starts_at, a.id));
        for a in pending {
            if live {
                break;
            }
            if let Some(why) = custody_block(w, &self.policy, a)? {
                if now >= a.ends_at {
                    // Its whole window passed without the token in custody: no sale today.
                    w.append(
                        now,
                        Event::AuctionCancelled {
                            auction: a.id,
                            at: now,
                            audit: Audit {
                                actor: "appliance".into(),
                                origin: "schedule".into(),
                                reason: format!("the item was never in custody: {why}"),
                            },
                        },
                    )?;
                    transitions += 1;
                }
                continue;
            }
            let seq = w.append(
                now,
                Event::AuctionStarted {
                    auction: a.id,
                    at: now,
                },
            )?;
            transitions += 1;
            if now >= a.ends_at {
                // The whole window passed while the appliance was down: it opens and closes unsold.
                self.close(w, a, None, now)?;
                transitions += 1;
            } else {
                self.notify(w, seq, now, Notice::AuctionOpened { auction: a.id })?;
                live = true;
            }
        }
        transitions += self.announce(w, now)?;
        Ok(transitions)
    }

    /// Once-per-auction announcements that are due: the last minutes of bidding, and reminders
    /// before an auction opens.
    pub(super) fn announce(&mut self, w: &mut Writer<'_>, now: Timestamp) -> store::Result<u32> {
        let mut made = 0;
        for a in w.auctions()? {
            match a.state {
                AuctionState::Active => {
                    if let Some(at) = final_notice_at(w, &self.policy, &a)?
                        && now >= at
                        && now < a.ends_at
                    {
                        let seq = w.append(
                            now,
                            Event::MilestoneReached {
                                auction: a.id,
                                milestone: Milestone::FinalMinutes,
                            },
                        )?;
                        self.notify(w, seq, now, Notice::FinalMinutes { auction: a.id })?;
                        made += 1;
                    }
                }
                AuctionState::Pending => {
                    if let Some(at) = reminders_at(w, &self.policy, &a)?
                        && now >= at
                    {
                        let asked = w.reminders(a.id)?;
                        let seq = w.append(
                            now,
                            Event::MilestoneReached {
                                auction: a.id,
                                milestone: Milestone::RemindersSent,
                            },
                        )?;
                        for (user, tweet) in asked {
                            self.notify(
                                w,
                                seq,
                                now,
                                Notice::Reminder {
                                    auction: a.id,
                                    user,
                                    tweet,
                                },
                            )?;
                        }
                        made += 1;
                    }
                }
                _ => {}
            }
        }
        Ok(made)
    }
}

/// Why an auction cannot start yet for want of custody of its token, if it cannot.
pub(super) fn custody_block(
    view: &impl View,
    policy: &Policy,
    a: &Auction,
) -> store::Result<Option<String>> {
    if !policy.require_custody {
        return Ok(None);
    }
    let Some(token) = view.item(a.item)?.and_then(|i| i.token) else {
        return Ok(None);
    };
    Ok(match view.custody(a.id)? {
        Some(c) if c.in_custody => None,
        Some(c) => Some(c.detail),
        None => Some(format!(
            "the custody wallet has not yet been seen to own token {} of {}",
            token.token_id, token.contract
        )),
    })
}

/// When the last minutes of an active auction are to be announced, unless they were.
pub(super) fn final_notice_at(
    view: &impl View,
    policy: &Policy,
    a: &Auction,
) -> store::Result<Option<Timestamp>> {
    if policy.final_notice_secs == 0 || view.milestone(a.id, Milestone::FinalMinutes)? {
        return Ok(None);
    }
    Ok(Some(
        a.ends_at.plus_secs(-i64::from(policy.final_notice_secs)),
    ))
}

/// When those who asked are to be reminded of a pending auction, if anyone asked.
pub(super) fn reminders_at(
    view: &impl View,
    policy: &Policy,
    a: &Auction,
) -> store::Result<Option<Timestamp>> {
    if view.milestone(a.id, Milestone::RemindersSent)? || view.reminders(a.id)?.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        a.starts_at.plus_secs(-i64::from(policy.remind_lead_secs)),
    ))
}

/// The next instant at which the schedule has something to do.
pub fn next_deadline(
    view: &impl View,
    policy: &Policy,
    now: Timestamp,
) -> store::Result<Option<Timestamp>> {
    let mut next: Option<Timestamp> = None;
    let mut consider = |t: Option<Timestamp>| {
        if let Some(t) = t {
            next = Some(next.map_or(t, |n: Timestamp| n.min(t)));
        }
    };
    for a in view.auctions()? {
        match a.state {
            AuctionState::Pending => {
                let blocked = now >= a.starts_at && custody_block(view, policy, &a)?.is_some();
                // A start blocked on custody is retried when custody is recorded (an event that
                // reschedules); until then only the end of its window (to call it off) is due.
                consider(Some(if blocked { a.ends_at } else { a.starts_at }));
                consider(reminders_at(view, policy, &a)?);
            }
            AuctionState::Active => {
                consider(Some(a.ends_at));
                consider(final_notice_at(view, policy, &a)?.filter(|t| *t < a.ends_at));
            }
            AuctionState::Processing if !view.milestone(a.id, Milestone::SettlementQueued)? => {
                consider(Some(now));
            }
            _ => {}
        }
    }
    Ok(next)
}
