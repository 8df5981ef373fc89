// Licentric Companion UI. Plain JavaScript, no bundler, no remote content. Everything it
// knows comes from the app's commands (window.__TAURI__.core.invoke) and two events:
// `status` (every change) and `link` (a key handed over by a second launch).
'use strict';

const { invoke } = window.__TAURI__.core;
const { listen } = window.__TAURI__.event;

const $ = (id) => document.getElementById(id);
const DAY = 86400e3;

let info = null;
let current = null;

// ---------------------------------------------------------------- formatting

function when(text) {
  if (!text) return '—';
  const d = new Date(text);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

function day(text) {
  return text ? new Date(text).toLocaleDateString(undefined, { dateStyle: 'medium' }) : '';
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August',
  'September', 'October', 'November', 'December'];

/**
 * The agent's words with their times ("19 December 2026, 13:55 UTC", as the CLI and the tray
 * say them) in this computer's time and style, as the rest of the window shows times.
 */
function localTimes(text) {
  return (text || '').replace(/\b(\d{1,2}) ([A-Z][a-z]+) (\d{4}), (\d{2}):(\d{2}) UTC\b/g, (all, d, month, y, h, m) => {
    const index = MONTHS.indexOf(month);
    if (index < 0) return all;
    return when(new Date(Date.UTC(Number(y), index, Number(d), Number(h), Number(m))).toISOString());
  });
}

/**
 * "12 days", "5 hours", "40 minutes": the time until `text`, never negative, to the nearest
 * unit (a 14-day file issued a minute ago has 14 days left, not 13).
 */
function timeLeft(text) {
  const ms = Math.max(0, new Date(text) - Date.now());
  if (ms >= 2 * DAY) return `${Math.round(ms / DAY)} days`;
  const hours = Math.round(ms / 3600e3);
  if (hours >= 2) return `${hours} hours`;
  const minutes = Math.max(1, Math.floor(ms / 60e3));
  return minutes === 1 ? '1 minute' : `${minutes} minutes`;
}

/**
 * The badge's colour, words and the sentence under it, for a status. The words are the
 * agent's own (status.summary and status.detail), as the CLI and the tray show them: this page
 * only picks a colour and adds the time left on the offline clock.
 */
function describe(s) {
  const offline = s.entitled && (s.offline || s.state === 'grace');
  const tone = s.entitled ? (offline ? 'warn' : 'ok') : (s.state === 'unlicensed' ? 'neutral' : 'bad');
  const until = usableUntil(s);
  const left = offline && until ? ` — ${timeLeft(until)} left` : '';
  return [tone, `${s.summary}${left}`, localTimes(s.detail)];
}

/** When this computer stops being licensed without the server: the end of the offline
 * period, or the licence's own end where that comes first (null: neither). */
function usableUntil(s) {
  const offline = s.offline_valid_until;
  const ends = s.license_expires_at;
  if (!offline || !ends) return offline || null;
  return new Date(ends) < new Date(offline) ? ends : offline;
}

/** The machines (or seats) line, and the local apps waiting for a seat. */
function machines(s) {
  const waiting = s.seats_waiting
    ? `; ${s.seats_waiting === 1 ? '1 app here waits' : `${s.seats_waiting} apps here wait`} for a seat`
    : '';
  return seats(s) + waiting;
}

/** The end of the seat borrowed here if the vendor keeps it to its end (deactivating does not
 * free it), else null. */
function keptUntil(s) {
  return s && s.lease && s.lease.borrowed && s.lease.kept_to_end ? s.lease.expires_at : null;
}

/** "1 of 2 machines in use", or the maximum alone when the server has not said; for a
 * floating licence, its seats. */
function seats(s) {
  if (s.lease) {
    const apps = s.lease.holders === 1 ? '1 app here' : `${s.lease.holders} apps here`;
    const kept = s.lease.kept_to_end ? ', kept to its end' : '';
    const here = s.lease.borrowed ? `borrowed until ${when(s.lease.expires_at)}${kept}` : apps;
    const seats = s.lease.max_seats === 1 ? 'seat' : 'seats';
    return `${s.lease.seats_in_use} of ${s.lease.max_seats} ${seats} in use (${here})`;
  }
  if (s.reason === 'floating') return 'Floating: a seat is taken while the software runs';
  if (!s.max_machines) return '—';
  const plural = s.max_machines === 1 ? '' : 's';
  if (s.machines_active == null) return `Up to ${s.max_machines} machine${plural}`;
  return `${s.machines_active} of ${s.max_machines} machine${plural} in use`;
}

const STORES = {
  os: 'the OS credential store',
  file: 'an encrypted file (no OS credential store available)',
  unavailable: 'nowhere: no credential store is available',
};

// ---------------------------------------------------------------- rendering

// Which card the page shows: its messages belong to it, and go when it goes.
let shownCard = null;

/** Whether `s` is a floating licence's status (its key kept, with or without a seat). */
function isFloating(s) {
  return Boolean(s) && ['floating', 'floating_seat', 'borrowed_seat'].includes(s.reason);
}

function render(s) {
  current = s;
  $('loading').hidden = true;
  // A floating licence's key is kept without an activation: its status is shown, seat or not.
  const floating = isFloating(s);
  const borrowed = s.reason === 'borrowed_seat';
  const activated = s.state !== 'unlicensed' || floating;
  const card = activated ? 'status' : 'activation';
  if (card !== shownCard) {
    if (shownCard !== null) clearMessages();
    shownCard = card;
  }
  // A failure said on the status card (the server out of reach, say) is old news once a later
  // contact succeeded: the agent's own retry, the tray's Refresh now, the command line.
  const failure = $('action-message');
  if (failure.classList.contains('error') && s.last_refresh_at
      && s.last_refresh_at !== failure.dataset.since) {
    failure.textContent = '';
    failure.className = 'message';
    delete failure.dataset.code;
  }
  $('activation').hidden = activated;
  $('status').hidden = !activated;
  // Activated, the key field has nothing to hold: a key left there (a link's, come while the
  // window did not know yet) must not wait, filled in, for the next activation.
  if (activated) $('key').value = '';
  statusShown();
  // Deactivated from elsewhere (signed by the server): say so, and offer the stored key.
  const gone = !activated && ['machine_deactivated', 'machine_not_found', 'machine_moved'].includes(s.reason);
  $('activation-notice').hidden = !gone;
  if (gone) $('activation-notice-text').textContent = localTimes(s.detail);
  if (!activated) return;

  const [tone, words, detail] = describe(s);
  const badge = $('badge');
  badge.className = `badge ${tone}`;
  // Written only when it changes: it is a live region, and a screen reader would read the same
  // words again at each minute's render.
  if (badge.textContent !== words) badge.textContent = words;
  badge.dataset.state = s.state;
  if ($('state-detail').textContent !== detail) $('state-detail').textContent = detail;

  $('license-key').textContent = s.license_key_hint || '—';
  const chips = $('entitlements');
  chips.replaceChildren(...s.entitlements.map((code) => {
    const li = document.createElement('li');
    li.textContent = code;
    return li;
  }));
  if (!s.entitlements.length) chips.replaceChildren(Object.assign(document.createElement('li'), { textContent: 'none now' }));
  $('license-expires').textContent = s.license_expires_at ? when(s.license_expires_at) : 'Never';
  $('machines').textContent = machines(s);
  $('machines-label').textContent = floating ? 'Seats' : 'Machines';
  $('credential-store').textContent = STORES[s.credential_store] || s.credential_store;
  // Activated offline, no key is kept here: where it would be stored says nothing.
  $('credential-store').hidden = $('credential-store-label').hidden = !s.license_key_hint;
  const runsIn = s.runs_in ? `a ${s.runs_in.kind.replace('_', ' ')} (${s.runs_in.name})` : '';
  $('runs-in').textContent = runsIn;
  $('runs-in').hidden = $('runs-in-label').hidden = !runsIn;
  // Activated offline (no key here): it renews by importing a new file, not from the server.
  // A floating licence has no file to renew: its seats are renewed while apps hold them.
  $('refresh').hidden = !s.license_key_hint || floating;
  // Activated offline (no key here): renewed as it was activated, by a request and a file.
  const byFile = activated && !s.license_key_hint && !floating;
  $('renew-request').hidden = $('renew-import').hidden = !byFile;
  $('borrow').hidden = !floating || borrowed;
  // A seat the product keeps to its end cannot be returned early: nothing to offer.
  $('return').hidden = !borrowed || Boolean(keptUntil(s));
  renderTimeline(s);
}

function renderTimeline(s) {
  const start = s.issued_at && new Date(s.issued_at);
  const end = s.offline_valid_until && new Date(s.offline_valid_until);
  const timeline = $('timeline');
  $('timeline-title').hidden = !start || !end || end <= start;
  if (!start || !end || end <= start) {
    timeline.hidden = true;
    $('timeline-text').textContent = '';
    return;
  }
  timeline.hidden = false;
  const at = (t) => `${Math.min(100, Math.max(0, ((t - start) / (end - start)) * 100))}%`;
  $('timeline-fill').style.width = at(Date.now());
  $('timeline-now').style.left = at(Date.now());
  $('timeline-now').title = 'Now';
  const refresh = $('timeline-refresh');
  refresh.hidden = $('legend-refresh').hidden = !s.next_refresh_at;
  if (s.next_refresh_at) {
    refresh.style.left = at(new Date(s.next_refresh_at));
    refresh.title = `Next refresh: ${when(s.next_refresh_at)}`;
  }
  $('timeline-start').textContent = `Issued ${day(s.issued_at)}`;
  $('timeline-end').textContent = `Offline until ${day(s.offline_valid_until)}`;
  // The offline period says how long this computer works without the server — while the
  // licence itself is usable, and no further than the licence's own end.
  const endsFirst = usableUntil(s) !== s.offline_valid_until;
  const parts = [!s.entitled
    ? 'The licence cannot be used now (see above), online or offline.'
    : endsFirst
      ? `Works until ${when(s.license_expires_at)}, when the licence ends (${timeLeft(s.license_expires_at)} left).`
      : `Works offline until ${when(s.offline_valid_until)} (${timeLeft(s.offline_valid_until)} left).`];
  parts.push(s.next_refresh_at ? `Next refresh: ${when(s.next_refresh_at)}.` : 'No refresh planned: renew by importing a new licence file.');
  if (s.last_refresh_at) parts.push(`Last renewed: ${when(s.last_refresh_at)}.`);
  $('timeline-text').textContent = parts.join(' ');
  timeline.setAttribute('aria-label', `Offline licence: issued ${day(s.issued_at)}, valid offline until ${day(s.offline_valid_until)}; ${timeLeft(usableUntil(s))} left${endsFirst ? ', when the licence ends' : ''}.`);
}

// This machine's parts: what each is, and the start of its hash, or that it was not read.
function renderParts(machine) {
  $('parts').replaceChildren(...machine.components.map((part) => {
    const li = document.createElement('li');
    li.dataset.kind = part.kind;
    const name = part.describes.charAt(0).toUpperCase() + part.describes.slice(1);
    li.textContent = part.hashes.length
      ? `${name}: ${part.hashes.map((h) => `${h}…`).join(', ')}`
      : `${name}: not read`;
    return li;
  }));
}

function renderInfo() {
  document.title = info.product_name;
  $('product-name').textContent = info.product_name;
  document.querySelectorAll('.product-name').forEach((el) => { el.textContent = info.product_name; });
  // The licensing app's own name, where the user is told to open it (not the vendor's product).
  document.querySelectorAll('.app-name').forEach((el) => { el.textContent = info.app_name; });
  const env = $('environment');
  env.hidden = info.environment !== 'test';
  env.textContent = 'Test';
  env.title = 'Sandbox: test licences only';
  $('machine-name').textContent = info.machine_name;
  $('fingerprint').textContent = info.fingerprint ? `${info.fingerprint}…` : '—';
  $('version-app').textContent = info.app_version;
  $('about-app-name').textContent = info.app_name;
  renderProxy(info);
  if (info.help_url) {
    $('about-help').replaceChildren(helpLink());
    // The offline steps' site: the vendor's help page says where requests go.
    $('offline-help').replaceChildren('Your vendor\'s help page says where: ', helpLink());
    $('offline-help').hidden = false;
  } else {
    $('about-help').textContent = 'Ask the vendor of your software.';
  }
  $('version-tauri').textContent = info.tauri_version;
  $('version-protocol').textContent = `v${info.protocol}`;
  $('socket').textContent = info.socket || '—';
  // A headless agent (the systemd user service, say) was already running: the app is its
  // client, and says so.
  $('served-by').textContent = info.headless_agent
    ? `The licensing service running in the background${info.agent_started_here ? ', started with this window' : ''}: it answers other local applications and stays in the tray when this window closes.`
    : 'This app (it also answers other local applications while it runs).';
  if (info.key_prefix) $('key').placeholder = `${info.key_prefix}-XXXX-XXXX-XXXX-XXXX`;
  // The vendor's help page (its brand): a link the system's browser opens (the page itself
  // never navigates), and its address as text to copy.
  if (info.help_url) {
    $('key-help-url').textContent = info.help_url;
    $('key-help').hidden = false;
  }
  if (info.startup_error) {
    $('startup-error').hidden = false;
    $('startup-error-message').textContent = info.startup_error.message;
    $('startup-error-code').textContent = info.startup_error.code;
    $('loading').hidden = true;
  }
  if (info.link_key) fillKey(info.link_key);
}

/** A link to the vendor's help page, opened in the system's browser (the page itself never
 * navigates). */
function helpLink() {
  const link = document.createElement('a');
  link.href = '#';
  link.textContent = info.help_url;
  link.addEventListener('click', (e) => {
    e.preventDefault();
    invoke('open_help').catch((error) => { link.textContent = `${info.help_url} (${error.message || error})`; });
  });
  return link;
}

// ---------------------------------------------------------------- waiting on the server

/**
 * Progress for an operation that waits on the licensing server: after two seconds, how long
 * it has waited, the retries, and a Cancel button (the app's own agent's or the background
 * agent's operation alike). Returns the function that ends it.
 */
function waiting(progress, cancel, busyText) {
  const started = Date.now();
  let finished = false;
  cancelRefused = '';
  progress.textContent = busyText;
  // The seconds change twice a second: shown, not read out (the line is a live region). What
  // is news — a retry and why, a refused cancel — is read when it changes.
  const clock = document.createElement('span');
  clock.setAttribute('aria-hidden', 'true');
  const news = document.createElement('span');
  const timer = setInterval(async () => {
    const seconds = Math.round((Date.now() - started) / 1000);
    if (seconds < 2) return;
    // A call being tried again says so: why the last try failed, and which try comes next.
    const retry = await invoke('progress').catch(() => null);
    if (finished) return;
    const again = retry
      ? ` ${BECAUSE[retry.because] || 'No answer'}; trying again (attempt ${retry.attempt}).`
      : '';
    if (!clock.isConnected) progress.append(clock, news);
    clock.textContent = ` ${seconds} s — waiting for the licensing server.`;
    if (news.textContent !== `${again}${cancelRefused}`) news.textContent = `${again}${cancelRefused}`;
    if (cancel) cancel.hidden = false;
  }, 500);
  return () => {
    finished = true;
    clearInterval(timer);
    if (cancel) cancel.hidden = true;
  };
}

/** Which proxy the calls to the licensing server go through, where it is set, and how to change it. */
function renderProxy(info) {
  const p = info.proxy;
  const where = !p ? '—'
    : p.source === 'configuration' ? `${p.address} (set in the configuration)`
      : p.source === 'system' ? `${p.address} (the system's, from ${p.variable})`
        : p.variable ? `None: ${p.variable} names the licensing server, so connections go straight to it`
          : 'None: connections go straight to the licensing server';
  $('setting-proxy').textContent = where;
  const file = info.preferences_file ? ` in ${info.preferences_file}` : ' in your preferences file';
  $('setting-proxy-hint').textContent = info.headless_agent && !info.agent_started_here
    ? `The licensing service running in the background makes the calls, with its own settings: to change them, set proxy = "http://host:port"${file} (or HTTPS_PROXY where it starts), choose Quit in the tray, and open ${info.app_name} again.`
    : info.headless_agent
      ? `To go through a proxy, set proxy = "http://host:port"${file} (or HTTPS_PROXY), choose Quit in the tray, and open ${info.app_name} again.`
      : `To go through a proxy, set proxy = "http://host:port"${file} (or HTTPS_PROXY) and start the app again.`;
}

/** Why a try failed, in words, by its code. */
const BECAUSE = {
  network_unavailable: 'The server could not be reached',
  server_unavailable: 'The server is busy or unavailable',
};

const CANCELLED = 'Cancelled. Nothing was changed on this computer.';

/** Why the last Cancel was not taken, said beside the wait it could not end. */
let cancelRefused = '';

async function cancelWaiting() {
  try {
    await invoke('cancel');
  } catch (error) {
    cancelRefused = ` Cannot cancel: ${error.message || String(error)}`;
  }
}

// ---------------------------------------------------------------- activation

let checkSeq = 0;

async function checkKey({ final = false } = {}) {
  const input = $('key');
  const feedback = $('key-feedback');
  const seq = ++checkSeq;
  const check = await invoke('check_key', { text: input.value });
  if (seq !== checkSeq) return check; // a later keystroke already answered
  feedback.className = 'feedback';
  input.removeAttribute('aria-invalid');
  if (check.valid) {
    feedback.classList.add('ok');
    feedback.textContent = 'The key looks right.';
    if (final || input.value.trim().length >= check.formatted.length) input.value = check.formatted;
  } else if (check.incomplete && !final) {
    feedback.textContent = input.value.trim()
      ? `Keep typing: keys look like ${info.key_prefix}-XXXX-XXXX-XXXX-XXXX.`
      : 'Paste the key from your purchase e-mail.';
  } else {
    feedback.classList.add('bad');
    input.setAttribute('aria-invalid', 'true');
    feedback.textContent = check.error.message;
  }
  feedback.dataset.reason = check.error ? check.error.reason : 'ok';
  return check;
}

/** The key the server last refused (or could not be asked about): its word stands for that
 * key, so leaving the field does not judge it again by its format alone. */
let judgedKey = null;

/** The key field's feedback as for an empty field: nothing judged yet. */
function resetKeyFeedback() {
  checkSeq++; // an answer to an earlier keystroke no longer applies
  const feedback = $('key-feedback');
  feedback.className = 'feedback';
  feedback.textContent = 'Paste the key from your purchase e-mail.';
  feedback.dataset.reason = '';
  $('key').removeAttribute('aria-invalid');
}

/** A success message is the news of a moment: it goes after a few seconds, unless something
 * else has been said there since — even the same words again, which get their own few
 * seconds (errors stay until the next action). */
const SETTLE_MS = 4000;
let said = 0;
function settle(message, text) {
  const token = String(++said);
  message.dataset.said = token;
  setTimeout(() => {
    if (message.dataset.said === token && message.textContent === text
        && !message.classList.contains('error')) {
      message.textContent = '';
      if (message.id === 'activation-message') message.hidden = true;
    }
  }, SETTLE_MS);
}

/** Every message about a previous state or attempt: gone when its card is left. */
function clearMessages() {
  // A saved request's "Saved to …" names a request of a state now gone.
  $('save-request-result').textContent = '';
  for (const id of ['action-message', 'activate-again-message', 'activation-message']) {
    $(id).textContent = '';
    $(id).className = 'message';
    delete $(id).dataset.code;
  }
  $('activation-message').hidden = true;
  $('activate-error').hidden = true;
  $('import-error').hidden = true;
  $('activate-progress').textContent = '';
  $('activate-again-progress').textContent = '';
  if (!$('key').value) resetKeyFeedback();
}

async function fillKey(key) {
  // Whether this computer is activated decides what a link's key does: known once a status
  // was shown (or the agent is known to be stopped).
  await firstStatus;
  showTab('licence');
  if (!$('status').hidden) {
    // Already activated: the link's key is not taken silently, nor ignored without a word.
    // Said where the user looks, in a live region (the focus stays where it was).
    const message = $('action-message');
    message.className = 'message';
    message.textContent = await linkWhileActivated(key);
    return;
  }
  // Another key: what was said of the last one (its refusal, a cancelled try) no longer applies.
  $('activate-error').hidden = true;
  $('activate-progress').textContent = '';
  $('key').value = key;
  checkKey({ final: true });
  $('key').focus();
}

/** What to say of a link's key while this computer is activated: a key that is not one, the
 * key already in use here (as far as its hint shows), or another key — which needs a
 * deactivation first. */
async function linkWhileActivated(key) {
  const hint = current && current.license_key_hint;
  const other = `You opened a link with a licence key, but this computer is already activated${hint ? ` with ${hint}` : ''}. To use the other key, choose "Deactivate…" first, then open the link again.`;
  let check;
  try {
    check = await invoke('check_key', { text: key });
  } catch {
    return other; // the key could not be judged: it is not ignored without a word
  }
  if (!check.valid) {
    return `You opened a link with a licence key, but the key in it is not valid: ${check.error ? check.error.message : 'it is incomplete.'} Nothing was changed; this computer stays activated${hint ? ` with ${hint}` : ''}.`;
  }
  if (hint && check.hint === hint) {
    // Only the hint is known here: said as what it is.
    return `You opened a link with a licence key: this computer is already activated with ${hint}, which ends as the link's key does. If that is the key, nothing needs doing.`;
  }
  return other;
}

const HELP = {
  machine_limit_reached: 'To free a seat, open this app on a machine you no longer use and choose "Deactivate…", or ask your vendor to release one.',
  invalid_license_key: 'Keys are case-insensitive; O and 0, I and 1 are read the same.',
  network_unavailable: 'No internet here? Use "Activate offline" below.',
  tls_error: 'A proxy or security product may be intercepting connections. Ask your administrator.',
};

function showError(error, box, messageEl, helpEl) {
  box.hidden = false;
  messageEl.textContent = error.message || String(error);
  const help = HELP[error.reason] || HELP[error.code];
  if (helpEl) {
    helpEl.hidden = !help;
    helpEl.textContent = help || '';
  }
  box.dataset.code = error.reason || error.code || 'error';
}

async function activate(event) {
  event.preventDefault();
  const check = await checkKey({ final: true });
  if (!check.valid) {
    $('key').focus();
    return;
  }
  const button = $('activate');
  button.disabled = $('activate-again').disabled = true;
  button.setAttribute('aria-busy', 'true');
  $('activate-error').hidden = true;
  const done = waiting($('activate-progress'), $('activate-cancel'), 'Activating…');
  let cancelled = false;
  try {
    const s = await invoke('activate', { key: $('key').value });
    $('key').value = '';
    resetKeyFeedback();
    render(s);
    $('badge').focus();
  } catch (error) {
    if (error.code === 'cancelled') {
      cancelled = true;
      return;
    }
    // The server's word stands over the format check's: no green "looks right" above it, and
    // the refusal said once, in the box below (the field is marked for screen readers). Leaving
    // the field does not judge the same key again.
    judgedKey = $('key').value;
    const feedback = $('key-feedback');
    feedback.className = 'feedback';
    feedback.textContent = '';
    if (error.reason === 'invalid_license_key') $('key').setAttribute('aria-invalid', 'true');
    feedback.dataset.reason = error.reason || error.code || 'error';
    showError(error, $('activate-error'), $('activate-error-message'), $('activate-error-help'));
  } finally {
    done();
    button.disabled = $('activate-again').disabled = false;
    button.removeAttribute('aria-busy');
    $('activate-progress').textContent = cancelled ? CANCELLED : '';
  }
}

/** What a refused licence file means for the user, by the refusal's code; the agent's own
 * words (technical) stay for the codes not named here. */
const IMPORT_WORDS = {
  request_picked: 'This is the activation request from step 1, not a licence file. Pick the licence file you got back for it.',
  no_request_pending: 'No activation request is waiting on this computer. Save one first (step 1), use it with your licence key on the vendor\'s site (step 2), then pick the licence file you get back.',
  not_requested: 'This licence file does not answer this computer\'s newest activation request (it may be a copy, or from another computer). Pick the file you got back for this computer\'s request, or save a new request.',
  older_than_seen: 'This licence file is older than the one this computer already has.',
  older_than_cached: 'This licence file is older than the one this computer already has.',
  fingerprint_mismatch: 'This licence file is for another computer. Pick the one you got back for this computer\'s request.',
  product_mismatch: 'This licence file is for another product.',
  environment_mismatch: 'This licence file is for another environment (test or live) than this app.',
  file_expired: 'This licence file has run out. Save a new activation request and get a new file for it.',
  armor_invalid: 'This is not a licence file, or it is incomplete. Download it again, then pick it here.',
  envelope_invalid: 'This licence file is damaged or incomplete. Download it again, then pick it here.',
  payload_invalid: 'This licence file is damaged or incomplete. Download it again, then pick it here.',
  signature_invalid: 'This licence file has been changed since it was issued, so it cannot be trusted. Download it again, then pick it here.',
  unknown_key_id: 'This licence file was not signed by this vendor, or this app is too old for it.',
};

/** Imports a licence file picked in `input`; a refusal is said by `refuse(error)` (by default
 * on the activation card). Whether it was installed. */
/** What a refused licence file means, by its code, for this computer as it stands: licensed,
 * a request no longer waiting was answered already (a file imported since voids the requests
 * made before it, as the licence's renewal online does). */
function importWords(code) {
  if (code === 'no_request_pending' && current && current.entitled) {
    return 'This computer\'s licence was renewed since that request was made (by another licence file, or online), so there is nothing to import. To renew it again later, save a new request.';
  }
  return IMPORT_WORDS[code];
}

async function importFile(file, input = $('license-file'), refuse = null) {
  // Picked again later under the same name (a file downloaded again), it is read again.
  input.value = '';
  if (!file) return false;
  // Said under the file picker, where the user just chose: each pick is judged anew.
  $('import-error').hidden = true;
  const said = refuse || ((error) => showError(error,
    $('import-error'), $('import-error-message'), $('import-error-help')));
  const refused = (code, message) => said({ code, message: importWords(code) || message });
  if (file.size > 256 * 1024) {
    refused('license_file_invalid', 'That file is too large to be a licence file.');
    return false;
  }
  const text = await file.text();
  if (text.trimStart().startsWith('-----BEGIN LICENTRIC ACTIVATION REQUEST-----')) {
    refused('request_picked');
    return false;
  }
  try {
    render(await invoke('import_license', { text }));
    return true;
  } catch (error) {
    const code = error.reason || error.code;
    if (importWords(code)) refused(code);
    else said(error);
    return false;
  }
}

// ---------------------------------------------------------------- status actions

/** The status card's actions: one at a time. */
const ACTIONS = ['refresh', 'borrow', 'return', 'deactivate'];

async function action(button, command, busyText, doneText, { cancellable = true, args, stands = '', lasting = false } = {}) {
  let message = $('action-message');
  message.className = 'message';
  for (const id of ACTIONS) $(id).disabled = true;
  const done = waiting(message, cancellable ? $('action-cancel') : null, busyText);
  try {
    render(await invoke(command, args));
    done();
    // The result goes where the user is looking: the card now shown.
    if ($('status').hidden) {
      message.textContent = '';
      message = $('activation-message');
      message.hidden = false;
    }
    message.textContent = doneText;
    // News of a moment goes; a result the user may need (what to free, and where) stays.
    if (!lasting) settle(message, doneText);
    // The focus stays on the button, or where the result is when the button went.
    if (button.offsetParent === null && !$('status').hidden) $('badge').focus();
  } catch (error) {
    done();
    if (error.code === 'cancelled') {
      message.textContent = stands ? `Cancelled. ${stands}` : CANCELLED;
      button.focus();
      return;
    }
    message.className = 'message error';
    // The last contact known when it failed: a later one makes this old news (`render`).
    message.dataset.since = (current && current.last_refresh_at) || '';
    // What stands is said when the server was not reached: another failure may come after it.
    const unreached = ['network_unavailable', 'server_unavailable', 'tls_error'].includes(error.reason || error.code);
    message.textContent = `${error.message || String(error)}${stands && unreached ? ` ${stands}` : ''}`;
    message.dataset.code = error.reason || error.code;
  } finally {
    done();
    for (const id of ACTIONS) $(id).disabled = false;
  }
}

/** Saves through `command` (a save dialog), says where in `resultEl`, and returns the path
 * (none when cancelled or refused). */
async function saveTo(command, resultEl) {
  try {
    const path = await invoke(command);
    resultEl.textContent = path ? `Saved to ${path}` : '';
    return path;
  } catch (error) {
    resultEl.textContent = error.message || String(error);
    return null;
  }
}

// ---------------------------------------------------------------- settings

async function loadSettings() {
  try {
    applySettings(await invoke('settings'));
    const clients = await invoke('recent_clients');
    const body = $('clients').querySelector('tbody');
    body.replaceChildren(...clients.map((c) => {
      const row = document.createElement('tr');
      for (const text of [c.name, when(c.last_query), String(c.queries)]) {
        const cell = document.createElement('td');
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    }));
    $('clients-empty').hidden = clients.length > 0;
  } catch (error) {
    $('settings-message').textContent = error.message || String(error);
  }
}

function applySettings(s) {
  $('setting-notifications').checked = s.notifications;
  $('setting-autostart').checked = s.start_at_login;
}

async function changeSetting(command, on) {
  // What was said of the last change is not said of this one until it is saved.
  $('settings-message').textContent = '';
  try {
    applySettings(await invoke(command, { on }));
    $('settings-message').textContent = 'Saved.';
    settle($('settings-message'), 'Saved.');
  } catch (error) {
    $('settings-message').textContent = error.message || String(error);
    loadSettings();
  }
}

// ---------------------------------------------------------------- tabs

function showTab(name) {
  for (const tab of ['licence', 'settings']) {
    const selected = tab === name;
    $(`tab-${tab}`).setAttribute('aria-selected', String(selected));
    $(`tab-${tab}`).tabIndex = selected ? 0 : -1;
    $(`panel-${tab}`).hidden = !selected;
  }
  if (name === 'settings') loadSettings();
}

function tabKeys(event) {
  if (event.key !== 'ArrowLeft' && event.key !== 'ArrowRight') return;
  const next = event.target.id === 'tab-licence' ? 'settings' : 'licence';
  showTab(next);
  $(`tab-${next}`).focus();
}

// ---------------------------------------------------------------- wiring

function wire() {
  $('tab-licence').addEventListener('click', () => showTab('licence'));
  $('tab-settings').addEventListener('click', () => showTab('settings'));
  $('tab-licence').addEventListener('keydown', tabKeys);
  $('tab-settings').addEventListener('keydown', tabKeys);

  $('key').addEventListener('input', () => {
    // A new key: the refusal (or the cancelled attempt) of the previous one no longer applies.
    $('activate-error').hidden = true;
    if ($('activate-progress').textContent === CANCELLED) $('activate-progress').textContent = '';
    checkKey();
  });
  $('key').addEventListener('blur', () => {
    if ($('key').value && $('key').value !== judgedKey) checkKey({ final: true });
  });
  $('activate-form').addEventListener('submit', activate);
  $('save-request').addEventListener('click', () => saveTo('save_request_file', $('save-request-result')));
  // Turning to the offline steps: a word about the key field (empty, say) no longer applies.
  $('offline-activation').addEventListener('toggle', () => {
    if ($('offline-activation').open) $('activate-error').hidden = true;
  });
  // Renewing a machine activated offline, from the status card.
  $('renew-request').addEventListener('click', async () => {
    const message = $('action-message');
    message.className = 'message';
    if (await saveTo('save_request_file', message)) {
      message.textContent += '. Use it with your licence key on the vendor\'s site, then import the licence file you get back.';
    }
  });
  $('renew-file').addEventListener('change', async (e) => {
    const message = $('action-message');
    message.className = 'message';
    message.textContent = '';
    const renewed = await importFile(e.target.files[0], $('renew-file'), (error) => {
      message.className = 'message error';
      message.textContent = error.message || String(error);
    });
    if (renewed) message.textContent = 'Renewed: the new licence file is installed.';
  });
  $('license-file').addEventListener('change', (e) => importFile(e.target.files[0]));
  const zone = $('drop-zone');
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    importFile(e.dataTransfer.files[0]);
  });

  $('refresh').addEventListener('click', (e) => action(e.currentTarget, 'refresh', 'Refreshing…', 'Refreshed.'));
  // With the key kept in the credential store, "refresh" activates this machine again.
  $('activate-again').addEventListener('click', async (e) => {
    const button = e.currentTarget;
    const message = $('activate-again-message');
    // One activation at a time: the key field's waits meanwhile.
    button.disabled = $('activate').disabled = true;
    message.textContent = '';
    const progress = $('activate-again-progress');
    const done = waiting(progress, $('activate-again-cancel'), 'Activating…');
    let cancelled = false;
    try {
      render(await invoke('refresh'));
      if (!$('status').hidden) $('badge').focus();
    } catch (error) {
      cancelled = error.code === 'cancelled';
      message.textContent = cancelled ? CANCELLED : error.message || String(error);
      message.dataset.code = error.reason || error.code;
    } finally {
      done();
      progress.textContent = '';
      button.disabled = $('activate').disabled = false;
      if (cancelled) button.focus();
    }
  });
  $('deactivate').addEventListener('click', () => {
    // Activated offline, the key is not here: the seat can only be freed on the server side.
    // A seat borrowed here that the vendor keeps to its end is not freed either.
    const offline = Boolean(current && !current.license_key_hint);
    const kept = keptUntil(current);
    const shown = offline ? 'confirm-text-offline' : kept ? 'confirm-text-kept' : 'confirm-text';
    for (const id of ['confirm-text', 'confirm-text-offline', 'confirm-text-kept']) $(id).hidden = id !== shown;
    if (kept) $('confirm-kept-until').textContent = when(kept);
    $('confirm-deactivate').setAttribute('aria-describedby', shown);
    ask($('confirm-deactivate'));
  });
  $('confirm-deactivate').addEventListener('close', async () => {
    if ($('confirm-deactivate').returnValue !== 'deactivate') return;
    // What it frees depends on what was here (the command-line tool says the same).
    const kept = keptUntil(current);
    const activatedOffline = Boolean(current && !current.license_key_hint);
    const freed = kept
      ? `This machine was deactivated. The seat borrowed here stays counted for your team until ${when(kept)}: the vendor keeps borrowed seats to their end.`
      : isFloating(current)
        ? 'This machine was deactivated: the licence key is removed, and any seat held here was given back.'
        : activatedOffline
          ? `The licence is removed from this computer. It was activated offline, so its seat stays taken until you free it where you obtained the licence file${current.machine_id ? ` (this machine: ${current.machine_id})` : ''}, or ask your vendor.`
          : 'This machine was deactivated; its seat is free.';
    // Cancel stops waiting for the server; what stands is said either way. A floating
    // licence has no activation to undo: what reaches the server (seats given back) is not
    // stopped halfway, so no Cancel is offered.
    const floating = isFloating(current);
    await action($('deactivate'), 'deactivate', 'Deactivating…',
      `${freed} Keep your licence key: you need it to activate again.`,
      floating
        ? { cancellable: false, stands: 'The licence stays on this computer.', lasting: true }
        : { stands: 'This computer is still activated.', lasting: true });
    if (current && current.state === 'unlicensed') $('key').focus();
  });
  $('borrow').addEventListener('click', () => {
    // From tomorrow; the server says how far ahead it lends a seat if the day is too late.
    const day = (offset) => new Date(Date.now() + offset * 86400000).toISOString().slice(0, 10);
    $('borrow-until').min = day(0);
    // Six days on, to the end of that day: within the usual limit of seven days from now.
    if (!$('borrow-until').value) $('borrow-until').value = day(6);
    ask($('borrow-dialog'));
  });
  $('borrow-dialog').addEventListener('close', async () => {
    if ($('borrow-dialog').returnValue !== 'borrow') return;
    // The end of the chosen day, on this computer's clock.
    const until = new Date(`${$('borrow-until').value}T23:59:59`).toISOString();
    await action($('borrow'), 'borrow', 'Borrowing a seat…',
      'Seat borrowed: this computer keeps it until the day you chose, with or without a network.',
      { cancellable: false, args: { until } });
  });
  $('return').addEventListener('click', () => action($('return'), 'return_seat', 'Returning the seat…',
    'Seat returned: it is free for others.', { cancellable: false }));
  $('diagnostics').addEventListener('click', async () => {
    $('diagnostics-text').value = await invoke('diagnostics').catch((e) => e.message || String(e));
    $('diagnostics-message').textContent = '';
    ask($('diagnostics-dialog'));
  });
  $('activate-cancel').addEventListener('click', async () => {
    await cancelWaiting();
    $('key').focus();
  });
  $('action-cancel').addEventListener('click', cancelWaiting);
  $('activate-again-cancel').addEventListener('click', cancelWaiting);
  // Escape ends a wait, as its Cancel button does (a dialog's Escape is the dialog's).
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || document.querySelector('dialog[open]')) return;
    const cancel = ['activate-cancel', 'activate-again-cancel', 'action-cancel'].map($).find((b) => !b.hidden);
    if (cancel) {
      e.preventDefault();
      cancel.click();
    }
  });
  $('key-help-link').addEventListener('click', (e) => {
    e.preventDefault();
    invoke('open_help').catch((error) => { $('key-help-url').textContent = `${info.help_url} (${error.message || error})`; });
  });
  $('diagnostics-save').addEventListener('click', () => saveTo('save_diagnostics', $('diagnostics-message')));
  $('diagnostics-copy').addEventListener('click', async () => {
    const text = $('diagnostics-text');
    try {
      await navigator.clipboard.writeText(text.value);
    } catch (error) {
      // A webview without the clipboard API: copy the selection instead.
      text.select();
      if (!document.execCommand('copy')) {
        $('diagnostics-message').textContent = 'Cannot copy here: select the report and copy it yourself.';
        return;
      }
    }
    $('diagnostics-message').textContent = 'Copied.';
  });

  $('setting-notifications').addEventListener('change', (e) => changeSetting('set_notifications', e.target.checked));
  $('setting-autostart').addEventListener('change', (e) => changeSetting('set_start_at_login', e.target.checked));
}

