// The admin page's script: sends forms to the JSON API (with the CSRF token), keeps the
// dashboard live over server-sent events, refreshes the stream preview. No framework.
"use strict";

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content || "";

async function api(method, url, body, raw) {
  const headers = { "x-csrf-token": meta("csrf-token") };
  let payload;
  if (raw) {
    payload = body;
    headers["content-type"] = raw;
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["content-type"] = "application/json";
  }
  const res = await fetch(url, { method, headers, body: payload, credentials: "same-origin" });
  let data = null;
  const text = await res.text();
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = { message: text }; }
  if (!res.ok) {
    const err = new Error((data && data.message) || `HTTP ${res.status}`);
    err.code = data && data.code;
    err.status = res.status;
    throw err;
  }
  return data;
}

function flash(message, bad) {
  const el = document.getElementById("flash");
  if (!el) return;
  el.textContent = message;
  el.className = bad ? "error" : "ok";
}

function setPath(obj, path, value) {
  const keys = path.split(".");
  let cur = obj;
  for (const k of keys.slice(0, -1)) cur = cur[k] = cur[k] || {};
  cur[keys[keys.length - 1]] = value;
}

// A form's fields as JSON: dotted names nest, data-type converts, data-changed-only skips
// fields left as they were.
function formJson(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.type === "file" || el.tagName === "BUTTON") continue;
    const type = el.dataset.type || "";
    if (el.hasAttribute("data-changed-only")) {
      if (el.type === "password" ? el.value === "" : el.value === el.dataset.initial) continue;
    }
    let v = el.value;
    if (type === "number") v = v === "" ? null : Number(v);
    else if (type === "bool") v = el.type === "checkbox" ? el.checked : v === "true";
    else if (type === "json") v = JSON.parse(v);
    else if (type === "items") {
      v = v.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
        const [name, artist, image, token] = l.split("|").map((x) => (x || "").trim());
        const item = { name, artist: artist || "", image: image || "" };
        if (token) {
          const [contract, tokenId] = token.split(":");
          item.token = { contract, token_id: tokenId || "" };
        }
        return item;
      });
    }
    if (v === null) continue;
    setPath(out, el.name, v);
  }
  return out;
}

function wireForms() {
  for (const form of document.querySelectorAll("form.api")) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
      try {
        const reply = await api(form.dataset.method || "POST", form.dataset.api, formJson(form));
        if (reply && reply.password) {
          flash(`Done. The password (shown once): ${reply.password}`);
          return;
        }
        if (reply && Array.isArray(reply.lines)) {
          flash(reply.lines.join("  ·  "));
          return;
        }
        flash("Done.");
        setTimeout(() => window.location.reload(), 400);
      } catch (e) {
        flash(e.message, true);
      }
    });
  }
  for (const form of document.querySelectorAll("form.upload")) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const file = form.elements.file.files[0];
      if (!file) return;
      const q = new URLSearchParams({ name: form.elements.name.value, replace: form.elements.replace.checked });
      try {
        await api("POST", `${form.dataset.upload}?${q}`, file, file.type || "application/octet-stream");
        flash("Uploaded.");
        setTimeout(() => window.location.reload(), 400);
      } catch (e) {
        flash(e.message, true);
      }
    });
  }
  for (const b of document.querySelectorAll("[data-logout]")) {
    b.addEventListener("click", async () => {
      try { await api("POST", "/api/v1/logout", {}); } catch (_) { /* gone already */ }
      window.location.href = "/login";
    });
  }
}

function wireLogin() {
  const form = document.getElementById("login");
  if (!form) return;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { username: form.elements.username.value, password: form.elements.password.value };
    if (form.elements.totp.value) body.totp = form.elements.totp.value;
    try {
      await api("POST", "/api/v1/login", body);
      window.location.href = "/";
    } catch (e) {
      if (e.code === "totp_required") {
        document.getElementById("totp-row").hidden = false;
        form.elements.totp.focus();
        flash("Enter the code from your authenticator.");
      } else {
        flash(e.message, true);
      }
    }
  });
}

function wireTotp() {
  const b = document.getElementById("totp-setup");
  if (!b) return;
  b.addEventListener("click", async () => {
    try {
      const r = await api("POST", "/api/v1/me/totp/setup", {});
      const qr = document.getElementById("totp-qr");
      qr.replaceChildren(new DOMParser().parseFromString(r.qr_svg, "image/svg+xml").documentElement);
      document.getElementById("totp-secret").textContent = r.secret;
      document.getElementById("totp-enrol").hidden = false;
      b.hidden = true;
    } catch (e) {
      flash(e.message, true);
    }
  });
}

// ---- the live dashboard ----

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function tableOf(headers, rows) {
  if (!rows.length) return el("p", "Nothing yet.", "muted");
  const t = el("table");
  const head = el("tr");
  for (const h of headers) head.append(el("th", h));
  t.append(el("thead"));
  t.tHead.append(head);
  const body = el("tbody");
  for (const r of rows) {
    const tr = el("tr");
    for (const c of r) tr.append(el("td", c));
    body.append(tr);
  }
  t.append(body);
  return t;
}

let endsAt = null;
let skew = 0;

