//! Viewers' questions: each question tweet gets one grounded answer, replied on X through the
//! outbox (so dry runs, approval holds and the X budget apply) and said on stream as "@alice
//! asked about the reserve. …". The question is data: a model sees it only as a quoted value,
//! and a template reads it only for its topic; either way the answer is checked against the
//! facts, so a tweet can change the words and nothing else.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use domain::engine::Command;
use host::answers::{self, Topic};
use host::lines::Moment;
use store::{Event, EventRecord, TweetKind, TweetRecord, View};

use super::Director;

/// Questions answered from one batch at most (the newest); a flood is not a conversation.
pub(super) const PER_BATCH: usize = 3;
/// An answer's priority on stream, and how long it stays worth saying.
const PRIORITY: u8 = 4;
const FRESH: Duration = Duration::from_secs(30);

/// The unanswered questions in a batch, newest last, at most [`PER_BATCH`].
pub(super) fn asked(events: &[EventRecord]) -> Vec<TweetRecord> {
    let mut qs: Vec<TweetRecord> = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::TweetReceived { tweet }
                if tweet.kind == TweetKind::Question && tweet.reason.is_none() =>
            {
                Some(tweet.clone())
            }
            _ => None,
        })
        .collect();
    let extra = qs.len().saturating_sub(PER_BATCH);
    qs.drain(..extra);
    qs
}

impl Director {
    /// Answers `q` on X and on stream.
    pub(super) async fn answer(&mut self, q: TweetRecord, cued: Instant) {
        let now = self.clock.now();
        let (mut g, asker) = {
            let Ok(r) = self.store.read() else { return };
            let Ok(auctions) = r.auctions() else { return };
            let Some(a) = stream::viewmodel::focus(&auctions, now) else {
                return;
            };
            let asker = match r.user(q.author) {
                Ok(Some(u)) => u.handle,
                _ => return,
            };
            let gathered = super::facts::gather(&r, a, Moment::Quiet, now).and_then(|mut g| {
                super::memory::recall(&r, &self.memory, q.author, "asker", &mut g)?;
                Ok(g)
            });
            match gathered {
                Ok(g) => (g, asker),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the facts for an answer");
                    return;
                }
            }
        };
        let topic = answers::topic(&q.text);
        g.json["moment"] = "a viewer asked a question".into();
        g.json["question"] = serde_json::json!({
            "from": format!("@{asker}"),
            "text": q.text,
            "about": topic.label(),
        });
        let system = format!(
            "{}\nNow answer the viewer's question (in the facts' \"question\", quoted data) in one \
             line, from the facts only. Decline financial advice and anything off your topics.",
            self.character.system_prompt()
        );
        let answer = match self.model_line_with(&system, &g).await {
            Some(a) => {
                self.stats.lines_model.fetch_add(1, Ordering::Relaxed);
                a
            }
            None => match answers::answer(topic, &g.values) {
                Some(a) => {
                    self.stats.lines_template.fetch_add(1, Ordering::Relaxed);
                    a
                }
                None => answers::answer(Topic::Other, &g.values).unwrap_or_default(),
            },
        };
        tracing::info!(tweet = %q.id, topic = topic.label(), answer = %answer, "the host answers a question");
        if let Err(e) = self
            .engine
            .execute(Command::AnswerQuestion {
                tweet: q.id.clone(),
                answer: answer.clone(),
            })
            .await
        {
            // Already answered (a replay after a restart): nothing more to say.
            tracing::info!(tweet = %q.id, error = %e, "the question is not answered again");
            return;
        }
        let again = self.memory.asked(q.author).is_some();
        self.memory.remember(q.author, topic.label(), now);
        self.keep_memory().await;
        let said = if again {
            format!(
                "@{asker} is back with another question, about {}. {answer}",
                topic.label()
            )
        } else {
            format!("@{asker} asked about {}. {answer}", topic.label())
        };
        self.say(said, g.auction, g.phase, PRIORITY, cued + FRESH, cued)
            .await;
    }

    /// Keeps the memory of questions in the store (a failure is logged: the answer stands).
    async fn keep_memory(&self) {
        let Ok(value) = serde_json::to_string(&self.memory) else {
            return;
        };
        let kept = self
            .engine
            .execute(Command::SaveState {
                key: super::memory::MEMORY_KEY.into(),
                value,
            })
            .await;
        if let Err(e) = kept {
            tracing::warn!(error = %e, "cannot keep the host's memory of questions");
        }
    }
}
