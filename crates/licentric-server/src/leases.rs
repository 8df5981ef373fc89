//! Floating licences (`docs/floating.md`): a machine checks out one of the licence's seats
//! as a lease, renews it while its software runs, and releases it when done; a lease that is
//! not renewed runs out and frees its seat. Every decision happens inside one write
//! transaction, so seats are counted exactly however many machines ask at once.

use licentric_core::{LeasePayload, ct_eq_str};
use licentric_proto::LicenseStatus;
use licentric_proto::api::{ApiErrorCode, ErrorBody, LeaseResponse};
use time::OffsetDateTime;

use crate::audit::{Actor, Entry};
use crate::clock::rfc3339;
use crate::crypto::{new_id, random_chars};
use crate::domain::SeatModel;
use crate::licensing::{Issuer, Outcome};
use crate::store::leases::{self, LeaseRow};
use crate::store::{LicenseRow, StoreError, Tx, licenses};
use crate::webhooks;
use sha2::{Digest, Sha256};

/// At most this many run-out leases are recorded per pass (the rest at the next).
const EXPIRE_BATCH: u32 = 500;

/// A checkout's or renewal's inputs, already checked for shape.
#[derive(Debug, Clone)]
pub struct LeaseInput {
    /// The machine's fingerprint.
    pub fingerprint: String,
    /// The request's nonce.
    pub nonce: String,
    /// What the seat is for (checkout only).
    pub label: Option<String>,
    /// The lease's secret (renewal only).
    pub secret: String,
    /// To borrow the seat until then (UTC seconds), not to hold it for a lease's time.
    pub borrow_until: Option<i64>,
    /// An entitlement the seat must carry.
    pub entitlement: Option<String>,
}

/// The entitlements whose seats `license` counts apart that a lease carries: those it carries
/// (`carried`) while the leases held before it (`seniors`) leave a seat of each, and `asked` if
/// the licence counts it and one of its seats is free among `holding` (the other open leases);
/// else the refusal, `no_seat_available` for that entitlement.
fn counted_entitlements(
    license: &LicenseRow,
    carried: &[String],
    asked: Option<&str>,
    holding: &[LeaseRow],
    seniors: &[LeaseRow],
) -> Result<Result<Vec<String>, Outcome>, StoreError> {
    // What it carries stays within today's counts: after the vendor lowers a count, the seats
    // held longest keep it (borrowed ones first), as they keep their seats
    // ([`leases::held_before`]); a lease renewed while those fill it is renewed without it.
    let mut carries: Vec<String> = carried
        .iter()
        .filter(|code| {
            license
                .entitlement_seats
                .get(*code)
                .is_some_and(|&seats| in_use(seniors, Some(code)) < seats)
        })
        .cloned()
        .collect();
    // A count for an entitlement the licence lacks (kept from before such counts were
    // refused) counts nothing: the seat could not carry it anyway.
    let Some((code, &seats)) = asked
        .filter(|code| license.entitlements.iter().any(|e| e == code))
        .and_then(|code| license.entitlement_seats.get_key_value(code))
    else {
        return Ok(Ok(carries));
    };
    if carries.contains(code) {
        return Ok(Ok(carries));
    }
    if in_use(holding, Some(code)) >= seats {
        return no_seat(seats, holding, Some(code)).map(Err);
    }
    carries.push(code.clone());
    Ok(Ok(carries))
}

/// The leases of `holding` that carry entitlement `code` (all of them for `None`), in its
/// order (soonest to end first).
fn carrying<'a>(
    holding: &'a [LeaseRow],
    code: Option<&'a str>,
) -> impl Iterator<Item = &'a LeaseRow> + 'a {
    holding
        .iter()
        .filter(move |l| code.is_none_or(|c| l.entitlements.iter().any(|e| e == c)))
}

/// How many of `holding` carry `code` (all of them for `None`).
fn in_use(holding: &[LeaseRow], code: Option<&str>) -> u32 {
    u32::try_from(carrying(holding, code).count()).unwrap_or(u32::MAX)
}

