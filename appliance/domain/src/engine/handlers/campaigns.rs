//! Campaigns: a spec checked whole, its auctions planned, created or changed.

use super::*;

pub(super) struct ValidSpec {
    days: Vec<DayWindows>,
    host_handle: String,
}

pub(super) fn validate_spec(spec: &CampaignSpec) -> Result<ValidSpec, CommandError> {
    let name = spec.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(CommandError::invalid(
            "the campaign needs a name of 1 to 100 characters",
        ));
    }
    if !(1..=366).contains(&spec.days) {
        return Err(CommandError::invalid("a campaign runs for 1 to 366 days"));
    }
    if spec.items.len() < spec.days as usize {
        return Err(CommandError::invalid(format!(
            "{} days need at least {} items; {} given",
            spec.days,
            spec.days,
            spec.items.len()
        )));
    }
    for (i, item) in spec.items.iter().enumerate() {
        if item.name.trim().is_empty() || item.name.len() > 100 {
            return Err(CommandError::invalid(format!(
                "item {} needs a name of 1 to 100 characters",
                i + 1
            )));
        }
        if item.artist.len() > 100 || item.image.len() > 200 {
            return Err(CommandError::invalid(format!(
                "item {}: artist or image name too long",
                i + 1
            )));
        }
        if let Some(token) = &item.token {
            let id = &token.token_id;
            if id.is_empty() || id.len() > 78 || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(CommandError::invalid(format!(
                    "item {}: token id must be a decimal number",
                    i + 1
                )));
            }
        }
    }
    if !valid_handle(&spec.host_handle) {
        return Err(CommandError::invalid(
            "the host handle must be an X handle (1-15 letters, digits or _)",
        ));
    }
    let r = &spec.rules;
    if r.min_increment_bps > 10_000 {
        return Err(CommandError::invalid(
            "min_increment_bps is at most 10000 (100 %)",
        ));
    }
    if r.extension_secs > 3600 {
        return Err(CommandError::invalid("extension_secs is at most 3600"));
    }
    if r.rate_limit_bids > 0 && !(1..=MAX_RATE_WINDOW_SECS).contains(&r.rate_limit_window_secs) {
        return Err(CommandError::invalid(format!(
            "rate_limit_window_secs must be 1 to {MAX_RATE_WINDOW_SECS}"
        )));
    }
    if r.min_account_age_days > 3650 {
        return Err(CommandError::invalid(
            "min_account_age_days is at most 3650",
        ));
    }
    let tz =
        schedule::parse_zone(&spec.timezone).map_err(|e| CommandError::invalid(e.to_string()))?;
    let days = schedule::plan_days(spec.start_date, spec.days, &spec.windows, tz)
        .map_err(|e| CommandError::invalid(e.to_string()))?;
    Ok(ValidSpec {
        days,
        host_handle: spec.host_handle.trim_start_matches('@').to_string(),
    })
}

/// Refuses auctions whose windows overlap another campaign's live or pending auctions.
pub(super) fn check_overlap(
    w: &Writer<'_>,
    campaign: CampaignId,
    days: &[DayWindows],
) -> store::Result<Result<(), CommandError>> {
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return Ok(Ok(()));
    };
    for other in w.auctions()? {
        if other.campaign == campaign || other.state.is_final() {
            continue;
        }
        if other.pre_start < last.post_end && first.pre_start < other.post_end {
            let clash = days
                .iter()
                .find(|d| other.pre_start < d.post_end && d.pre_start < other.post_end);
            if let Some(day) = clash {
                return Ok(Err(CommandError::conflict(format!(
                    "day {} ({}) overlaps day {} of campaign {}; one stream runs one auction at a time",
                    day.day, day.date, other.day, other.campaign
                ))));
            }
        }
    }
    Ok(Ok(()))
}

pub(super) fn new_auction(
    id: AuctionId,
    campaign: CampaignId,
    item: ItemId,
    d: &DayWindows,
    spec: &CampaignSpec,
) -> Auction {
    Auction {
        id,
        campaign,
        day: d.day,
        item,
        pre_start: d.pre_start,
        starts_at: d.starts_at,
        scheduled_end: d.ends_at,
        ends_at: d.ends_at,
        post_end: d.post_end,
        state: AuctionState::Pending,
        rules: spec.rules.clone(),
        leading_bid: None,
        leader: None,
        price: Wei::ZERO,
        bids_accepted: 0,
        bids_rejected: 0,
        extensions: 0,
        paused_remaining_micros: None,
        started_at: None,
        closed_at: None,
        finished_at: None,
    }
}

pub(super) fn campaign_from(
    id: CampaignId,
    spec: &CampaignSpec,
    host_handle: String,
    items: Vec<ItemId>,
    created_at: Timestamp,
) -> Campaign {
    Campaign {
        id,
        name: spec.name.trim().to_string(),
        start_date: spec.start_date,
        days: spec.days,
        timezone: spec.timezone.trim().to_string(),
        windows: spec.windows,
        rules: spec.rules.clone(),
        host_handle,
        items,
        created_at,
    }
}

pub(super) fn item_from(id: ItemId, campaign: CampaignId, spec: &crate::engine::ItemSpec) -> Item {
    Item {
        id,
        campaign,
        name: spec.name.trim().to_string(),
        artist: spec.artist.trim().to_string(),
        image: spec.image.trim().to_string(),
        token: spec.token.clone(),
    }
}

