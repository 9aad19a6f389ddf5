// The citizen's phone page for one ticket (/t/<token>): number, people ahead, estimate, live.
// When called: the window number big, a short beep and a vibration where the phone allows.
// Live through HallLive (role "ticket"); the figures always come from GET /api/v1/tickets/<token>.
(function () {
  "use strict";

  var root = document.getElementById("phone");
  var TOKEN = root.dataset.token;
  var HALL = root.dataset.hall;
  var DIGITS = root.dataset.digits;
  var TZ = root.dataset.tz;
  var LANG_KEY = "hall-phone-lang";

  var T = {
    ar: {
      your_number: "رقم تذكرتك", go_to_window: "تفضل إلى الشباك", window_label: "رقم الشباك",
      called_again: "نداء مرة أخرى: تفضل إلى الشباك",
      ahead: "أمامك", you_are_next: "أنت التالي", nobody_ahead: "لا أحد أمامك", expected_wait: "الانتظار المتوقع",
      called_now: "استعد، سيُنادى عليك الآن",
      keep_open: "أبقِ هذه الصفحة مفتوحة: ستظهر رسالة ويرن هاتفك عند ندائك.",
      enable_sound: "تفعيل التنبيه الصوتي", sound_on: "التنبيه الصوتي مفعّل",
      cancel: "إلغاء تذكرتي", confirm_cancel: "هل تريد إلغاء تذكرتك؟ لا يمكن التراجع عن ذلك.",
      yes_cancel: "نعم، ألغِ التذكرة", keep: "لا، احتفظ بها",
      cancel_failed: "تعذر إلغاء التذكرة الآن. أعد المحاولة بعد قليل أو اسأل موظف الاستقبال.",
      cancel_too_late: "لا يمكن إلغاء التذكرة الآن: تم النداء عليها أو انتهت.",
      serving: "تتم خدمتك الآن في الشباك {0}.",
      done: "انتهت خدمتك. شكرًا لزيارتك.",
      no_show: "نودي على تذكرتك ولم تحضر. إن كنت ما زلت في القاعة فتوجه إلى موظف الاستقبال.",
      cancelled: "تم إلغاء هذه التذكرة.",
      parked: "تذكرتك معلقة مؤقتًا لدى الشباك {0}؛ سيناديك مرة أخرى عندما تكون جاهزًا.",
      transferred: "تم تحويل تذكرتك إلى: {0}. مكانك في الدور محفوظ.",
      no_window: "لا يوجد شباك مفتوح لهذه الخدمة الآن",
      person_1: "شخص واحد", person_2: "شخصان", persons_few: "{0} أشخاص", persons_many: "{0} شخصًا",
      file: "رقم ملفك: {0} — تابع حالة الملف",
      priority: "أولوية: {0}",
      updated: "آخر تحديث {0}", offline: "غير متصل — جارٍ إعادة الاتصال…",
      footer: "لا تشارك هذا الرابط: من يملكه يستطيع إلغاء تذكرتك.",
      title_called: "الشباك {0} — تفضل", title: "تذكرتك",
      elderly: "كبار السن", disabled: "ذوو الهمم", pregnant: "سيدة حامل", appointment: "موعد مسبق"
    },
    en: {
      your_number: "Your number", go_to_window: "Please go to window", window_label: "window number",
      called_again: "Called again: please go to window",
      ahead: "ahead of you", you_are_next: "You are next", nobody_ahead: "Nobody ahead of you",
      expected_wait: "expected wait", called_now: "Get ready: you will be called now",
      keep_open: "Keep this page open: it shows a message and your phone rings when you are called.",
      enable_sound: "Turn on the sound alert", sound_on: "Sound alert is on",
      cancel: "Cancel my ticket", confirm_cancel: "Cancel your ticket? This cannot be undone.",
      yes_cancel: "Yes, cancel it", keep: "No, keep it",
      cancel_failed: "The ticket could not be cancelled now. Try again shortly or ask at reception.",
      cancel_too_late: "The ticket can no longer be cancelled: it was called or has ended.",
      serving: "You are being served at window {0}.",
      done: "Your service is complete. Thank you for your visit.",
      no_show: "Your ticket was called and you did not come. If you are still in the hall, ask at reception.",
      cancelled: "This ticket has been cancelled.",
      parked: "Your ticket is on hold at window {0}; it will call you again when you are ready.",
      transferred: "Your ticket was transferred to: {0}. You keep your place in the queue.",
      no_window: "No window serves this service right now",
      person_1: "1 person", person_2: "2 people", persons_few: "{0} people", persons_many: "{0} people",
      file: "File number {0}: follow its status",
      priority: "Priority: {0}",
      updated: "Updated {0}", offline: "Offline — reconnecting…",
      footer: "Do not share this link: whoever has it can cancel your ticket.",
      title_called: "Window {0} — your turn", title: "Your ticket",
      elderly: "Elderly", disabled: "Disability", pregnant: "Pregnant", appointment: "Appointment"
    }
  };

  var state = {
    lang: "ar", ticket: JSON.parse(document.getElementById("initial").textContent), updated: new Date(),
    online: true, transferred: null, audio: null, refetchTimer: null, fetching: false, again: false,
    lastQueue: null, recall: false
  };

  function $(id) { return document.getElementById(id); }
  function t(key) {
    var s = (T[state.lang] && T[state.lang][key]) || T.en[key] || key;
    for (var i = 1; i < arguments.length; i++) s = s.replace("{" + (i - 1) + "}", arguments[i]);
    return s;
  }
  function num(v) {
    var s = String(v);
    return state.lang === "ar" && DIGITS === "eastern" ? HallLive.easternDigits(s) : s;
  }
  // A number inside a sentence: its own left-to-right run in written order (fonts.css .num-run).
  function numRun(text) {
    var b = document.createElement("bdi");
    b.className = "num-run";
    b.dir = "ltr";
    b.textContent = text;
    return b;
  }
  function fill(node, template, number) {
    var parts = template.split("{0}");
    node.textContent = "";
    node.appendChild(document.createTextNode(parts[0]));
    if (parts.length > 1) { node.appendChild(numRun(number)); node.appendChild(document.createTextNode(parts[1])); }
  }
  // The ticket number in big type: the separator spaced and drawn long, so "A-٠٠١" never reads
  // as "A٠٠٠١" (fonts.css .tn-sep); the text stays "A-٠٠١".
  function ticketNumber(node, number) {
    var text = num(number), i = text.indexOf("-");
    node.textContent = "";
    if (i < 0) { node.textContent = text; return; }
    node.appendChild(document.createTextNode(text.slice(0, i)));
    var sep = document.createElement("span");
    sep.className = "tn-sep";
    sep.textContent = "-";
    node.appendChild(sep);
    node.appendChild(document.createTextNode(text.slice(i + 1)));
  }
  function counted(n, one, two, few, many) {
    if (n === 1) return t(one);
    if (n === 2) return t(two);
    var rest = n % 100;
    return (rest >= 3 && rest <= 10) ? t(few, num(n)) : t(many, num(n));
  }
  // The wait as an honest range (eta.js), from the server's own eta_range_seconds.
  function showEta(node, r) {
    return HallEta.show(node, r, {lang: state.lang,
                                  digits: state.lang === "ar" && DIGITS === "eastern" ? "eastern" : "western"});
  }

  // ----- rendering ---------------------------------------------------------------------------------
  function render() {
    var tk = state.ticket;
    root.dataset.status = tk.status;
    root.dataset.window = tk.window || "";
    root.dataset.position = tk.position === null || tk.position === undefined ? "" : tk.position;
    root.dataset.next = tk.next ? "1" : "0";
    ticketNumber($("number"), tk.number);
    $("service").textContent = tk.service_name ? (tk.service_name[state.lang] || tk.service_name.ar) : tk.service;
    var pr = $("priority");
    pr.hidden = !tk.priority;
    pr.textContent = tk.priority ? t("priority", t(tk.priority)) : "";

    var called = tk.status === "called";
    $("called").hidden = !called;
    if (called) {
      $("called-title").textContent = t(state.recall ? "called_again" : "go_to_window");
      $("window-number").textContent = num(tk.window);
      $("called-sub").textContent = t("window_label");
    }
    var waiting = tk.status === "waiting";
    $("waiting").hidden = !waiting;
    if (waiting) {
      var ahead = tk.position || 0;
      var range = HallEta.of(tk);
      // "You are next" only when the server says so (nobody of the service ahead AND the call at
      // most 5 minutes away): nobody ahead at a window busy with a long service is not "next".
      $("ahead").textContent = ahead > 0 ? counted(ahead, "person_1", "person_2", "persons_few", "persons_many")
        : t(tk.next ? "you_are_next" : "nobody_ahead");
      $("ahead-label").textContent = ahead === 0 ? "" : t("ahead");
      showEta($("eta"), range);
      var note = $("eta-note");
      note.hidden = HallEta.kind(range) !== "now";     // [0, 0]: a free window calls it any moment
      note.textContent = note.hidden ? "" : t("called_now");
      $("wait-hint").textContent = range === null ? t("no_window") + " — " + t("keep_open") : t("keep_open");
    }
    var st = $("state"), text = "";
    if (tk.status === "serving") text = t("serving", num(tk.window));
    else if (tk.status === "done") text = t("done");
    else if (tk.status === "no_show") text = t("no_show");
    else if (tk.status === "cancelled") text = t("cancelled");
    else if (tk.status === "parked") text = t("parked", num(tk.window || ""));
    st.hidden = !text;
    $("state-text").textContent = text;
    st.className = "card state st-" + tk.status;

    var notice = $("notice");
    notice.hidden = !(state.transferred && tk.status === "waiting");
    if (!notice.hidden) notice.textContent = t("transferred", tk.service_name ? tk.service_name[state.lang] : tk.service);

    var link = $("file-link");
    link.hidden = !tk.request_file;
    if (tk.request_file) {
      link.href = "/inquiry?hall=" + encodeURIComponent(HALL) + "&file=" + encodeURIComponent(tk.request_file);
      fill(link, T[state.lang].file, num(tk.request_file));
    }
    $("cancel-btn").hidden = !(tk.status === "waiting" || tk.status === "parked");
    var snd = $("sound-btn");
    snd.hidden = !(tk.status === "waiting" || tk.status === "parked") || (state.audio && state.audio.state === "running");
    renderUpdated();
    document.title = called ? t("title_called", num(tk.window)) : num(tk.number) + " — " + t("title");
  }

  function renderUpdated() {
    var fmt;
    try {
      fmt = new Intl.DateTimeFormat(state.lang === "ar" ? "ar-EG-u-nu-" + (DIGITS === "eastern" ? "arab" : "latn") : "en-GB",
                                    {hour: "2-digit", minute: "2-digit", second: "2-digit", timeZone: TZ});
    } catch (e) { fmt = new Intl.DateTimeFormat(); }
    $("updated").textContent = state.online ? t("updated", fmt.format(state.updated)) : t("offline");
    $("dot").classList.toggle("down", !state.online);
  }

  function applyTexts() {
    var items = document.querySelectorAll("[data-t]");
    for (var i = 0; i < items.length; i++) items[i].textContent = t(items[i].dataset.t);
    document.querySelector("[data-hall-name]").textContent = state.lang === "ar" ? root.dataset.hallAr : root.dataset.hallEn;
    var toggle = $("lang-toggle");
    toggle.textContent = state.lang === "ar" ? "English" : "العربية";
    toggle.lang = state.lang === "ar" ? "en" : "ar";
  }

  function setLang(lang) {
    state.lang = lang;
    document.documentElement.lang = lang;
    document.documentElement.dir = lang === "ar" ? "rtl" : "ltr";
    try { localStorage.setItem(LANG_KEY, lang); } catch (e) { /* private mode */ }
    applyTexts();
    render();
  }

  // ----- data --------------------------------------------------------------------------------------
  function update(tk) {
    var before = state.ticket;
    state.ticket = tk;
    state.updated = new Date();
    if (tk.status === "called" && (before.status !== "called" || before.window !== tk.window)) alertCalled();
    render();
  }

  function refetch() {
    if (state.fetching) { state.again = true; return; }
    state.fetching = true;
    fetch("/api/v1/tickets/" + encodeURIComponent(TOKEN), {cache: "no-store", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (tk) { if (tk) update(tk); })
      .catch(function () { /* the next event or reconnect fetches again */ })
      .finally(function () {
        state.fetching = false;
        if (state.again) { state.again = false; refetch(); }
      });
  }

  function refetchSoon(maxDelay) {
    // Every phone in the hall hears queue_changed: spread their requests over a moment.
    if (state.refetchTimer) return;
    state.refetchTimer = setTimeout(function () { state.refetchTimer = null; refetch(); },
                                    Math.round(Math.random() * maxDelay));
  }

  function onQueue(q) {
    var tk = state.ticket;
    if (tk.status !== "waiting") return;
    var mine = [(q.waiting || {})[tk.service] || 0, (q.eta || {})[tk.service], (q.open || {})[tk.service] || 0].join("|");
    if (mine === state.lastQueue) return;         // another service changed: my figures did not
    state.lastQueue = mine;
    refetchSoon(1500);
  }

  function onStatus(ev) {
    if (ev.token && ev.token !== TOKEN) return;
    if (ev.transferred) state.transferred = true;
    state.recall = !!ev.recall;
    if (ev.status === "called" && ev.window) {
      // Show the window at once; the fetch that follows fills in the rest.
      var tk = Object.assign({}, state.ticket, {status: "called", window: ev.window});
      var wasCalled = state.ticket.status === "called" && state.ticket.window === ev.window;
      update(tk);
      if (wasCalled && ev.recall) alertCalled();
    }
    refetchSoon(200);
  }

  // ----- alert: beep and vibrate -------------------------------------------------------------------
  function audioContext() {
    if (state.audio) return state.audio;
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    try { state.audio = new Ctx(); } catch (e) { state.audio = null; }
    return state.audio;
  }

  function beep() {
    var ctx = audioContext();
    if (!ctx) return;
    if (ctx.state === "suspended" && ctx.resume) ctx.resume();
    var now = ctx.currentTime;
    [0, 0.35, 0.7].forEach(function (at, i) {
      var osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = i === 2 ? 1175 : 880;
      gain.gain.setValueAtTime(0.0001, now + at);
      gain.gain.exponentialRampToValueAtTime(0.35, now + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + at + 0.28);
      osc.connect(gain).connect(ctx.destination);
      osc.start(now + at);
      osc.stop(now + at + 0.3);
    });
  }

  function alertCalled() {
    root.dataset.alerts = String((+root.dataset.alerts || 0) + 1);
    try { beep(); } catch (e) { /* no sound on this phone */ }
    if (navigator.vibrate) { try { navigator.vibrate([400, 150, 400, 150, 700]); } catch (e) { /* not allowed */ } }
    var card = $("called");
    card.classList.remove("flash");
    void card.offsetWidth;                         // restart the animation
    card.classList.add("flash");
  }
  document.getElementById("called").addEventListener("animationend", function (e) { e.currentTarget.classList.remove("flash"); });

  function unlockSound() {
    // Phones allow sound only after a tap: the first tap anywhere prepares it.
    var ctx = audioContext();
    if (ctx && ctx.state === "suspended" && ctx.resume) {
      ctx.resume().then(render, function () { /* still blocked */ });
    }
  }

  // ----- cancel ------------------------------------------------------------------------------------
  function askCancel() { $("confirm").hidden = false; $("confirm-no").focus(); }
  function closeDialog() { $("confirm").hidden = true; }
  function doCancel() {
    closeDialog();
    fetch("/api/v1/tickets/" + encodeURIComponent(TOKEN) + "/cancel", {method: "POST", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
      .then(function (res) {
        if (res.ok) { update(res.body); return; }
        var n = $("notice");
        n.hidden = false;
        var code = res.body && res.body.error && res.body.error.code;
        n.textContent = t(code === "invalid_state" ? "cancel_too_late" : "cancel_failed");
        n.dataset.code = code || "";
        refetch();
      })
      .catch(function () { refetch(); });
  }

  // ----- start -------------------------------------------------------------------------------------
  var saved = null;
  try { saved = localStorage.getItem(LANG_KEY); } catch (e) { saved = null; }
  $("lang-toggle").addEventListener("click", function () { setLang(state.lang === "ar" ? "en" : "ar"); });
  $("cancel-btn").addEventListener("click", askCancel);
  $("confirm-no").addEventListener("click", closeDialog);
  $("confirm-yes").addEventListener("click", doCancel);
  $("sound-btn").addEventListener("click", function () { unlockSound(); beep(); });
  document.addEventListener("pointerdown", unlockSound, {once: false, passive: true});
  setLang(saved === "en" ? "en" : "ar");
  setInterval(renderUpdated, 15000);

  new HallLive({
    hall: HALL, role: "ticket", token: TOKEN,
    onSnapshot: function (snap) { if (snap.ticket) update(snap.ticket); },
    onEvent: function (name, data) {
      if (name === "ticket_status") onStatus(data);
      else if (name === "queue_changed") onQueue(data);
    },
    onStatus: function (s) { state.online = s === "online"; renderUpdated(); }
  }).connect();
})();