/// `no_seat_available`: every one of the licence's `seats` (with entitlement `code`, where
/// the licence counts it apart) is held by `holding`; with the seats in use and the soonest
/// one of them runs out.
fn no_seat(seats: u32, holding: &[LeaseRow], code: Option<&str>) -> Result<Outcome, StoreError> {
    let (all, verb) = all_seats(seats);
    let with = code.map(|c| format!(" with {c}")).unwrap_or_default();
    let mut body = ErrorBody::new(
        ApiErrorCode::NoSeatAvailable,
        format!(
            "{all} of this licence{with} {verb}; one is free when its holder releases it or its lease runs out"
        ),
    );
    body.error.seats_in_use = Some(in_use(holding, code));
    body.error.max_machines = Some(seats);
    body.error.retry_at = carrying(holding, code)
        .next()
        .and_then(|l| rfc3339(l.expires_at));
    Outcome::json(ApiErrorCode::NoSeatAvailable.http_status(), &body)
}

/// Until when a lease of `license` asked for at `now` holds its seat, and whether it is
/// borrowed; the refusal of a borrow the product does not allow. No lease outlasts its
/// licence: one asked past the licence's end ends with it (a borrow included — it is held
/// offline, where nothing else would end it).
fn lease_end(
    license: &LicenseRow,
    borrow_until: Option<i64>,
    now: i64,
) -> Result<Result<(i64, bool), Outcome>, StoreError> {
    let policy = &license.policy;
    let Some(until) = borrow_until else {
        return Ok(Ok((
            within_licence(license, now + i64::from(policy.lease_ttl)),
            false,
        )));
    };
    if policy.max_borrow == 0 {
        return Outcome::error(
            ApiErrorCode::BorrowNotAllowed,
            "this product's seats cannot be borrowed",
        )
        .map(Err);
    }
    if policy.seat_per_process {
        // A borrowed seat is the machine's, shared by its apps: not for a product that counts
        // each app process.
        return Outcome::error(
            ApiErrorCode::BorrowNotAllowed,
            "this product gives each app process a seat of its own; its seats cannot be borrowed",
        )
        .map(Err);
    }
    if until <= now || until > now + i64::from(policy.max_borrow) {
        let mut body = ErrorBody::new(
            ApiErrorCode::BorrowTooLong,
            format!(
                "a seat can be borrowed for at most {} from now, and until a time after now",
                crate::clock::spoken_duration(i64::from(policy.max_borrow))
            ),
        );
        body.error.max_borrow_seconds = Some(policy.max_borrow);
        return Outcome::json(ApiErrorCode::BorrowTooLong.http_status(), &body).map(Err);
    }
    Ok(Ok((within_licence(license, until), true)))
}

/// `end`, or the licence's own end if that comes first: no lease is signed past it.
fn within_licence(license: &LicenseRow, end: i64) -> i64 {
    license.expires_at.map_or(end, |licence| end.min(licence))
}

/// `POST /v1/leases`: a seat for the asking holder — a new lease if a seat is free, with the
/// secret that alone renews and releases it; else `no_seat_available` with the seats held
/// and the soonest a lease runs out.
///
/// # Errors
/// On storage failure.
pub fn checkout(
    tx: &Tx<'_>,
    issuer: &Issuer,
    key_hash: &[u8; 32],
    input: &LeaseInput,
    now: i64,
) -> Result<Outcome, StoreError> {
    let license = match floating(tx, key_hash, now)? {
        Ok(license) => license,
        Err(refusal) => return Ok(refusal),
    };
    let (expires_at, borrowed) = match lease_end(&license, input.borrow_until, now)? {
        Ok(end) => end,
        Err(refusal) => return Ok(refusal),
    };
    let expired = expire(tx, Some(&license.id), now)?;
    let holding = leases::holding(tx, &license.id, now)?;
    let seats_in_use = in_use(&holding, None);
    if seats_in_use >= license.max_machines {
        return Ok(no_seat(license.max_machines, &holding, None)?.with_events(expired));
    }
    let entitlements = match counted_entitlements(
        &license,
        &[],
        input.entitlement.as_deref(),
        &holding,
        &holding,
    )? {
        Ok(carries) => carries,
        Err(refusal) => return Ok(refusal.with_events(expired)),
    };
    let secret = random_chars(32).map_err(crate::crypto::CryptoError::from)?;
    let lease = LeaseRow {
        id: new_id("lease").map_err(crate::crypto::CryptoError::from)?,
        license_id: license.id.clone(),
        environment: license.environment,
        fingerprint: input.fingerprint.clone(),
        label: input.label.clone(),
        created_at: now,
        renewed_at: now,
        expires_at,
        ended: None,
        secret_hash: Some(Sha256::digest(secret.as_bytes()).into()),
        borrowed,
        entitlements,
        kept_to_end: borrowed && license.policy.borrow_kept_to_end,
    };
    leases::insert(tx, &lease)?;
    let action = if borrowed {
        "lease.borrowed"
    } else {
        "lease.checked_out"
    };
    let recorded = record(tx, &license, &lease, action, now)?;
    let seats = seats_in_use + 1;
    Ok(answer(
        tx,
        issuer,
        &license,
        &lease,
        &input.nonce,
        seats,
        Some(secret),
        now,
    )?
    .with_events(expired || recorded))
}

