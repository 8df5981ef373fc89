//! Showing a status: which card, its words, its offers; and the key field's feedback.

use licentric_core::LicenseKey;
use licentric_proto::ipc::Status;
use time::OffsetDateTime;

use super::widgets::{day, named, offer, put, tone, when};
use super::{Card, Ui};
use crate::view;
use gtk::prelude::*;

impl Ui {
    pub(super) fn times(&self) -> view::Times<'static> {
        view::Times {
            now: OffsetDateTime::now_utc(),
            when: &when,
            day: &day,
        }
    }

    pub(super) fn render(&self, s: &Status) {
        // A failure said on the status card is old news once a later contact succeeded.
        let stale = matches!(&*self.failed_since.borrow(), Some(since) if s.last_refresh_at.is_some() && *since != s.last_refresh_at);
        if stale {
            self.failed_since.replace(None);
            self.say(&self.status.message, "", false);
        }
        *self.current.borrow_mut() = Some(s.clone());
        let shown = self.stack.visible_child_name();
        match view::card(s, &self.product.name, &self.times()) {
            Card::Activation { notice } => {
                if shown.as_deref() != Some("activation") {
                    self.clear_messages();
                }
                let a = &self.activation;
                a.notice.set_visible(notice.is_some());
                a.notice_text.set_text(notice.as_deref().unwrap_or(""));
                self.stack.set_visible_child_name("activation");
                // First thing a new user does: paste the key.
                if shown.as_deref() == Some("loading") {
                    a.key.grab_focus();
                }
            }
            Card::Status(c) => {
                if shown.as_deref() != Some("status") {
                    self.clear_messages();
                }
                self.show_status(&c);
                self.stack.set_visible_child_name("status");
            }
        }
    }

    fn show_status(&self, c: &view::StatusCard) {
        // Activated, the key field has nothing to hold.
        self.activation.key.set_text("");
        let st = &self.status;
        tone(&st.badge, &[c.tone.class()]);
        // Written only when it changes: a screen reader would read the same words again.
        if st.badge.text() != c.badge {
            st.badge.set_text(&c.badge);
        }
        if st.detail.text() != c.detail {
            st.detail.set_text(&c.detail);
        }
        st.key.set_text(&c.key);
        st.entitlements.set_text(&c.entitlements);
        st.expires.set_text(&c.expires);
        st.machines_label.set_text(c.machines_label);
        st.machines.set_text(&c.machines);
        st.store.set_text(c.store.as_deref().unwrap_or(""));
        st.store.set_visible(c.store.is_some());
        st.store_label.set_visible(c.store.is_some());
        st.runs_in.set_text(c.runs_in.as_deref().unwrap_or(""));
        st.runs_in.set_visible(c.runs_in.is_some());
        st.runs_in_label.set_visible(c.runs_in.is_some());
        let t = c.timeline.as_ref();
        st.marks
            .set((t.map_or(0.0, |t| t.passed), t.and_then(|t| t.refresh_at)));
        st.timeline.queue_draw();
        st.timeline_start.set_text(t.map_or("", |t| &t.start));
        st.timeline_end.set_text(t.map_or("", |t| &t.end));
        st.timeline_text.set_text(t.map_or("", |t| &t.text));
        st.legend_refresh
            .set_visible(t.is_some_and(|t| t.refresh_at.is_some()));
        if let Some(t) = t {
            named(&st.timeline, &format!("Offline licence: {}", t.text));
        }
        st.timeline_box.set_visible(t.is_some());
        offer(&st.refresh, c.refreshes);
        offer(&st.renew_request, c.renews_by_file);
        offer(&st.renew_import, c.renews_by_file);
        offer(&st.borrow, c.borrows);
        offer(&st.give_back, c.returns);
    }

    /// Every message about a previous state or attempt: gone when its card is left.
    pub(super) fn clear_messages(&self) {
        let a = &self.activation;
        for l in [
            &self.status.message,
            &a.error,
            &a.help,
            &a.progress,
            &a.again_progress,
            &a.offline_message,
        ] {
            put(l, "");
            tone(l, &[]);
        }
        tone(&a.error, &["error"]);
        self.failed_since.replace(None);
        if a.key.text().is_empty() {
            self.check_key(false);
        }
    }

    /// The key field's feedback for what it holds (`finished`: typing is over); the key,
    /// when it is one, in its canonical form.
    pub(super) fn check_key(&self, finished: bool) -> Option<LicenseKey> {
        let key = &self.activation.key;
        let text = key.text();
        let f = view::key_feedback(&text, &self.product.prefix, finished);
        tone(&self.activation.feedback, &[f.tone.class()]);
        self.activation.feedback.set_text(&f.text);
        let formatted = f.formatted?;
        if finished && text.as_str() != formatted {
            key.set_text(&formatted);
        }
        LicenseKey::parse(&formatted, &self.product.prefix).ok()
    }
}
