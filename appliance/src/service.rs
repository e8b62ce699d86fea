//! The service manager's side of the appliance (systemd's `sd_notify`): `READY=1` once it
//! serves, `WATCHDOG=1` every half watchdog period while the engine still takes durable writes,
//! `STOPPING=1` when it winds up. Outside systemd (no `NOTIFY_SOCKET`) each is a no-op.

use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;

use crate::health::Parts;

/// Tells the service manager the appliance serves (`Type=notify` units start their dependants
/// and count the start as done only now).
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Tells the service manager the appliance is stopping.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot tell the service manager");
    }
}

/// The watchdog period the service manager asked for (`WatchdogSec=`), if any.
pub fn watchdog_period() -> Option<Duration> {
    sd_notify::watchdog_enabled().filter(|d| !d.is_zero())
}

/// Pets the service manager's watchdog every half `period` while a write through the engine
/// succeeds. A stalled engine (or a stopped process) stops the petting, and the service
/// manager kills and restarts the appliance when the period runs out.
pub async fn watchdog(
    parts: Arc<Parts>,
    period: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let every = period / 2;
    let mut failing = false;
    loop {
        match parts.engine_alive().await {
            Ok(()) => {
                if failing {
                    tracing::info!("the engine takes writes again; petting the watchdog");
                    failing = false;
                }
                send(&[NotifyState::Watchdog]);
            }
            Err(why) => {
                if !failing {
                    tracing::error!(
                        why = %why,
                        "the engine does not take writes; the watchdog is not petted and the \
                         service manager will restart the appliance"
                    );
                    failing = true;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
    }
}