/// The open lease `lease_id` of `license`, if `secret` is its own (compared in constant
/// time).
fn owned(
    tx: &Tx<'_>,
    license: &LicenseRow,
    lease_id: &str,
    secret: &str,
    now: i64,
) -> Result<Option<LeaseRow>, StoreError> {
    let presented: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    Ok(leases::get(tx, &license.id, lease_id)?.filter(|l| {
        l.holds_at(now)
            && l.secret_hash
                .is_some_and(|h| bool::from(subtle::ConstantTimeEq::ct_eq(&h[..], &presented[..])))
    }))
}

/// `POST /v1/leases/{id}/renew`: the lease holds its seat for another TTL (or, borrowed,
/// until the borrow's end), if it is open, this machine's, and the licence is active. A
/// borrowed lease renewed without a borrow is returned early: an ordinary lease again.
///
/// # Errors
/// On storage failure.
pub fn renew(
    tx: &Tx<'_>,
    issuer: &Issuer,
    key_hash: &[u8; 32],
    lease_id: &str,
    input: &LeaseInput,
    now: i64,
) -> Result<Outcome, StoreError> {
    let license = match floating(tx, key_hash, now)? {
        Ok(license) => license,
        Err(refusal) => return Ok(refusal),
    };
    let expired = expire(tx, Some(&license.id), now)?;
    let lease = owned(tx, &license, lease_id, &input.secret, now)?
        .filter(|l| ct_eq_str(&l.fingerprint, &input.fingerprint));
    let Some(lease) = lease else {
        return Ok(Outcome::error(
            ApiErrorCode::LeaseNotFound,
            "this lease is not open: it was released or ran out; check out a seat again",
        )?
        .with_events(expired));
    };
    let (expires_at, borrowed) = match lease_end(&license, input.borrow_until, now)? {
        Ok(end) => end,
        Err(refusal) => return Ok(refusal.with_events(expired)),
    };
    // Turned back into an ordinary lease, or asked to end earlier than it would be signed
    // for: a return, early. (An end brought forward by the licence's own is not the holder's
    // doing, and asking for it again is no return.)
    let signable = within_licence(&license, lease.expires_at);
    if lease.borrowed
        && (!borrowed || input.borrow_until.is_some_and(|asked| asked < signable))
        && let Some(refusal) = kept_to_end(&lease, now)?
    {
        return Ok(refusal.with_events(expired));
    }
    let holding = leases::holding(tx, &license.id, now)?;
    let others: Vec<LeaseRow> = holding.into_iter().filter(|l| l.id != lease.id).collect();
    // The licence's seats lowered below the leases held (the vendor's change at a renewal):
    // the seats held longest keep theirs — borrowed ones first, which are held offline — and
    // the others are not renewed (nor borrowed, nor borrowed for longer), so they run out.
    // A borrow kept as it is stands (it was signed to its end), and one returned early goes
    // through: an ordinary lease for one lease time, refused at its next renewal.
    let keeps_as_it_is = lease.borrowed && borrowed && expires_at <= lease.expires_at;
    let returned = lease.borrowed && !borrowed;
    let before = leases::held_before(tx, &lease.id, now)?;
    let seniors: Vec<LeaseRow> = others
        .iter()
        .filter(|o| before.contains(&o.id))
        .cloned()
        .collect();
    if !keeps_as_it_is
        && !returned
        && u32::try_from(seniors.len()).unwrap_or(u32::MAX) >= license.max_machines
    {
        let held: Vec<LeaseRow> = others.iter().chain([&lease]).cloned().collect();
        return Ok(no_seat(license.max_machines, &held, None)?.with_events(expired));
    }
    let entitlements = match counted_entitlements(
        &license,
        &lease.entitlements,
        input.entitlement.as_deref(),
        &others,
        &seniors,
    )? {
        Ok(carries) => carries,
        Err(refusal) => return Ok(refusal.with_events(expired)),
    };
    let was_borrowed = lease.borrowed;
    // A borrow keeps the policy it was made under to its end, extended or confirmed.
    let kept_to_end = match (was_borrowed, borrowed) {
        (_, false) => false,
        (false, true) => license.policy.borrow_kept_to_end,
        (true, true) => lease.kept_to_end,
    };
    // A borrow kept to its end stays counted to the end it was already signed for, even when
    // the licence's own end brings the lease signed now forward: its holder may keep the
    // earlier lease, and the licence may be extended again.
    let counted_until = if was_borrowed && borrowed && kept_to_end {
        expires_at.max(lease.expires_at)
    } else {
        expires_at
    };
    let renewed = LeaseRow {
        renewed_at: now,
        expires_at: counted_until,
        borrowed,
        entitlements,
        kept_to_end,
        ..lease
    };
    leases::renew(tx, &renewed)?;
    let signed = LeaseRow {
        expires_at,
        ..renewed.clone()
    };
    let action = match (was_borrowed, borrowed) {
        (_, true) => Some("lease.borrowed"),
        (true, false) => Some("lease.returned"),
        (false, false) => None,
    };
    let recorded = match action {
        Some(action) => record(tx, &license, &renewed, action, now)?,
        None => false,
    };
    let seats = u32::try_from(others.len() + 1).unwrap_or(u32::MAX);
    Ok(answer(
        tx,
        issuer,
        &license,
        &signed,
        &input.nonce,
        seats,
        None,
        now,
    )?
    .with_events(expired || recorded))
}

