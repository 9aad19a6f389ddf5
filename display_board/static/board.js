// The hall's display board (URL and settings: display_board/templates/board.html).
// Live data comes only through HallLive (snapshot first, then seq-stamped events, resync on a gap
// or reconnect). Calls are spoken by one queue: one at a time, in call order, none dropped,
// a recall spoken again, and never an old call twice after a resync.
(function () {
  "use strict";

  var cfg = JSON.parse(document.getElementById("board-config").textContent);
  var TEXT = {
    ar: {ticket: "رقم التذكرة", window: "الشباك", windowN: "شباك", recent: "النداءات السابقة",
         windows: "الشبابيك", waiting: "في الانتظار", closed: "مغلق", paused: "استراحة", free: "متاح",
         offline: "غير متصل — جارٍ إعادة الاتصال", recall: "نداء متكرر", none: "لا أحد في الانتظار",
         more: "خدمات أخرى",
         // today's estimate accuracy: k of every 10 (or k of n while fewer than 10 were judged)
         acc10: "{k} من كل {ten} تقديرات اليوم {was} في حدود {five} دقائق",
         accN: "{k} من {n} تقديرات اليوم {was} في حدود {five} دقائق", was1: "كان", was: "كانت"},
    en: {ticket: "Ticket", window: "Window", windowN: "Window", recent: "Previous calls",
         windows: "Windows", waiting: "Waiting", closed: "Closed", paused: "Break", free: "Open",
         offline: "Offline — reconnecting", recall: "Called again", none: "No one waiting",
         more: "more services",
         acc10: "{k} out of {ten} estimates today {was} within {five} minutes",
         accN: "{k} of {n} estimates today {was} within {five} minutes", was1: "was", was: "were"}
  };
  var T = TEXT[cfg.lang] || TEXT.ar;
  var MAX_CALLS = 12;          // what the snapshot carries
  var CATCH_UP_MS = 90000;     // a call missed while offline is spoken only if younger than this
  var GAP_MS = 350;            // a breath between two announcements
  var QUEUED_GAP_MS = 120;     // ... when the next one is already waiting (its WAV starts with silence)
  var OFFLINE_MARK_MS = 2000;  // a blip shorter than this is not worth a mark
  var FLASH_MS = 12000;        // how long a called window's tile stays highlighted

  var skew = (cfg.server_now || Date.now()) - Date.now();   // the TV's clock may be wrong
  function serverNow() { return Date.now() + skew; }
  // English boards write Western digits unless the address asks otherwise (&digits=eastern); an
  // Arabic board follows &digits= or the hall file's [board] digits (cfg.digits has both).
  var DIGITS = cfg.lang === "en" && !new URLSearchParams(window.location.search).get("digits") ? "western" : cfg.digits;
  document.body.setAttribute("data-digits", DIGITS);
  var digits = DIGITS === "eastern" ? HallLive.easternDigits : function (t) { return String(t); };
  var locale = (cfg.lang === "ar" ? "ar-EG" : "en-GB") + (DIGITS === "eastern" ? "-u-nu-arab" : "-u-nu-latn");

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  // A ticket number in big type: its separator spaced and drawn long (fonts.css .tn-sep), so
  // "A-٠٠١" never reads as "A٠٠٠١" from afar; the text stays "A-٠٠١".
  function setTicket(node, number) {
    var text = digits(number), i = text.indexOf("-");
    node.textContent = "";
    if (i < 0) { node.textContent = text; return node; }
    node.appendChild(document.createTextNode(text.slice(0, i)));
    node.appendChild(el("span", "tn-sep", "-"));
    node.appendChild(document.createTextNode(text.slice(i + 1)));
    return node;
  }
  function toSet(list) {
    var s = {};
    (list || []).forEach(function (x) { s[x] = true; });
    return s;
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-text]"), function (e) {
    e.textContent = T[e.getAttribute("data-text")] || "";
  });

  // ----- zone filter (see the template's comment) ------------------------------------------------
  var zoneWindows = cfg.windows ? toSet(cfg.windows) : null;
  var zoneServices = cfg.services ? toSet(cfg.services) : null;
  function callShown(c) {
    return (!zoneWindows || zoneWindows[c.window]) && (!zoneServices || zoneServices[c.service]);
  }
  function windowShown(w) {
    if (zoneWindows) return !!zoneWindows[w.number];
    if (zoneServices) return (w.services || []).some(function (s) { return zoneServices[s]; });
    return true;
  }

  // ----- state ------------------------------------------------------------------------------------
  var state = {calls: [], windows: {}, order: [], waiting: {}, message: null, accuracy: null};
  var booted = false;
  var flashTimer = null;
  var calledAt = {};           // window number -> time its tile was last highlighted

  // ----- rendering --------------------------------------------------------------------------------
  function serviceName(code) {
    var n = cfg.service_names[code];
    return n ? (n[cfg.lang] || n.ar) : code;
  }

  // The newest call, as things stand now: a recall badge and the highlight only while its window
  // still has that ticket called; once the window is free or has moved on, the call stays shown
  // (dimmed) as the last one, without the badge.
  function callIsCurrent(c) {
    var w = c && state.windows[c.window];
    return !!(w && w.current === c.number);
  }
  function renderNow() {
    var c = state.calls[0];
    if (c) setTicket($("now-number"), c.number); else $("now-number").textContent = "—";
    $("now-window").textContent = c ? digits(c.window) : "—";
    var current = callIsCurrent(c);
    var w = c && state.windows[c.window];
    $("now-recall").hidden = !(c && c.recall && current && w.status === "called");
    $("now").setAttribute("data-call-id", c ? c.call_id : "");
    $("now").setAttribute("data-current", c && current ? "1" : "0");
    $("now").classList.toggle("idle", !c);
    $("now").classList.toggle("stale", !!c && !current);
    if (c && !current) $("now").classList.remove("fresh", "flash");
  }

  function renderCalls() {
    var list = $("calls");
    list.textContent = "";
    var shown = {};
    state.calls.slice(1).forEach(function (c) {
      if (shown[c.number] || (state.calls[0] && state.calls[0].number === c.number)) return;  // a recall
      shown[c.number] = true;
      var li = el("li");
      li.setAttribute("data-call-id", c.call_id);
      var num = setTicket(el("span", "call-number"), c.number);
      num.setAttribute("dir", "ltr");
      li.appendChild(num);
      var win = el("span", "call-window", digits(c.window));
      win.setAttribute("data-label", T.windowN);
      li.appendChild(win);
      list.appendChild(li);
    });
    // Only whole rows: a row cut in half is harder to read than one fewer row.
    while (list.lastChild && list.lastChild.offsetTop + list.lastChild.offsetHeight > list.clientHeight + 1) {
      list.removeChild(list.lastChild);
    }
    markSpeaking(speakingId);
  }

  function renderWindows() {
    var grid = $("windows");
    grid.textContent = "";
    var now = Date.now();
    state.order.forEach(function (n) {
      var w = state.windows[n];
      if (!windowShown(w)) return;
      var tile = el("div", "tile " + (w.state || "closed"));
      tile.setAttribute("data-window", n);
      if (w.current && w.status === "called" && calledAt[n] && now - calledAt[n] < FLASH_MS) {
        tile.className += " called";
      }
      var badge = el("span", "tile-number", digits(n));
      badge.setAttribute("title", T.windowN + " " + digits(n));
      tile.appendChild(badge);
      if (w.current) {
        var t = setTicket(el("span", "tile-ticket"), w.current);
        t.setAttribute("dir", "ltr");
        tile.appendChild(t);
      } else {
        tile.appendChild(el("span", "tile-state", w.state === "open" ? T.free :
                                                  w.state === "paused" ? T.paused : T.closed));
      }
      grid.appendChild(tile);
    });
  }

  function waitingServices() {
    if (zoneServices) return {codes: Object.keys(zoneServices), keepZero: true};
    if (zoneWindows) {
      var s = {};
      state.order.forEach(function (n) {
        if (zoneWindows[n]) (state.windows[n].services || []).forEach(function (c) { s[c] = true; });
      });
      return {codes: Object.keys(s), keepZero: false};
    }
    return {codes: Object.keys(state.waiting), keepZero: false};
  }

  function renderWaiting() {
    var box = $("waiting");
    box.textContent = "";
    var pick = waitingServices();
    var rows = pick.codes.map(function (code) { return {code: code, n: state.waiting[code] || 0}; })
      .filter(function (r) { return pick.keepZero || r.n > 0; });
    rows.sort(function (a, b) { return b.n - a.n || serviceName(a.code).localeCompare(serviceName(b.code)); });
    if (!rows.length) {
      box.appendChild(el("span", "chip none", T.none));
      return;
    }
    var chips = rows.map(function (r) {
      var chip = el("span", "chip");
      chip.setAttribute("data-service", r.code);
      chip.appendChild(el("span", "chip-name", serviceName(r.code)));
      chip.appendChild(el("span", "chip-count", digits(r.n)));
      box.appendChild(chip);
      return chip;
    });
    // Whatever does not fit is summed up in one last chip, rather than cut off mid-row.
    var limit = box.clientHeight + 1;
    function fits(e) { return e.offsetTop + e.offsetHeight <= limit; }
    var k = chips.length;
    while (k > 0 && !fits(chips[k - 1])) box.removeChild(chips[--k]);
    if (k < chips.length) {
      var more = el("span", "chip more");
      box.appendChild(more);
      do {
        more.textContent = "+" + digits(chips.length - k) + " " + T.more;
        if (fits(more) || k === 0) break;
        box.removeChild(chips[--k]);
      } while (true);
    }
  }

  function renderMessage() {
    var m = $("message");
    m.textContent = state.message || "";
    m.hidden = !state.message;
  }

  // "8 out of 10 estimates today were within 5 minutes": only when the hall shows it and at least
  // five estimates were judged today (fewer say nothing). Under ten, the plain "k of n".
  var ACCURACY_MIN = 5;
  function renderAccuracy() {
    var box = $("accuracy"), a = state.accuracy;
    var show = !!(a && a.of >= ACCURACY_MIN);
    var changed = box.hidden === show;
    box.hidden = !show;
    if (show) {
      var ten = a.of >= 10;
      var k = ten ? Math.round(10 * a.within / a.of) : a.within;
      box.textContent = T[ten ? "acc10" : "accN"].replace("{k}", digits(k)).replace("{ten}", digits(10))
        .replace("{n}", digits(a.of)).replace("{five}", digits(5)).replace("{was}", k === 1 ? T.was1 : T.was);
      box.setAttribute("data-within", a.within);
      box.setAttribute("data-of", a.of);
    } else {
      box.textContent = "";
    }
    if (changed) renderTicker();   // the ticker's width changed
  }

  // The accuracy changes with each call; the snapshot has it, events do not: a board of a hall that
  // shows it reads GET /board a few seconds after calls (coalesced), and every few minutes anyway.
  var accuracyTimer = null;
  function refreshAccuracySoon(delay) {
    if (state.accuracy === null || accuracyTimer) return;
    accuracyTimer = setTimeout(function () {
      accuracyTimer = null;
      fetch("/api/v1/halls/" + encodeURIComponent(cfg.hall) + "/board", {cache: "no-store"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (b) { if (b && "accuracy" in b) { state.accuracy = b.accuracy; renderAccuracy(); } })
        .catch(function () { /* the next call or snapshot tries again */ });
    }, delay);
  }

  function renderTicker() {
    var text = (cfg.news && (cfg.news[cfg.lang] || cfg.news.ar)) || "";
    var box = $("ticker"), track = $("ticker-track");
    box.hidden = !text;
    if (!text) return;
    track.textContent = text;
    var w = track.scrollWidth, boxW = box.clientWidth;
    var pxPerSecond = Math.max(60, box.clientHeight * 1.6);   // about 1.6 line heights a second
    // Arabic reads from the right, so its beginning must enter first: it travels left to right.
    var rtl = document.documentElement.dir === "rtl";
    track.style.setProperty("--ticker-from", (rtl ? -w : boxW) + "px");
    track.style.setProperty("--ticker-to", (rtl ? boxW : -w) + "px");
    track.style.setProperty("--ticker-duration", ((w + boxW) / pxPerSecond).toFixed(1) + "s");
  }

  function renderAll() {
    renderNow();
    renderCalls();
    renderWindows();
    renderWaiting();
    renderMessage();
  }

  function flash() {
    var now = $("now");
    now.classList.remove("flash");
    void now.offsetWidth;  // restart the animation for a call that follows quickly
    now.classList.add("flash", "fresh");
    clearTimeout(flashTimer);
    flashTimer = setTimeout(function () { now.classList.remove("fresh"); }, FLASH_MS);
  }

  // ----- clock ------------------------------------------------------------------------------------
  var timeFmt = new Intl.DateTimeFormat(locale, {timeZone: cfg.timezone, hour: "numeric", minute: "2-digit"});
  var dateFmt = new Intl.DateTimeFormat(locale, {timeZone: cfg.timezone, weekday: "long", day: "numeric",
                                                 month: "long", year: "numeric"});
  function tick() {
    var d = new Date(serverNow());
    $("time").textContent = timeFmt.format(d);
    $("date").textContent = dateFmt.format(d);
  }

  // ----- sound: one queue, one call at a time -----------------------------------------------------
  var voice = $("voice");
  var queue = [];              // calls waiting to be spoken, in call_id order
  var playing = false;
  var unlocked = !!cfg.autoplay;
  var seen = {};               // call_id -> true once queued (or known from the first snapshot)
  var seenIds = [];
  var watermark = 0;           // newest call of the first snapshot: spoken before this page opened
  var audioLog = [];
  var speakingId = null;
  var lastEnded = 0;           // Date.now() when the last announcement ended (0: none yet)
  var audioCtx = null;

  Object.defineProperty(window, "boardAudioLog", {
    get: function () { return audioLog.map(function (e) { return Object.freeze(Object.assign({}, e)); }); }
  });

  function markSeen(id) {
    if (seen[id]) return;
    seen[id] = true;
    seenIds.push(id);
    if (seenIds.length > 1000) delete seen[seenIds.shift()];  // ids only grow: the old ones never return
  }

  function isRecent(c) {
    var at = Date.parse(c.at);
    return !isNaN(at) && serverNow() - at <= CATCH_UP_MS;
  }

  function enqueue(c) {
    if (seen[c.call_id]) return;
    markSeen(c.call_id);
    if (!unlocked && queue.length >= 50) {   // nobody touched the board for hours: keep it bounded
      var cutoff = Date.now() - CATCH_UP_MS;
      queue = queue.filter(function (it) { return it.queued >= cutoff; }).slice(-49);
    }
    var item = {call: c, queued: Date.now()};
    var i = queue.length;
    while (i > 0 && queue[i - 1].call.call_id > c.call_id) i--;
    queue.splice(i, 0, item);
    pump();
  }

  function markSpeaking(id) {
    speakingId = id;
    Array.prototype.forEach.call(document.querySelectorAll(".speaking"), function (e) {
      e.classList.remove("speaking");
    });
    if (id === null) return;
    if ($("now").getAttribute("data-call-id") === String(id)) $("now").classList.add("speaking");
    var li = document.querySelector('#calls li[data-call-id="' + id + '"]');
    if (li) li.classList.add("speaking");
  }

  function chime() {
    // Heard when a call's WAV cannot be loaded: citizens still hear that something was called.
    return new Promise(function (resolve) {
      try {
        audioCtx = audioCtx || new (window.AudioContext || window.webkitAudioContext)();
        var t = audioCtx.currentTime;
        [[880, 0, 0.28], [660, 0.28, 0.34]].forEach(function (p) {
          var o = audioCtx.createOscillator(), g = audioCtx.createGain();
          o.frequency.value = p[0];
          g.gain.setValueAtTime(0.0001, t + p[1]);
          g.gain.exponentialRampToValueAtTime(0.4, t + p[1] + 0.012);
          g.gain.exponentialRampToValueAtTime(0.0001, t + p[1] + p[2]);
          o.connect(g).connect(audioCtx.destination);
          o.start(t + p[1]);
          o.stop(t + p[1] + p[2] + 0.02);
        });
      } catch (e) { /* no Web Audio: silence, but the call is on screen */ }
      setTimeout(resolve, 700);
    });
  }

  function queuedUrl(url) {
    // The same call without the chime and in the short form, for one that follows another.
    return url + (url.indexOf("?") < 0 ? "?" : "&") + "queued=1";
  }

  function pump() {
    if (playing || !unlocked || !queue.length) return;
    var item = queue.shift();
    var c = item.call;
    playing = true;
    // A call that waited behind the one just spoken follows it without a chime, in the short
    // form: a burst is spoken back to back and the voice catches up with the screen.
    var behind = lastEnded > 0 && item.queued <= lastEnded && Date.now() - lastEnded < QUEUED_GAP_MS + 1000;
    var entry = {call_id: c.call_id, number: c.number, window: c.window, recall: !!c.recall,
                 queued: behind, started: performance.now(), ended: null, ok: false, duration: null};
    audioLog.push(entry);
    if (audioLog.length > 500) audioLog.shift();
    markSpeaking(c.call_id);
    var done = false;
    var guard = setTimeout(function () { finish(false); }, 30000);   // a stalled download never blocks

    function finish(ok) {
      if (done) return;
      done = true;
      clearTimeout(guard);
      voice.onended = voice.onerror = voice.onloadedmetadata = voice.onplaying = null;
      voice.pause();
      entry.ended = performance.now();
      entry.ok = ok;
      markSpeaking(null);
      playing = false;
      lastEnded = Date.now();
      // Queued calls carry their own breath of silence: a shorter pause keeps a burst moving.
      setTimeout(pump, queue.length ? QUEUED_GAP_MS : GAP_MS);
    }
    function failed() {
      if (done) return;
      clearTimeout(guard);
      guard = setTimeout(function () { finish(false); }, 3000);
      chime().then(function () { finish(false); });
    }
    voice.onplaying = function () { if (!done) entry.started = performance.now(); };
    voice.onloadedmetadata = function () {
      entry.duration = voice.duration;
      clearTimeout(guard);
      guard = setTimeout(function () { finish(false); }, (voice.duration + 10) * 1000);
    };
    voice.onended = function () { finish(true); };
    voice.onerror = failed;
    voice.src = behind ? queuedUrl(c.audio_url) : c.audio_url;
    var p = voice.play();
    if (p && p.catch) {
      p.catch(function (err) {
        if (done) return;
        if (err && err.name === "NotAllowedError") {
          // The browser wants a touch first: keep the call, ask once, try again after the touch.
          done = true;
          clearTimeout(guard);
          voice.onended = voice.onerror = voice.onloadedmetadata = voice.onplaying = null;
          audioLog.pop();
          queue.unshift(item);
          markSpeaking(null);
          playing = false;
          unlocked = false;
          showGate();
        } else {
          failed();
        }
      });
    }
  }

  function showGate() { $("sound-gate").hidden = false; }

  function unlock() {
    if (unlocked) return;
    unlocked = true;
    $("sound-gate").hidden = true;
    try {
      audioCtx = audioCtx || new (window.AudioContext || window.webkitAudioContext)();
      audioCtx.resume();
    } catch (e) { /* the chime fallback is optional */ }
    // Calls that waited long for the touch are history now; the rest play in order.
    var cutoff = Date.now() - CATCH_UP_MS;
    queue = queue.filter(function (it) { return it.queued >= cutoff; });
    pump();
  }
  ["click", "touchend", "keydown"].forEach(function (name) {
    document.addEventListener(name, unlock, {capture: true});
  });
  if (!unlocked) showGate();

  // ----- live stream ------------------------------------------------------------------------------
  function sortCalls(list) {
    return list.filter(callShown).sort(function (a, b) { return b.call_id - a.call_id; }).slice(0, MAX_CALLS);
  }

  function onSnapshot(snap) {
    var b = snap.board;
    state.windows = {};
    state.order = [];
    b.windows.forEach(function (w) { state.windows[w.number] = w; state.order.push(w.number); });
    state.waiting = (snap.queue && snap.queue.waiting) || b.waiting || {};
    state.message = b.message;
    state.accuracy = b.accuracy === undefined ? null : b.accuracy;
    renderAccuracy();
    var before = state.calls[0] ? state.calls[0].call_id : null;
    state.calls = sortCalls(b.calls);
    var missed = [];
    state.calls.slice().reverse().forEach(function (c) {
      if (!booted) {
        watermark = Math.max(watermark, c.call_id);
        markSeen(c.call_id);
      } else if (!seen[c.call_id] && c.call_id > watermark && isRecent(c)) {
        missed.push(c);
      } else {
        markSeen(c.call_id);
      }
    });
    booted = true;
    missed.forEach(function (c) { calledAt[c.window] = Date.now(); });
    document.body.setAttribute("data-seq", snap.seq);
    renderAll();
    if (state.calls[0] && state.calls[0].call_id !== before && missed.length) flash();
    missed.forEach(enqueue);
  }

  var callLog = [];  // every call put on screen, by id (diagnostics, like boardAudioLog)
  Object.defineProperty(window, "boardCallLog", {get: function () { return callLog.slice(); }});

  function onCall(c) {
    var w = state.windows[c.window];
    if (w) { w.current = c.number; w.status = "called"; }
    calledAt[c.window] = Date.now();
    renderWindows();
    if (!callShown(c)) return;
    callLog.push(c.call_id);
    if (callLog.length > 500) callLog.shift();
    state.calls = sortCalls([c].concat(state.calls.filter(function (x) { return x.call_id !== c.call_id; })));
    renderNow();
    renderCalls();
    flash();
    // a call fetched after a gap (HallLive's missed calls) is spoken once, and only while still recent
    if (c.missed && !isRecent(c)) markSeen(c.call_id); else enqueue(c);
  }

  function onEvent(name, d) {
    document.body.setAttribute("data-seq", d.seq);
    if (name === "ticket_called") {
      onCall(d);
      refreshAccuracySoon(4000 + Math.round(Math.random() * 4000));
    } else if (name === "window_changed") {
      var w = state.windows[d.number];
      if (!w) return;
      if ("current" in d) { w.current = d.current; w.status = d.current ? (d.status || w.status) : null; }
      if ("state" in d) w.state = d.state;
      if ("services" in d) w.services = d.services;
      renderWindows();
      if (state.calls[0] && state.calls[0].window === d.number) renderNow();
      if ("services" in d && zoneWindows) renderWaiting();
    } else if (name === "queue_changed") {
      state.waiting = d.waiting || {};
      renderWaiting();
    } else if (name === "board_message") {
      state.message = d.message;
      renderMessage();
    }
  }

  var offlineTimer = null;
  function onStatus(s) {
    document.body.setAttribute("data-state", s);
    clearTimeout(offlineTimer);
    if (s === "online") {
      $("offline").hidden = true;
    } else {
      offlineTimer = setTimeout(function () { $("offline").hidden = false; }, OFFLINE_MARK_MS);
    }
  }

  // The token stays in the address (the TV reopens it after a power cut) and is not repeated in the
  // page; joining with it makes the board a tracked device, so supervisors see it go offline.
  var token = new URLSearchParams(window.location.search).get("device") || undefined;
  var live = new HallLive({hall: cfg.hall, role: "board", device: cfg.device, auth: token,
                           onSnapshot: onSnapshot, onEvent: onEvent, onStatus: onStatus});
  window.boardLive = live;     // for diagnostics from the browser console
  tick();
  setInterval(tick, 1000);
  setInterval(function () {           // let a highlighted tile fade back after FLASH_MS
    var now = Date.now();
    var due = Object.keys(calledAt).some(function (n) {
      return now - calledAt[n] >= FLASH_MS && now - calledAt[n] < FLASH_MS + 2500;
    });
    if (due) renderWindows();
  }, 2000);
  renderTicker();
  window.addEventListener("resize", renderTicker);
  setInterval(function () { refreshAccuracySoon(0); }, 5 * 60 * 1000);
  if (window.ResizeObserver) {
    // Rows that fit change when the message bar comes or goes, or the TV turns: fit them again.
    new ResizeObserver(function () { if (booted) renderCalls(); }).observe($("calls"));
    new ResizeObserver(function () { if (booted) renderWaiting(); }).observe($("waiting"));
  }
  live.connect();
})();
