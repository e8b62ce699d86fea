//! What an operator may ask of the engine from the admin page: a closed list of audited actions.
//! Nothing here can speak for X, the chain or the engine itself (deposits, wallet links, tweets,
//! custody readings, outbox progress, schedule ticks): those commands have no operator action,
//! so the page cannot send them whatever it is made to post.

use serde::{Deserialize, Serialize};
use store::{AuctionId, Audit, CampaignId, OutboxId, Timestamp, UserId, Wei};

use super::command::{CampaignSpec, Command};

/// The state key under which the admin page's accounts are kept (one JSON value).
pub const ACCOUNTS_KEY: &str = "web.accounts";

/// An operator's action. Each becomes one engine [`Command`] carrying the operator's [`Audit`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "act")]
pub enum OperatorAction {
    /// Stops bidding, keeping the time left.
    Pause {
        /// Which.
        auction: AuctionId,
    },
    /// Restarts bidding with the time that was left.
    Resume {
        /// Which.
        auction: AuctionId,
    },
    /// Moves the end of a running auction later.
    Extend {
        /// Which.
        auction: AuctionId,
        /// By how many seconds.
        seconds: u32,
    },
    /// Calls an auction off.
    Cancel {
        /// Which.
        auction: AuctionId,
    },
    /// Ends an auction now and settles it with the current leader.
    ForceSettle {
        /// Which.
        auction: AuctionId,
    },
    /// A manual correction: a new end, a new reserve, or reopening a closed auction.
    Override {
        /// Which.
        auction: AuctionId,
        /// New end of bidding.
        #[serde(default)]
        ends_at: Option<Timestamp>,
        /// New reserve.
        #[serde(default)]
        reserve: Option<Wei>,
        /// Reopen bidding after it closed.
        #[serde(default)]
        reopen: bool,
    },
    /// Creates a campaign.
    CreateCampaign {
        /// The campaign.
        spec: Box<CampaignSpec>,
    },
    /// Changes a campaign.
    EditCampaign {
        /// Which.
        campaign: CampaignId,
        /// The campaign as it should be.
        spec: Box<CampaignSpec>,
    },
    /// Approves (or retries) or rejects a held or failed outbox row.
    ReviewOutbox {
        /// The row.
        id: OutboxId,
        /// Approve or retry (`true`), or reject (`false`).
        approve: bool,
    },
    /// Refunds everything a bidder has available.
    Refund {
        /// The bidder.
        user: UserId,
    },
    /// Replaces the admin page's accounts, only if they are still as they were read
    /// (`expected`: the stored JSON, `None` when there were none), so two admins, or an admin
    /// and the command line, never overwrite each other's change.
    SaveAccounts {
        /// The stored value the change was made from.
        expected: Option<String>,
        /// The new value (JSON).
        accounts: String,
    },
    /// Records an administrative action (a login, a setting, an asset) in the audit trail.
    Record {
        /// What was done.
        action: String,
        /// Details (never a secret).
        detail: String,
    },
}

impl OperatorAction {
    /// The engine command, carrying who acted, from where and why.
    pub fn into_command(self, audit: Audit) -> Command {
        match self {
            OperatorAction::Pause { auction } => Command::Pause { auction, audit },
            OperatorAction::Resume { auction } => Command::Resume { auction, audit },
            OperatorAction::Extend { auction, seconds } => Command::Extend {
                auction,
                seconds,
                audit,
            },
            OperatorAction::Cancel { auction } => Command::Cancel { auction, audit },
            OperatorAction::ForceSettle { auction } => Command::ForceSettle { auction, audit },
            OperatorAction::Override {
                auction,
                ends_at,
                reserve,
                reopen,
            } => Command::Override {
                auction,
                ends_at,
                reserve,
                reopen,
                audit,
            },
            OperatorAction::CreateCampaign { spec } => Command::CreateCampaign { spec, audit },
            OperatorAction::EditCampaign { campaign, spec } => Command::EditCampaign {
                campaign,
                spec,
                audit,
            },
            OperatorAction::ReviewOutbox { id, approve } => {
                Command::ReviewOutbox { id, approve, audit }
            }
            OperatorAction::Refund { user } => Command::Withdraw { user, audit },
            OperatorAction::SaveAccounts { expected, accounts } => Command::SwapState {
                key: ACCOUNTS_KEY.to_string(),
                expected,
                value: accounts,
            },
            OperatorAction::Record { action, detail } => Command::RecordAdminAction {
                action,
                detail,
                audit,
            },
        }
    }

    /// Stable name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            OperatorAction::Pause { .. } => "pause",
            OperatorAction::Resume { .. } => "resume",
            OperatorAction::Extend { .. } => "extend",
            OperatorAction::Cancel { .. } => "cancel",
            OperatorAction::ForceSettle { .. } => "force_settle",
            OperatorAction::Override { .. } => "override",
            OperatorAction::CreateCampaign { .. } => "create_campaign",
            OperatorAction::EditCampaign { .. } => "edit_campaign",
            OperatorAction::ReviewOutbox { .. } => "review_outbox",
            OperatorAction::Refund { .. } => "refund",
            OperatorAction::SaveAccounts { .. } => "save_accounts",
            OperatorAction::Record { .. } => "record",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_of_the_chain_and_x_are_not_operator_actions() {
        for text in [
            r#"{"act":"record_deposit","from":"0x0000000000000000000000000000000000000001","amount":"1","reference":"t:0"}"#,
            r#"{"act":"link_wallet","user":"1","address":"0x0000000000000000000000000000000000000001","verified":true}"#,
            r#"{"act":"ingest_tweet","tweet":{}}"#,
            r#"{"act":"save_state","key":"x.cursor","value":"1"}"#,
            r#"{"act":"update_outbox","id":1,"status":"sent"}"#,
            r#"{"command":"pause","auction":1}"#,
        ] {
            assert!(
                serde_json::from_str::<OperatorAction>(text).is_err(),
                "{text} was read as an operator action"
            );
        }
        let pause: OperatorAction = serde_json::from_str(r#"{"act":"pause","auction":3}"#).unwrap();
        assert_eq!(
            pause,
            OperatorAction::Pause {
                auction: AuctionId(3)
            }
        );
    }

    #[test]
    fn the_audit_reaches_the_command() {
        let audit = Audit {
            actor: "ana".into(),
            origin: "admin page 10.0.0.2".into(),
            reason: "glitch".into(),
        };
        let mut command = OperatorAction::Pause {
            auction: AuctionId(1),
        }
        .into_command(audit.clone());
        assert_eq!(command.audit_mut(), Some(&mut audit.clone()));
        let swap = OperatorAction::SaveAccounts {
            expected: None,
            accounts: "{}".into(),
        }
        .into_command(audit);
        assert!(matches!(swap, Command::SwapState { ref key, .. } if key == ACCOUNTS_KEY));
    }
}