/// `POST /v1/leases/{id}/release`: the seat is free at once — for its holder, who presents
/// the lease's secret. Releasing a lease that already ended is not an error (a retried
/// release); one the licence never had is.
///
/// # Errors
/// On storage failure.
pub fn release(
    tx: &Tx<'_>,
    key_hash: &[u8; 32],
    lease_id: &str,
    secret: &str,
    now: i64,
) -> Result<Outcome, StoreError> {
    let Some(license) = licenses::by_key_hash(tx, key_hash)? else {
        return Ok(Outcome::Unauthorized);
    };
    let Some(lease) = leases::get(tx, &license.id, lease_id)? else {
        return Outcome::error(
            ApiErrorCode::LeaseNotFound,
            "this licence has no such lease",
        );
    };
    let mut recorded = false;
    if lease.holds_at(now) {
        // Only its holder frees a seat that is held.
        if owned(tx, &license, lease_id, secret, now)?.is_none() {
            return Outcome::error(
                ApiErrorCode::LeaseNotFound,
                "this lease is not yours to release",
            );
        }
        if lease.borrowed
            && let Some(refusal) = kept_to_end(&lease, now)?
        {
            return Ok(refusal);
        }
        if leases::end(tx, &lease.id, "released", now)? {
            let action = if lease.borrowed {
                "lease.returned"
            } else {
                "lease.released"
            };
            recorded = record(tx, &license, &lease, action, now)?;
        }
    }
    Ok(Outcome::Answer {
        status: 204,
        body: String::new(),
        events: recorded,
    })
}