impl Core {
    pub(super) fn create_campaign(
        &mut self,
        w: &mut Writer<'_>,
        spec: &CampaignSpec,
        audit: &Audit,
        now: Timestamp,
    ) -> store::Result<Handled> {
        if audit.actor.trim().is_empty() {
            return Ok(Err(CommandError::invalid(
                "say who is acting (audit.actor)",
            )));
        }
        let valid = refuse!(validate_spec(spec));
        let id = CampaignId(w.last_id(IdTable::Campaigns)? + 1);
        refuse!(check_overlap(w, id, &valid.days)?);
        let first_item = w.last_id(IdTable::Items)? + 1;
        let first_auction = w.last_id(IdTable::Auctions)? + 1;
        let items: Vec<Item> = spec
            .items
            .iter()
            .enumerate()
            .map(|(i, s)| item_from(ItemId(first_item + i as u64), id, s))
            .collect();
        let auctions: Vec<Auction> = valid
            .days
            .iter()
            .enumerate()
            .map(|(i, d)| {
                new_auction(
                    AuctionId(first_auction + i as u64),
                    id,
                    items[i].id,
                    d,
                    spec,
                )
            })
            .collect();
        let ids = auctions.iter().map(|a| a.id).collect();
        let campaign = campaign_from(
            id,
            spec,
            valid.host_handle,
            items.iter().map(|i| i.id).collect(),
            now,
        );
        w.append(
            now,
            Event::CampaignCreated {
                campaign,
                items,
                auctions,
                audit: audit.clone(),
            },
        )?;
        Ok(Ok(Reply::Campaign { id, auctions: ids }))
    }

    pub(super) fn edit_campaign(
        &mut self,
        w: &mut Writer<'_>,
        id: CampaignId,
        spec: &CampaignSpec,
        audit: &Audit,
        now: Timestamp,
    ) -> store::Result<Handled> {
        refuse!(check_audit(audit));
        let Some(old) = w.campaign(id)? else {
            return Ok(Err(CommandError::not_found(format!(
                "there is no campaign {id}"
            ))));
        };
        let valid = refuse!(validate_spec(spec));
        let mut existing: Vec<Auction> = w
            .auctions()?
            .into_iter()
            .filter(|a| a.campaign == id)
            .collect();
        existing.sort_by_key(|a| a.day);
        let started_days = existing
            .iter()
            .filter(|a| a.state != AuctionState::Pending)
            .map(|a| a.day)
            .max()
            .unwrap_or(0);
        let schedule_changed = old.start_date != spec.start_date
            || old.timezone != spec.timezone.trim()
            || old.windows != spec.windows;
        if started_days > 0 && schedule_changed {
            return Ok(Err(CommandError::state(
                "the start date, time zone and windows cannot change once the first auction has started",
            )));
        }
        if spec.days < started_days {
            return Ok(Err(CommandError::state(format!(
                "day {started_days} has already started; the campaign cannot be shorter than that"
            ))));
        }
        refuse!(check_overlap(w, id, &valid.days)?);

        // Items by position: started days keep theirs unchanged.
        let mut next_item = w.last_id(IdTable::Items)? + 1;
        let mut item_ids = Vec::with_capacity(spec.items.len());
        let mut changed_items = Vec::new();
        for (pos, item_spec) in spec.items.iter().enumerate() {
            let day = pos as u32 + 1;
            match old.items.get(pos).copied() {
                Some(item_id) => {
                    let current = w.item(item_id)?.ok_or_else(|| {
                        store::Error::Corrupt(format!("campaign {id} names missing item {item_id}"))
                    })?;
                    let wanted = item_from(item_id, id, item_spec);
                    if wanted != current {
                        if day <= started_days {
                            return Ok(Err(CommandError::state(format!(
                                "the item of day {day} is already being auctioned and cannot change"
                            ))));
                        }
                        changed_items.push(wanted);
                    }
                    item_ids.push(item_id);
                }
                None => {
                    let item = item_from(ItemId(next_item), id, item_spec);
                    next_item += 1;
                    item_ids.push(item.id);
                    changed_items.push(item);
                }
            }
        }

        let mut next_auction = w.last_id(IdTable::Auctions)? + 1;
        let mut auctions = Vec::new();
        for d in &valid.days {
            let item = item_ids[(d.day - 1) as usize];
            match existing.iter().find(|a| a.day == d.day) {
                Some(a) if a.state != AuctionState::Pending => {}
                Some(a) => {
                    let updated = new_auction(a.id, id, item, d, spec);
                    if &updated != a {
                        auctions.push(updated);
                    }
                }
                None => {
                    auctions.push(new_auction(AuctionId(next_auction), id, item, d, spec));
                    next_auction += 1;
                }
            }
        }
        let removed: Vec<AuctionId> = existing
            .iter()
            .filter(|a| a.day > spec.days)
            .map(|a| a.id)
            .collect();
        let campaign = campaign_from(id, spec, valid.host_handle, item_ids, old.created_at);
        w.append(
            now,
            Event::CampaignEdited {
                campaign,
                items: changed_items,
                auctions,
                removed,
                audit: audit.clone(),
            },
        )?;
        let mut ids: Vec<(u32, AuctionId)> = w
            .auctions()?
            .into_iter()
            .filter(|a| a.campaign == id)
            .map(|a| (a.day, a.id))
            .collect();
        ids.sort();
        Ok(Ok(Reply::Campaign {
            id,
            auctions: ids.into_iter().map(|(_, a)| a).collect(),
        }))
    }
}