function countdown() {
  const c = document.getElementById("countdown");
  if (!c || !endsAt) return;
  let s = Math.max(0, Math.round((endsAt - (Date.now() - skew)) / 1000));
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  c.textContent = `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
}

function kv(pairs) {
  const dl = el("dl");
  for (const [k, v] of pairs) {
    if (v === undefined || v === null || v === "") continue;
    dl.append(el("dt", k));
    const dd = el("dd", v);
    if (k === "Ends in") dd.id = "countdown";
    dl.append(dd);
  }
  return dl;
}

function renderDashboard(d) {
  skew = Date.now() - d.built_at_ms;
  const a = d.auction;
  const auction = document.getElementById("auction");
  if (a) {
    endsAt = Date.parse(a.ends_at);
    auction.className = "";
    auction.replaceChildren(
      el("p", a.item, "item"),
      kv([["State", a.state], ["Price", `${a.price_eth} ETH`], ["Leader", a.leader ? `@${a.leader}` : "none yet"],
          ["Ends in", "…"], ["Bids", `${a.bids_accepted} accepted, ${a.bids_rejected} refused`], ["Extensions", a.extensions]]),
    );
    countdown();
  } else {
    endsAt = null;
    auction.replaceChildren(el("span", "No auction is running.", "muted"));
  }
  const c = d.campaign;
  document.getElementById("campaign").replaceChildren(c ? el("span", `${c.name}: day ${c.day} of ${c.days}`) : el("span", "—", "muted"));
  const s = d.stream || {};
  document.getElementById("stream").replaceChildren(
    s.running ? kv([["State", s.connected ? "live" : (s.publishing ? "connecting" : "recording only")], ["FPS", s.fps],
        ["Bit rate", s.bitrate_kbps !== undefined ? `${s.bitrate_kbps} kb/s` : ""], ["Dropped frames", s.dropped_frames],
        ["Reconnects", s.reconnects], ["Encoder", s.encoder],
        ["Ladder", s.rung ? `${s.rung} (${s.steps_down} down, ${s.steps_up} up)` : ""],
        ["Audio", audioText(s)]])
      : el("span", "not streaming", "muted"));
  const x = d.x_spend;
  const usd = (v) => `$${Number(v || 0).toFixed(2)}`;
  document.getElementById("x-spend").replaceChildren(x
    ? kv([["Today", usd(x.today_usd)], ["This month", x.budget_usd > 0 ? `${usd(x.month_usd)} of ${usd(x.budget_usd)}` : usd(x.month_usd)],
        ["This campaign", usd(x.campaign_usd)]])
    : el("span", "X not connected", "muted"));
  const h = d.host || {};
  document.getElementById("host").replaceChildren(kv([["Mood", h.mood], ["Said", h.line]]));
  const alerts = document.getElementById("alerts");
  alerts.replaceChildren(...(d.alerts || []).map((x) => el("p", x.message, `alert ${x.level}`)));
  document.getElementById("last-bids").replaceChildren(tableOf(["Bidder", "ETH", "Status", "At"],
    d.last_bids.map((b) => [`@${b.handle}`, b.amount_eth, b.reason ? `${b.status}: ${b.reason}` : b.status, b.at])));
  document.getElementById("last-tweets").replaceChildren(tableOf(["From", "Text", "Meaning", "At"],
    d.last_tweets.map((t) => [`@${t.handle}`, t.text, t.reason ? `${t.kind}: ${t.reason}` : t.kind, t.at])));
  document.getElementById("updated").textContent = new Date(d.built_at_ms).toLocaleTimeString();
}

// The program audio's level in words (the Stream page's meter and the dashboard's stream card).
function audioText(s) {
  if (!s || s.audio_peak_dbfs === undefined) return "";
  return `peak ${s.audio_peak_dbfs.toFixed(1)} dBFS, RMS ${s.audio_rms_dbfs.toFixed(1)} dBFS, ` +
    `loudness ${s.audio_loudness_lufs.toFixed(1)} LUFS (last 3 s)`;
}

// The Stream page's audio meter, read twice a second while the page is open.
function wireAudioMeter() {
  const root = document.querySelector("[data-audio]");
  if (!root) return;
  const peak = document.getElementById("audio-peak");
  const loud = document.getElementById("audio-loudness");
  const text = document.getElementById("audio-level");
  const read = async () => {
    try {
      const r = await fetch(root.dataset.audio, { headers: { accept: "application/json" } });
      if (!r.ok) return;
      const s = (await r.json()).stats || {};
      if (s.audio_peak_dbfs === undefined) { text.textContent = "not streaming"; peak.value = -60; loud.value = -60; return; }
      peak.value = s.audio_peak_dbfs;
      loud.value = s.audio_loudness_lufs;
      text.textContent = audioText(s);
    } catch (_) { /* the next read tries again */ }
  };
  setInterval(read, 500);
}

function wireLive() {
  const root = document.querySelector("[data-live]");
  if (!root) return;
  const source = new EventSource(root.dataset.live);
  source.addEventListener("dashboard", (ev) => {
    try { renderDashboard(JSON.parse(ev.data)); } catch (e) { flash(`Bad update: ${e.message}`, true); }
  });
  source.onerror = () => flash("Live updates interrupted; reconnecting…", true);
  source.onopen = () => flash("");
  setInterval(countdown, 1000);
}

function wirePreview() {
  for (const img of document.querySelectorAll("img[data-refresh]")) {
    const base = img.getAttribute("src");
    setInterval(() => { img.src = `${base}?t=${Date.now()}`; }, Number(img.dataset.refresh) || 2000);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  wireForms();
  wireLogin();
  wireTotp();
  wireLive();
  wirePreview();
  wireAudioMeter();
});