/// How long before its end a borrowed seat kept to its end may become an ordinary lease again
/// (the apps of the machine keep their seat as the borrow ends; the agent asks two minutes
/// before).
const KEPT_TO_END_SLACK: i64 = 300;

/// The refusal of an early return of borrowed `lease`, borrowed where the product kept
/// borrowed seats counted to their end: only the borrowing machine's word would back one (it
/// may keep its signed lease and go on offline), so the seat is not freed for another. The
/// policy of when it was borrowed rules, as its signed lease says: one switched on later does
/// not hold a borrow whose agent was told it may return it, nor does one switched off free a
/// borrow whose lease says it is kept.
fn kept_to_end(lease: &LeaseRow, now: i64) -> Result<Option<Outcome>, StoreError> {
    if !lease.kept_to_end || now >= lease.expires_at - KEPT_TO_END_SLACK {
        return Ok(None);
    }
    let until = rfc3339(lease.expires_at).unwrap_or_default();
    Outcome::error(
        ApiErrorCode::BorrowKeptToEnd,
        &format!(
            "this product keeps a borrowed seat this machine's until its end ({until}): it cannot be returned early"
        ),
    )
    .map(Some)
}

/// The vendor frees lease `lease_id` of `environment` (`DELETE /v1/admin/leases/{id}`): its
/// seat is free at once, and its holder's next renewal is told the lease is gone. `None` for
/// a lease the environment does not have; whether events were recorded.
///
/// # Errors
/// On storage failure.
pub fn release_by_vendor(
    tx: &Tx<'_>,
    environment: crate::store::Environment,
    lease_id: &str,
    by: &Actor,
    now: i64,
) -> Result<Option<bool>, StoreError> {
    let Some(lease) = leases::by_id(tx, lease_id)? else {
        return Ok(None);
    };
    let Some(license) = licenses::get(tx, environment, &lease.license_id)? else {
        return Ok(None);
    };
    if !lease.holds_at(now) || !leases::end(tx, &lease.id, "released", now)? {
        return Ok(Some(false));
    }
    record_by(tx, &license, &lease, "lease.released", now, by).map(Some)
}

/// Records the end of every lease that ran out by `now` (of `license_id`, or of all): an
/// audit entry and a `lease.expired` webhook each. Whether events were recorded.
///
/// # Errors
/// On storage failure.
pub fn expire(tx: &Tx<'_>, license_id: Option<&str>, now: i64) -> Result<bool, StoreError> {
    let mut recorded = false;
    for lease in leases::expire_due(tx, license_id, now, EXPIRE_BATCH)? {
        let Some(license) = licenses::get(tx, lease.environment, &lease.license_id)? else {
            continue;
        };
        recorded |= record(tx, &license, &lease, "lease.expired", lease.expires_at)?;
    }
    Ok(recorded)
}