/** Opens a modal dialog with no answer yet: a dialog keeps its last answer (`returnValue`)
 * when it is dismissed with Escape, which gives none — so the confirmation answered
 * "deactivate" once would deactivate again on Escape. */
function ask(dialog) {
  dialog.returnValue = '';
  dialog.showModal();
}

/** While the background agent this window asks is stopped, nothing shown is current: every
 * panel and open dialog goes, and one card says so. */
function showAgentRunning(running) {
  $('agent-gone').hidden = running;
  document.body.classList.toggle('agent-gone', !running);
  if (!running) document.querySelectorAll('dialog[open]').forEach((dialog) => dialog.close(''));
}

/** Resolved once the first status is shown, or known not to come (the agent is stopped). */
let statusShown;
const firstStatus = new Promise((resolve) => { statusShown = resolve; });

async function start() {
  wire();
  // A link or file dropped on the window is not opened as a page (the app also refuses to
  // navigate away): text goes into a field as usual, and a licence file dropped anywhere on
  // the activation card is imported as from its zone.
  for (const type of ['dragover', 'drop']) {
    window.addEventListener(type, (e) => {
      if (e.target.closest && e.target.closest('#drop-zone, input, textarea')) return;
      e.preventDefault();
      const files = e.dataTransfer ? e.dataTransfer.files : [];
      if (type === 'drop' && !$('activation').hidden && files.length) importFile(files[0]);
    });
  }
  await listen('status', (event) => render(event.payload));
  await listen('link', (event) => fillKey(event.payload));
  // The background agent this window asks stopped (or is back): nothing shown is current.
  // The last word on the background agent: an event that came while app_info was on its way
  // is newer than app_info's answer.
  let agentSaid = null;
  await listen('agent', (event) => {
    agentSaid = !!(event.payload && event.payload.running);
    showAgentRunning(agentSaid);
  });
  info = await invoke('app_info');
  renderInfo();
  if (info.startup_error) {
    statusShown();
    return;
  }
  // A window opened (or reloaded) after the background agent stopped says so at once; the
  // status follows, pushed, when the agent is back.
  const running = agentSaid ?? info.agent_running !== false;
  showAgentRunning(running);
  try {
    if (running) render(await invoke('status'));
  } finally {
    // A link's key is never left waiting: with no status, it goes into the key field.
    statusShown();
  }
  renderParts(await invoke('machine'));
  // First thing a new user does: paste the key.
  if (!$('activation').hidden && !$('key').value) $('key').focus();
  // Time passes while the window is open: keep "N days left" and the timeline current.
  setInterval(() => { if (current) render(current); }, 60e3);
}

start().catch((error) => {
  $('loading').textContent = `The window could not load: ${error.message || error}`;
});