/// Records the leases that ran out, every `every`, until `shutdown` turns true, waking the
/// webhook delivery when it recorded events. (A lease that ran out holds no seat whether or
/// not this has run: this is only its record.)
pub async fn run(
    store: std::sync::Arc<crate::store::Store>,
    every: std::time::Duration,
    wake: std::sync::Arc<tokio::sync::Notify>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        match store
            .write(|tx| expire(tx, None, crate::clock::now_unix()))
            .await
        {
            Ok(true) => wake.notify_one(),
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "cannot record the leases that ran out"),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// The licence `key_hash` names, if it is floating and active; else the refusal.
fn floating(
    tx: &Tx<'_>,
    key_hash: &[u8; 32],
    now: i64,
) -> Result<Result<LicenseRow, Outcome>, StoreError> {
    let Some(license) = licenses::by_key_hash(tx, key_hash)? else {
        return Ok(Err(Outcome::Unauthorized));
    };
    if license.policy.seat_model != SeatModel::Floating {
        return Outcome::error(
            ApiErrorCode::NotFloating,
            "this licence is node-locked: activate the machine instead of checking out a seat",
        )
        .map(Err);
    }
    let (code, message) = match license.effective_status(now) {
        LicenseStatus::Active => return Ok(Ok(license)),
        LicenseStatus::Suspended => (ApiErrorCode::LicenseSuspended, "the licence is suspended"),
        LicenseStatus::Revoked => (ApiErrorCode::LicenseRevoked, "the licence is revoked"),
        LicenseStatus::Expired => (ApiErrorCode::LicenseExpired, "the licence has expired"),
    };
    Outcome::error(code, message).map(Err)
}

/// "all 3 seats" … "are in use", or "the one seat" … "is in use".
fn all_seats(seats: u32) -> (String, &'static str) {
    if seats == 1 {
        ("the one seat".to_owned(), "is in use")
    } else {
        (format!("all {seats} seats"), "are in use")
    }
}

/// The answer carrying `lease`, signed for the request with `nonce`.
#[allow(clippy::too_many_arguments)] // one answer's parts, named
fn answer(
    tx: &Tx<'_>,
    issuer: &Issuer,
    license: &LicenseRow,
    lease: &LeaseRow,
    nonce: &str,
    seats_in_use: u32,
    secret: Option<String>,
    now: i64,
) -> Result<Outcome, StoreError> {
    // A new lease (with its secret) is created; a renewed one is not.
    let status = if secret.is_some() { 201 } else { 200 };
    let at = |t: i64| {
        OffsetDateTime::from_unix_timestamp(t).map_err(|e| StoreError::Sign(e.to_string()))
    };
    let payload = LeasePayload {
        lease_id: lease.id.clone(),
        license_id: license.id.clone(),
        product_id: license.product_id.clone(),
        environment: license.environment,
        fingerprint: lease.fingerprint.clone(),
        label: lease.label.clone(),
        // Every entitlement of the licence but those counted apart that this lease was not
        // given a seat of.
        entitlements: license
            .entitlements
            .iter()
            .filter(|e| {
                !license.entitlement_seats.contains_key(*e) || lease.entitlements.contains(e)
            })
            .cloned()
            .collect(),
        max_seats: license.max_machines,
        issued_at: at(now)?,
        expires_at: at(lease.expires_at)?,
        nonce: nonce.to_owned(),
        borrowed: lease.borrowed,
        per_process: license.policy.seat_per_process,
        kept_to_end: lease.borrowed && lease.kept_to_end,
    };
    let lease_file = issuer.signing(tx)?.lease(&payload)?;
    Outcome::json(
        status,
        &LeaseResponse {
            lease_id: lease.id.clone(),
            lease_secret: secret,
            lease_file,
            expires_at: rfc3339(lease.expires_at).unwrap_or_default(),
            seats_in_use,
            max_seats: license.max_machines,
        },
    )
}

/// The lease as the vendor sees it (audit entries, webhooks).
pub fn view(lease: &LeaseRow) -> serde_json::Value {
    serde_json::json!({
        "id": lease.id,
        "license_id": lease.license_id,
        "fingerprint": lease.fingerprint,
        "label": lease.label,
        "created_at": rfc3339(lease.created_at),
        "expires_at": rfc3339(lease.expires_at),
        "borrowed": lease.borrowed,
        "entitlements": lease.entitlements,
    })
}

/// An audit entry and a webhook event `action` for `lease`.
fn record(
    tx: &Tx<'_>,
    license: &LicenseRow,
    lease: &LeaseRow,
    action: &'static str,
    at: i64,
) -> Result<bool, StoreError> {
    record_by(
        tx,
        license,
        lease,
        action,
        at,
        &Actor::license_key(&license.id),
    )
}

/// As [`record`], by `by`.
fn record_by(
    tx: &Tx<'_>,
    license: &LicenseRow,
    lease: &LeaseRow,
    action: &'static str,
    at: i64,
    by: &Actor,
) -> Result<bool, StoreError> {
    Entry::new(license.environment, by, action, ("lease", &lease.id))
        .license(&license.id)
        .after(view(lease))
        .record(tx, at)?;
    webhooks::record(
        tx,
        license.environment,
        action,
        serde_json::json!({ "license_id": license.id, "lease": view(lease) }),
        at,
    )
}
