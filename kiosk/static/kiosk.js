// The touch kiosk: sectors -> services -> (optional steps) -> ticket with its QR, live waits.
// Vanilla JS on HallLive (hall-live.js). The device token comes once in ?device=..., then lives in
// localStorage. One Idempotency-Key per ticket attempt: a double tap or a network retry makes one ticket.
(function () {
  "use strict";

  var root = document.getElementById("kiosk");
  var HALL = root.dataset.hall;
  var HALL_DIGITS = root.dataset.digits;                 // eastern | western (Arabic mode only)
  var TICKET_SECONDS = +root.dataset.ticketSeconds;      // ticket screen, then back to start
  var IDLE_SECONDS = +root.dataset.idleSeconds;          // any inner screen, then back to start
  var ATTRACT_SECONDS = +root.dataset.attractSeconds;    // start page, then the attract screen
  var TOKEN_KEY = "hall-kiosk-token:" + HALL;
  var API = "/api/v1";

  var T = {
    ar: {
      tagline: "نظام الشباك الواحد — خدمات المواطنين",
      welcome: "مرحبًا بكم. احصل على تذكرتك واختر خدمتك بلمسة واحدة.",
      touch_to_start: "المس الشاشة للبدء",
      attract_hint: "يمكنك متابعة دورك على هاتفك بمسح رمز QR على التذكرة",
      choose_sector: "اختر القطاع",
      have_file: "لديّ رقم ملف طلب",
      have_file_hint: "اكتب الرقم أو امسح رمز QR لتذكرة سابقة",
      back: "رجوع",
      waiting_now: "في الانتظار الآن",
      expected_wait: "الانتظار المتوقع",
      fee: "الرسوم",
      free: "مجانًا",
      pound: "ج.م",
      documents: "المستندات المطلوبة",
      no_documents: "لا توجد مستندات مطلوبة",
      priority_title: "أولوية الخدمة (اختياري)",
      priority_hint: "اختر فقط إذا كانت تنطبق عليك؛ قد يُطلب منك إثبات ذلك عند الشباك.",
      sms_title: "رسالة نصية عند اقتراب دورك (اختياري)",
      add_phone: "إضافة رقم الموبايل",
      phone_set: "رسالة إلى {0} — تغيير",
      get_ticket: "احصل على التذكرة",
      closed_note: "لا يوجد شباك مفتوح لهذه الخدمة الآن. يمكنك الاطلاع على المستندات المطلوبة.",
      closed: "مغلقة الآن",
      open: "متاحة",
      service_1: "خدمة واحدة", service_2: "خدمتان", services_count: "{0} خدمة",
      services_count_few: "{0} خدمات",
      waiting_short: "في الانتظار: {0}",
      docs_count: "مستندات مطلوبة: {0}",
      phone_title: "رقم الموبايل",
      // {n:...}: a number shown left to right in the page's digits (see fill)
      phone_hint: "رقم موبايل مصري من ١١ رقمًا يبدأ بـ {n:01}. نستخدمه فقط لإرسال رسالة بدورك.",
      phone_invalid: "الرقم غير صحيح: يجب أن يكون ١١ رقمًا ويبدأ بـ {n:010} أو {n:011} أو {n:012} أو {n:015}",
      file_title: "رقم ملف الطلب",
      file_hint: "اكتب رقم الملف المطبوع على إيصالك، مثل {n:2026-000123}، أو امسح رمز QR لتذكرة سابقة بالماسح.",
      file_invalid: "رقم الملف يُكتب هكذا: السنة ثم شرطة ثم الرقم، مثل {n:2026-000123}",
      file_unknown: "لم نجد ملفًا بهذا الرقم. تأكد من الرقم أو اختر الخدمة بنفسك.",
      file_unavailable: "البحث برقم الملف غير متاح الآن. من فضلك اختر الخدمة بنفسك.",
      file_from_ticket_none: "هذه التذكرة ليس لها رقم ملف. من فضلك اختر الخدمة بنفسك.",
      file_note: "رقم الملف: {0} — ستُوجَّه تذكرتك إلى الخدمة التي يحتاجها ملفك",
      looking_up: "جارٍ البحث عن الملف…",
      clear: "مسح",
      confirm: "تأكيد",
      issuing: "جارٍ إصدار تذكرتك…",
      your_number: "رقم تذكرتك",
      people_ahead: "أمامك",
      priority_label: "أولوية: {0}",
      sms_to: "سنرسل رسالة إلى {0}",
      file_on_ticket: "رقم الملف: {0}",
      scan_caption: "امسح الرمز بهاتفك لمتابعة دورك",
      printed: "تمت طباعة تذكرتك. تفضل بأخذها من الطابعة.",
      printing: "جارٍ طباعة تذكرتك…",
      print_failed: "تعذرت الطباعة ({0}). تذكرتك صالحة: صوّر رمز QR بهاتفك أو احفظ رقمك.",
      print_none: "لا تُطبع التذاكر في هذا الكشك: صوّر رمز QR بهاتفك أو احفظ رقمك.",
      print_retry: "تذكرتك صادرة بالفعل. إن لم تخرج الورقة فصوّر رمز QR بهاتفك.",
      print_slow: "تأخرت الطباعة. تذكرتك صالحة: صوّر رمز QR بهاتفك أو احفظ رقمك.",
      printer_offline: "الطابعة غير متصلة", printer_paper_out: "نفد ورق الطابعة", printer_error: "عطل في الطابعة",
      done: "تم",
      ok: "حسنًا",
      issue_failed: "تعذر إصدار التذكرة. حاول مرة أخرى أو اطلب المساعدة من موظف القاعة.",
      network_failed: "انقطع الاتصال بالخادم. حاول مرة أخرى بعد قليل أو اطلب المساعدة.",
      service_closed_now: "أُغلقت هذه الخدمة للتو: لا يوجد شباك مفتوح لها.",
      offline: "لا يوجد اتصال بالخادم — جارٍ إعادة المحاولة…",
      setup_title: "هذا الكشك غير مسجل",
      setup_text: "افتح الصفحة مرة واحدة برمز الجهاز الذي ينشئه المسؤول:",
      footer: "لا تشارك رقم الموبايل أو رمز التذكرة مع أحد. الخدمة بالترتيب ولا يختار المواطن الموظف.",
      elderly: "كبار السن", disabled: "ذوو الهمم", pregnant: "سيدة حامل", appointment: "موعد مسبق"
    },
    en: {
      tagline: "One-stop shop — citizen services",
      welcome: "Welcome. Get your ticket and choose your service with one touch.",
      touch_to_start: "Touch the screen to start",
      attract_hint: "Follow your turn on your phone: scan the QR code on your ticket",
      choose_sector: "Choose a sector",
      have_file: "I have a request file number",
      have_file_hint: "Type it, or scan the QR of an earlier ticket",
      back: "Back",
      waiting_now: "waiting now",
      expected_wait: "expected wait",
      fee: "fee",
      free: "free",
      pound: "EGP",
      documents: "Required documents",
      no_documents: "No documents required",
      priority_title: "Priority (optional)",
      priority_hint: "Choose only if it applies to you; you may be asked to show proof at the window.",
      sms_title: "Text message when your turn is near (optional)",
      add_phone: "Add a mobile number",
      phone_set: "SMS to {0} — change",
      get_ticket: "Get a ticket",
      closed_note: "No window serves this service right now. You can still read the documents it needs.",
      closed: "Closed now",
      open: "Open",
      service_1: "1 service", service_2: "2 services", services_count: "{0} services",
      services_count_few: "{0} services",
      waiting_short: "Waiting: {0}",
      docs_count: "Documents: {0}",
      phone_title: "Mobile number",
      phone_hint: "An Egyptian mobile number, 11 digits starting with 01. Used only to text you your turn.",
      phone_invalid: "Not a valid number: 11 digits starting with 010, 011, 012 or 015",
      file_title: "Request file number",
      file_hint: "Type the file number from your receipt, like 2026-000123, or scan an earlier ticket's QR code.",
      file_invalid: "A file number is the year, a dash and the number, like 2026-000123",
      file_unknown: "No file has this number. Check it, or choose the service yourself.",
      file_unavailable: "Looking up files is not available now. Please choose the service yourself.",
      file_from_ticket_none: "That ticket has no file number. Please choose the service yourself.",
      file_note: "File number {0}: your ticket goes to the service this file needs",
      looking_up: "Looking up the file…",
      clear: "Clear",
      confirm: "Confirm",
      issuing: "Issuing your ticket…",
      your_number: "Your number",
      people_ahead: "ahead of you",
      priority_label: "Priority: {0}",
      sms_to: "We will text {0}",
      file_on_ticket: "File number: {0}",
      scan_caption: "Scan with your phone to follow your turn",
      printed: "Your ticket has been printed. Please take it from the printer.",
      printing: "Printing your ticket…",
      print_failed: "Printing failed ({0}). Your ticket is valid: photograph the QR code or note your number.",
      print_none: "This kiosk does not print: photograph the QR code or note your number.",
      print_retry: "Your ticket was already issued. If no paper came out, photograph the QR code.",
      print_slow: "Printing is late. Your ticket is valid: photograph the QR code or note your number.",
      printer_offline: "printer offline", printer_paper_out: "printer out of paper", printer_error: "printer error",
      done: "Done",
      ok: "OK",
      issue_failed: "The ticket could not be issued. Please try again or ask a member of staff.",
      network_failed: "The connection to the server was lost. Please try again shortly or ask for help.",
      service_closed_now: "This service has just closed: no window serves it now.",
      offline: "No connection to the server — retrying…",
      setup_title: "This kiosk is not registered",
      setup_text: "Open the page once with the device token an administrator creates:",
      footer: "Never share your mobile number or ticket code. Service is in order; citizens do not choose the clerk.",
      elderly: "Elderly", disabled: "Disability", pregnant: "Pregnant", appointment: "Appointment"
    }
  };

  var state = {
    lang: "ar", token: null, device: null, halls: null, sectors: [], services: {}, order: [],
    priorities: [], live: {waiting: {}, eta: {}, open: {}}, liveReady: false,
    screen: null, sector: null, service: null, opts: {priority: null, phone: null, file: null},
    attempt: null, ticket: null, printEvents: {}, lastActivity: Date.now(), countdown: 0,
    keypadMode: null, busy: false, printTimer: null
  };

  // ----- small helpers ---------------------------------------------------------------------------
  function $(id) { return document.getElementById(id); }
  function t(key) {
    var s = (T[state.lang] && T[state.lang][key]) || T.en[key] || key;
    for (var i = 1; i < arguments.length; i++) s = s.replace("{" + (i - 1) + "}", arguments[i]);
    return s;
  }
  function num(v) {
    var s = String(v);
    return state.lang === "ar" && HALL_DIGITS === "eastern" ? HallLive.easternDigits(s) : s;
  }
  function name(obj) { return obj ? (obj[state.lang] || obj.ar || obj.en || "") : ""; }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  // A wait as an honest range (eta.js): «حوالي ١٠–١٥ دقيقة», «أقل من ٥ دقائق», «الآن»; "—" for none.
  // `r` is a range in seconds (HallEta.of: a ticket's own eta_range_seconds, or a service's seconds).
  function showEta(node, r) {
    return HallEta.show(node, r, {lang: state.lang,
                                  digits: state.lang === "ar" && HALL_DIGITS === "eastern" ? "eastern" : "western"});
  }
  function servicesCount(n) {
    if (n === 1) return t("service_1");
    if (n === 2) return t("service_2");
    var rest = n % 100;
    return (rest >= 3 && rest <= 10) ? t("services_count_few", num(n)) : t("services_count", num(n));
  }
  // A masked digit: a star, which no one reads as a digit (a dot passes for the Eastern zero ٠).
  var MASK = "*";
  function maskPhone(p) { return p ? num(p.slice(0, 3) + MASK.repeat(5) + p.slice(-2)) : ""; }
  function western(text) {
    return String(text).replace(/[\u0660-\u0669]/g, function (d) { return String(d.charCodeAt(0) - 0x0660); });
  }
  // A number inside a sentence (mobile, file number, ticket): its own left-to-right run, in the
  // order it is written, whatever the digits (fonts.css .num-run).
  function numRun(text) {
    var b = el("bdi", "num-run", text);
    b.dir = "ltr";
    return b;
  }
  // Fill an element with a translated text whose {0}, {1}... are numbers (each a numRun) and whose
  // {n:123} are numbers written in the text itself, shown in the page's digits.
  function fill(node, template) {
    var parts = Array.prototype.slice.call(arguments, 2);
    node.textContent = "";
    template.split(/(\{\d\}|\{n:[^}]*\})/).forEach(function (piece) {
      var m = /^\{(\d)\}$/.exec(piece), n = /^\{n:([^}]*)\}$/.exec(piece);
      if (m) node.appendChild(numRun(parts[+m[1]]));
      else if (n) node.appendChild(numRun(num(n[1])));
      else if (piece) node.appendChild(document.createTextNode(piece));
    });
    return node;
  }
  // A ticket number, big: the separator spaced and drawn long so "A-٠٠١" never reads as "A٠٠٠١".
  function ticketNumber(node, number) {
    var text = num(number), i = text.indexOf("-");
    node.textContent = "";
    if (i < 0) { node.textContent = text; return; }
    node.appendChild(document.createTextNode(text.slice(0, i)));
    node.appendChild(el("span", "tn-sep", "-"));
    node.appendChild(document.createTextNode(text.slice(i + 1)));
  }
  function newKey() {
    // crypto.randomUUID needs a secure context; a kiosk on plain http on the LAN has getRandomValues.
    if (window.crypto && crypto.randomUUID) {
      try { return crypto.randomUUID(); } catch (e) { /* insecure context: fall through */ }
    }
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }
  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  function api(method, path, body, extraHeaders, timeoutMs) {
    var headers = {"Accept": "application/json"};
    if (state.token) headers["Authorization"] = "Bearer " + state.token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    Object.keys(extraHeaders || {}).forEach(function (k) { headers[k] = extraHeaders[k]; });
    var ctrl = window.AbortController ? new AbortController() : null;
    var timer = ctrl ? setTimeout(function () { ctrl.abort(); }, timeoutMs || 12000) : null;
    return fetch(API + path, {method: method, headers: headers, cache: "no-store",
                              body: body === undefined ? undefined : JSON.stringify(body),
                              signal: ctrl ? ctrl.signal : undefined})
      .then(function (r) {
        return r.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
          // Retry-After: a 503 (database out of reach) says when to try the same key again
          return {status: r.status, ok: r.ok, data: data, retryAfter: Number(r.headers.get("Retry-After")) || 0};
        });
      })
      .finally(function () { if (timer) clearTimeout(timer); });
  }

  // ----- screens and language --------------------------------------------------------------------
  function show(screen) {
    state.screen = screen;
    var all = document.querySelectorAll(".screen");
    for (var i = 0; i < all.length; i++) all[i].hidden = all[i].id !== "screen-" + screen;
    root.dataset.screen = screen;
    var s = $("screen-" + screen);
    if (s && s.scrollTo) s.scrollTo(0, 0);
    window.scrollTo(0, 0);
  }

  function applyStaticTexts() {
    var items = document.querySelectorAll("[data-t]");
    for (var i = 0; i < items.length; i++) items[i].textContent = t(items[i].dataset.t);
    var halls = document.querySelectorAll("[data-i18n-hall]");
    for (var j = 0; j < halls.length; j++) {
      halls[j].textContent = state.lang === "ar" ? root.dataset.hallAr : root.dataset.hallEn;
    }
    var toggle = $("lang-toggle");
    toggle.textContent = state.lang === "ar" ? "English" : "العربية";
    toggle.lang = state.lang === "ar" ? "en" : "ar";
    document.title = (state.lang === "ar" ? root.dataset.hallAr : root.dataset.hallEn);
  }

  function setLang(lang) {
    state.lang = lang;
    document.documentElement.lang = lang;
    document.documentElement.dir = lang === "ar" ? "rtl" : "ltr";
    applyStaticTexts();
    renderSectors();
    if (state.sector) renderServices();
    if (state.service) renderService();
    if (state.screen === "keypad") renderKeypadTexts();
    if (state.ticket) renderTicket();
    tickClock();
  }

  // ----- start page: sectors ---------------------------------------------------------------------
  function sectorServices(code) {
    return state.order.filter(function (c) { return state.services[c].sector === code; });
  }
  function liveOf(code) {
    var eta = state.live.eta[code];
    return {waiting: state.live.waiting[code] || 0, eta: eta === undefined ? null : eta, open: !!state.live.open[code]};
  }

  // Tiles are built once per language; live updates only change their texts, so a tile is never
  // replaced under a finger (a replaced element swallows the tap).
  function renderSectors() {
    var grid = $("sector-grid");
    var tiles = grid.querySelectorAll(".sector-tile");
    for (var k = 0; k < tiles.length; k++) grid.removeChild(tiles[k]);
    state.sectors.forEach(function (sec, i) {
      var codes = sectorServices(sec.code);
      if (!codes.length) return;
      var b = el("button", "tile sector-tile c" + (i % 13));
      b.type = "button";
      b.dataset.sector = sec.code;
      var badge = el("span", "badge", state.services[codes[0]].prefix);
      badge.setAttribute("aria-hidden", "true");
      b.appendChild(badge);
      b.appendChild(el("span", "tile-name", name(sec.name)));
      var meta = el("span", "tile-meta");
      meta.appendChild(el("span", "", servicesCount(codes.length)));
      meta.appendChild(el("span", "live"));
      b.appendChild(meta);
      b.addEventListener("click", function () { openSector(sec.code); });
      grid.appendChild(b);
    });
    grid.appendChild($("file-btn"));   // the last cell of the grid: no extra row on the start page
    layoutGrid();
    refreshSectors();
  }

  // Columns and rows so every sector and the file button fit the screen with no scrolling.
  function layoutGrid() {
    var grid = $("sector-grid");
    var cells = grid.querySelectorAll(".sector-tile").length + 1;
    var landscape = window.innerWidth > window.innerHeight;
    var cols = landscape ? (cells > 12 ? 5 : 4) : (cells > 16 ? 3 : 2);
    var fileSpan = landscape ? Math.min(cols - ((cells - 1) % cols), 2) : 1;   // fill the last row
    var rows = Math.ceil((cells - 1 + fileSpan) / cols);
    grid.style.setProperty("--cols", cols);
    grid.style.setProperty("--rows", rows);
    $("file-btn").style.gridColumn = "span " + fileSpan;
  }

  function refreshSectors() {
    var tiles = $("sector-grid").querySelectorAll(".sector-tile");
    for (var i = 0; i < tiles.length; i++) {
      var waiting = 0, open = 0;
      sectorServices(tiles[i].dataset.sector).forEach(function (c) {
        var l = liveOf(c); waiting += l.waiting; if (l.open) open += 1;
      });
      tiles[i].classList.toggle("is-closed", !open);
      var liveEl = tiles[i].querySelector(".live");
      liveEl.className = "live " + (open ? "state-open" : "state-closed");
      liveEl.textContent = open ? t("waiting_short", num(waiting)) : t("closed");
    }
  }

  function openSector(code) {
    state.sector = code;
    renderServices();
    show("services");
  }

  // ----- services of a sector --------------------------------------------------------------------
  function renderServices() {
    var sec = state.sectors.filter(function (x) { return x.code === state.sector; })[0];
    if (!sec) return;
    $("sector-title").textContent = name(sec.name);
    var grid = $("service-grid");
    grid.textContent = "";
    sectorServices(sec.code).forEach(function (code) {
      var s = state.services[code];
      var b = el("button", "tile service-tile");
      b.type = "button";
      b.dataset.service = code;
      b.appendChild(el("span", "tile-name", name(s.name)));
      var docs = s.documents[state.lang] || [];
      b.appendChild(el("span", "tile-docs", t("docs_count", num(docs.length)) + (docs.length ? " — " + docs.join(state.lang === "ar" ? "، " : ", ") : "")));
      var meta = el("span", "tile-meta");
      meta.appendChild(el("span", "live"));
      meta.appendChild(el("span", "eta"));
      b.appendChild(meta);
      b.addEventListener("click", function () { openService(code, null); });
      grid.appendChild(b);
    });
    refreshServices();
  }

  function refreshServices() {
    var tiles = $("service-grid").children;
    for (var i = 0; i < tiles.length; i++) {
      var l = liveOf(tiles[i].dataset.service);
      tiles[i].classList.toggle("is-closed", !l.open);
      var liveEl = tiles[i].querySelector(".live");
      liveEl.className = "live " + (l.open ? "state-open" : "state-closed");
      liveEl.textContent = l.open ? t("waiting_short", num(l.waiting)) : t("closed");
      var etaEl = tiles[i].querySelector(".eta");
      if (l.open) showEta(etaEl, HallEta.of(l.eta)); else HallEta.mark(etaEl, null).textContent = "";
    }
  }

  // ----- one service, options, issue -------------------------------------------------------------
  function openService(code, file) {
    state.service = code;
    state.opts = {priority: null, phone: null, file: file || null};
    state.attempt = null;                 // a new ticket attempt gets a new Idempotency-Key
    renderService();
    show("service");
  }

  function refreshService() {
    var s = state.services[state.service];
    if (!s) return;
    var l = liveOf(s.code);
    $("svc-waiting").textContent = num(l.waiting);
    showEta($("svc-eta"), l.open ? HallEta.of(l.eta) : null);
    $("svc-closed").hidden = l.open;
    var issue = $("issue-btn");
    issue.disabled = !l.open || state.busy;
    issue.classList.toggle("is-closed", !l.open);
  }

  function renderService() {
    var s = state.services[state.service];
    if (!s) return;
    $("service-title").textContent = name(s.name);
    $("svc-fee").textContent = s.fee > 0 ? num(s.fee.toFixed(s.fee % 1 ? 2 : 0)) + " " + t("pound") : t("free");
    var fileNote = $("svc-file");
    fileNote.hidden = !state.opts.file;
    if (state.opts.file) fill(fileNote, T[state.lang].file_note, num(state.opts.file)); else fileNote.textContent = "";
    var docs = $("svc-docs");
    docs.textContent = "";
    var list = s.documents[state.lang] || [];
    if (!list.length) docs.appendChild(el("li", "none", t("no_documents")));
    list.forEach(function (d) { docs.appendChild(el("li", "", d)); });
    var chips = $("priority-chips");
    chips.textContent = "";
    $("priority-option").hidden = !state.priorities.length;
    state.priorities.forEach(function (p) {
      var c = el("button", "chip" + (state.opts.priority === p ? " selected" : ""), t(p));
      c.type = "button";
      c.dataset.priority = p;
      c.setAttribute("aria-pressed", state.opts.priority === p ? "true" : "false");
      c.addEventListener("click", function () {
        state.opts.priority = state.opts.priority === p ? null : p;
        state.attempt = null;               // a different request: a new key
        renderService();
      });
      chips.appendChild(c);
    });
    if (state.opts.phone) fill($("phone-btn"), T[state.lang].phone_set, maskPhone(state.opts.phone));
    else $("phone-btn").textContent = t("add_phone");
    $("phone-btn").classList.toggle("selected", !!state.opts.phone);
    refreshService();
  }

  function issue() {
    if (state.busy) return;                 // the second tap of a double tap
    var s = state.services[state.service];
    if (!s || !liveOf(s.code).open) return;
    var body = {service: s.code};
    if (state.opts.priority) body.priority = state.opts.priority;
    if (state.opts.phone) body.phone = state.opts.phone;
    if (state.opts.file) body.request_file = state.opts.file;
    if (!state.attempt) state.attempt = {key: newKey(), body: body};
    var attempt = state.attempt;
    state.busy = true;
    $("issue-btn").disabled = true;
    $("busy-text").textContent = t("issuing");
    show("busy");
    sendIssue(attempt, 0).then(function (res) {
      state.busy = false;
      if (res.ok) {
        state.attempt = null;
        showTicket(res.data, attempt.body);
        return;
      }
      if (res.status === 401 || res.status === 403) { forgetToken(); return; }
      var err = res.data && res.data.error;
      var text = t("issue_failed");
      if (res.status === 0) text = t("network_failed");
      else if (res.status === 409 && err && err.code === "service_closed") {
        // The last window serving it closed before our live state said so: show it closed until
        // the next queue_changed says otherwise (the service screen then disables the button).
        delete state.live.open[s.code];
        text = t("service_closed_now");
      }
      else if (err && state.lang === "en" && err.message) text = err.message;
      else if (err && err.code === "invalid_phone") text = t("phone_invalid");
      if (res.status >= 400 && res.status < 500) state.attempt = null;   // refused: the next try is new
      message(text, "service");
    });
  }

  function sendIssue(attempt, tries) {
    return api("POST", "/halls/" + HALL + "/tickets", attempt.body, {"Idempotency-Key": attempt.key}, 15000)
      .then(function (res) {
        // 5xx, 503 included: the same key again, after the server's Retry-After (at most 5 s) or our own backoff
        var wait = Math.max(800 * (tries + 1), Math.min(res.retryAfter || 0, 5) * 1000);
        if (res.status >= 500 && tries < 3) return sleep(wait).then(function () { return sendIssue(attempt, tries + 1); });
        return res;
      }, function () {
        // No answer (network or timeout): the ticket may exist already; the same key finds it.
        if (tries < 3) return sleep(800 * (tries + 1)).then(function () { return sendIssue(attempt, tries + 1); });
        return {status: 0, ok: false, data: null};
      });
  }

  // ----- the ticket screen -----------------------------------------------------------------------
  function showTicket(ticket, body) {
    state.ticket = ticket;
    state.ticket._phone = body.phone || null;
    state.printState = (ticket.print && ticket.print.status) || "none";
    state.printDetail = (ticket.print && ticket.print.message) || "";
    // "queued": the server's printer worker or the kiosk's print agent prints it; the outcome comes
    // as print_status with the job's id, possibly before this response did.
    var early = state.printEvents[printKey(ticket)];
    if (early && (state.printState === "queued" || state.printState === "not_reprinted")) applyPrintEvent(early);
    clearTimeout(state.printTimer);
    if (state.printState === "queued") {
      state.printTimer = setTimeout(function () {
        if (state.ticket === ticket && state.printState === "queued") { state.printState = "slow"; renderTicket(); }
      }, 15000);
    }
    $("t-qr").src = "/kiosk/qr.png?scale=12&data=" + encodeURIComponent(ticket.track_url);
    renderTicket();
    state.countdown = ticketSeconds();
    show("ticket");
    tickCountdown();
  }

  function ticketSeconds() {
    // Longer when the QR is the only copy: time to take a photo of it.
    return printedOk() ? TICKET_SECONDS : TICKET_SECONDS * 2;
  }
  function printedOk() { return state.printState === "printed" || state.printState === "queued"; }

  function renderTicket() {
    var tk = state.ticket;
    if (!tk) return;
    ticketNumber($("t-number"), tk.number);
    $("t-number").setAttribute("aria-label", tk.number);
    $("t-service").textContent = name(tk.service_name);
    var pr = $("t-priority");
    pr.hidden = !tk.priority;
    pr.textContent = tk.priority ? t("priority_label", t(tk.priority)) : "";
    $("t-ahead").textContent = num(tk.position === null || tk.position === undefined ? 0 : tk.position);
    showEta($("t-eta"), HallEta.of(tk));          // the ticket's own range, as its phone page shows it
    var extra = $("t-extra");
    extra.textContent = "";
    if (tk.request_file) extra.appendChild(fill(el("div", "t-file"), T[state.lang].file_on_ticket, num(tk.request_file)));
    if (tk._phone) extra.appendChild(fill(el("div", "t-sms"), T[state.lang].sms_to, maskPhone(tk._phone)));
    $("t-qr-caption").textContent = t("scan_caption");
    var ps = $("t-print");
    var map = {printed: "printed", queued: "printing", none: "print_none", not_reprinted: "print_retry",
               slow: "print_slow", expired: "print_slow"};
    var text = state.printState === "failed"
      ? t("print_failed", printerWords(state.printDetail))
      : t(map[state.printState] || "print_none");
    ps.textContent = text;
    ps.className = "print-state ps-" + state.printState;
    $("screen-ticket").classList.toggle("qr-big", !printedOk());
  }

  function printerWords(detail) {
    var d = String(detail || "");
    if (/paper/i.test(d)) return t("printer_paper_out");
    if (/offline|connect|refused|dropped|reset/i.test(d)) return t("printer_offline");
    return t("printer_error");
  }

  function applyPrintEvent(ev) {
    if (ev.status === "printed") state.printState = "printed";
    else if (ev.status === "failed") { state.printState = "failed"; state.printDetail = ev.detail; }
    else if (ev.status === "expired" || ev.status === "dropped") state.printState = "expired";
    if (!printedOk()) state.countdown = Math.max(state.countdown, TICKET_SECONDS * 2);
  }

  // A ticket's print job is known by its job_id (the issue response's print.job_id). A retried
  // request (not_reprinted) has none: the first request's job is found by the ticket's number.
  function printKey(ticket) {
    var id = ticket.print && ticket.print.job_id;
    return id ? "job:" + id : "number:" + ticket.number;
  }

  function onPrintStatus(ev) {
    if (!ev || ev.device !== state.device) return;
    if (ev.job_id) state.printEvents["job:" + ev.job_id] = ev;
    state.printEvents["number:" + ev.number] = ev;
    var keys = Object.keys(state.printEvents);
    while (keys.length > 40) delete state.printEvents[keys.shift()];
    var key = state.ticket && printKey(state.ticket);
    if (key && (key === "job:" + ev.job_id || key === "number:" + ev.number)) {
      applyPrintEvent(ev);
      renderTicket();
    }
  }

  function tickCountdown() {
    if (state.screen !== "ticket") return;
    $("countdown").textContent = "(" + num(Math.max(0, state.countdown)) + ")";
  }

  // ----- keypad: mobile number or file number ----------------------------------------------------
  var KEYS = {phone: ["1", "2", "3", "4", "5", "6", "7", "8", "9", "", "0", "del"],
              file: ["1", "2", "3", "4", "5", "6", "7", "8", "9", "-", "0", "del"]};

  function openKeypad(mode) {
    state.keypadMode = mode;
    var input = $("keypad-input");
    input.value = mode === "phone" ? num(state.opts.phone || "") : "";
    input.maxLength = mode === "phone" ? 11 : 300;   // a scanner may type a whole tracking URL
    $("keypad-error").textContent = "";
    var pad = $("keypad");
    pad.textContent = "";
    KEYS[mode].forEach(function (k) {
      var b = el("button", "key" + (k === "del" ? " del" : "") + (k === "" ? " blank" : ""), k === "del" ? "⌫" : num(k));
      b.type = "button";
      if (k === "") { b.disabled = true; b.setAttribute("aria-hidden", "true"); }
      b.dataset.key = k;
      b.addEventListener("click", function () { pressKey(k); });
      pad.appendChild(b);
    });
    renderKeypadTexts();
    show("keypad");
    input.focus();          // a USB scanner types here, ending with Enter
  }

  function renderKeypadTexts() {
    var mode = state.keypadMode;
    $("keypad-title").textContent = t(mode === "phone" ? "phone_title" : "file_title");
    fill($("keypad-hint"), t(mode === "phone" ? "phone_hint" : "file_hint"));
  }

  function pressKey(k) {
    var input = $("keypad-input");
    if (k === "del") input.value = input.value.slice(0, -1);
    else if (input.value.length < (state.keypadMode === "phone" ? 11 : 32)) input.value += num(k);
    $("keypad-error").textContent = "";
    input.focus();
  }

  function keypadOk() {
    var v = western($("keypad-input").value.trim());
    if (state.keypadMode === "phone") {
      if (v === "") { state.opts.phone = null; state.attempt = null; renderService(); show("service"); return; }
      if (!/^01[0125][0-9]{8}$/.test(v)) { fill($("keypad-error"), t("phone_invalid")); return; }
      state.opts.phone = v;
      state.attempt = null;
      renderService();
      show("service");
      return;
    }
    handleScan(v);
  }

  function keypadBack() {
    if (state.keypadMode === "phone") show("service"); else goStart(false);
  }

  // ----- returning citizen: file number typed or scanned -----------------------------------------
  function handleScan(raw) {
    var v = western(String(raw || "").trim());
    var m = v.match(/\/t\/([A-Za-z0-9_-]{16,64})\b/);
    if (m) { fileFromTicket(m[1]); return; }
    var f = v.match(/[?&]file=([0-9\u0660-\u0669/%-]{1,40})/);
    if (f) { try { v = decodeURIComponent(f[1]); } catch (e) { v = f[1]; } }
    v = western(v).replace("/", "-");
    if (!/^[0-9]{4}-[0-9]{1,6}$/.test(v)) { fileError(t("file_invalid")); return; }
    lookupFile(v);
  }

  function fileError(text) {
    if (state.screen !== "keypad" || state.keypadMode !== "file") openKeypad("file");
    fill($("keypad-error"), text);
  }

  function fileFromTicket(token) {
    api("GET", "/tickets/" + encodeURIComponent(token)).then(function (res) {
      if (res.ok && res.data && res.data.request_file) lookupFile(res.data.request_file);
      else if (res.ok) fileError(t("file_from_ticket_none"));
      else fileError(t("file_unknown"));
    }, function () { fileError(t("network_failed")); });
  }

  function lookupFile(number) {
    if (state.screen === "keypad") $("keypad-error").textContent = t("looking_up");
    api("GET", "/halls/" + HALL + "/files/" + encodeURIComponent(number) + "/route").then(function (res) {
      var d = res.data || {};
      if (res.ok && d.service && state.services[d.service]) {
        openService(d.service, d.file || number);
      } else if (res.status === 404 && d.error && d.error.code === "unknown_file") {
        fileError(t("file_unknown"));
      } else if (res.status === 422) {
        fileError(t("file_invalid"));
      } else if (res.status === 401 || res.status === 403) {
        forgetToken();
      } else {
        fileError(t("file_unavailable"));
      }
    }, function () { fileError(t("network_failed")); });
  }

  // Keyboard-wedge QR scanners type fast and end with Enter; people do not type on a kiosk.
  var scan = {buf: "", at: 0};
  function onKeyDown(e) {
    activity();
    if (state.screen === "keypad") {
      if (e.key === "Enter") { e.preventDefault(); keypadOk(); }
      return;               // the focused input takes the characters
    }
    // A pause between keys starts a new scan (the event's own time: a busy page handles keys late).
    var now = e.timeStamp || Date.now();
    if (now - scan.at > 1500) scan.buf = "";
    scan.at = now;
    if (e.key === "Enter") {
      if (scan.buf.length >= 3 && (state.screen === "sectors" || state.screen === "attract")) {
        e.preventDefault();
        handleScan(scan.buf);
      }
      scan.buf = "";
    } else if (e.key && e.key.length === 1) {
      scan.buf = (scan.buf + e.key).slice(-300);
    }
  }

  // ----- idle, attract, start ---------------------------------------------------------------------
  function activity() { state.lastActivity = Date.now(); }

  function goStart(resetLang) {
    state.sector = null; state.service = null; state.ticket = null; state.attempt = null;
    state.opts = {priority: null, phone: null, file: null};
    clearTimeout(state.printTimer);
    if (resetLang !== false && state.lang !== "ar") setLang("ar");
    renderSectors();
    show("sectors");
    activity();
  }

  function everySecond() {
    tickClock();
    if (state.busy || state.screen === "setup") return;
    var idle = (Date.now() - state.lastActivity) / 1000;
    if (state.screen === "ticket") {
      state.countdown -= 1;
      tickCountdown();
      if (state.countdown <= 0) goStart();
    } else if (state.screen === "sectors") {
      if (idle >= ATTRACT_SECONDS) show("attract");
    } else if (state.screen !== "attract" && idle >= IDLE_SECONDS) {
      goStart();
    }
  }

  var clockFmt = {};
  function tickClock() {
    var key = state.lang;
    if (!clockFmt[key]) {
      try {
        clockFmt[key] = new Intl.DateTimeFormat(state.lang === "ar" ? "ar-EG-u-nu-" + (HALL_DIGITS === "eastern" ? "arab" : "latn") : "en-GB",
          {hour: "2-digit", minute: "2-digit", timeZone: root.dataset.tz || undefined});
      } catch (e) { clockFmt[key] = new Intl.DateTimeFormat(undefined, {hour: "2-digit", minute: "2-digit"}); }
    }
    $("clock").textContent = clockFmt[key].format(new Date());
  }

  function message(text, back) {
    $("message-text").textContent = text;
    state.messageBack = back;
    show("message");
  }

  // ----- device token, catalog, live ---------------------------------------------------------------
  function readToken() {
    var q = new URLSearchParams(location.search);
    var fromQuery = q.get("device");
    if (fromQuery) {
      try { localStorage.setItem(TOKEN_KEY, fromQuery); } catch (e) { /* private mode: keep in memory */ }
      q.delete("device");
      var rest = q.toString();
      history.replaceState(null, "", location.pathname + (rest ? "?" + rest : ""));   // out of sight
      return fromQuery;
    }
    try { return localStorage.getItem(TOKEN_KEY); } catch (e) { return null; }
  }

  function forgetToken() {
    try { localStorage.removeItem(TOKEN_KEY); } catch (e) { /* nothing stored */ }
    state.token = null;
    show("setup");
  }

  function offline(on) { $("offline").hidden = !on; $("conn").classList.toggle("down", on); }

  function boot() {
    state.token = readToken();
    applyStaticTexts();
    tickClock();
    if (!state.token) { show("setup"); return; }
    loadAll();
  }

  function loadAll() {
    Promise.all([api("GET", "/me"), api("GET", "/halls"), api("GET", "/halls/" + HALL + "/sectors"),
                 api("GET", "/halls/" + HALL + "/services")]).then(function (r) {
      var me = r[0];
      if (me.status === 401 || me.status === 403 || (me.ok && (me.data.role !== "kiosk" || me.data.hall !== HALL))) {
        forgetToken();
        return;
      }
      if (!r.every(function (x) { return x.ok; })) throw new Error("catalog");
      state.device = me.data.name;
      var hall = r[1].data.filter(function (h) { return h.code === HALL; })[0] || {};
      state.priorities = (hall.priority_classes || []).filter(function (p) { return p !== "appointment"; });
      state.sectors = r[2].data;
      state.services = {};
      state.order = [];
      r[3].data.forEach(function (s) {
        state.services[s.code] = s;
        state.order.push(s.code);
        if (!state.liveReady) {
          if (s.waiting) state.live.waiting[s.code] = s.waiting;
          state.live.eta[s.code] = s.eta_seconds;
          if (s.open) state.live.open[s.code] = s.open_windows;
        }
      });
      offline(false);
      goStart();
      root.dataset.ready = "1";
      if (window.performance && performance.mark) performance.mark("kiosk-ready");   // bench_kiosk.py reads it
      startLive();
    }).catch(function (err) {
      if (window.console) console.error("kiosk: loading the catalog failed, retrying", err);
      offline(true);
      setTimeout(loadAll, 4000);
    });
  }

  var live = null;
  function startLive() {
    if (live || !window.io) return;
    live = new HallLive({
      hall: HALL, role: "kiosk", auth: state.token || undefined,
      onSnapshot: function (snap) { applyQueue(snap.queue); },
      onEvent: function (name, data) {
        if (name === "queue_changed") applyQueue(data);
        else if (name === "print_status") onPrintStatus(data);
      },
      onStatus: function (s) { offline(s !== "online"); }
    }).connect();
  }

  function applyQueue(q) {
    if (!q) return;
    state.live = {waiting: q.waiting || {}, eta: q.eta || {}, open: q.open || {}};
    if (!state.liveReady && window.performance && performance.mark) performance.mark("kiosk-live");
    state.liveReady = true;
    root.dataset.live = String(q.seq);
    // Update texts in place; the ticket screen shows the ticket's own figures.
    refreshSectors();
    if (state.sector) refreshServices();
    if (state.service) refreshService();
  }

  // ----- wiring ------------------------------------------------------------------------------------
  window.addEventListener("resize", function () { if (state.sectors.length) layoutGrid(); });
  document.addEventListener("pointerdown", activity, true);
  document.addEventListener("keydown", onKeyDown, true);
  document.addEventListener("contextmenu", function (e) { e.preventDefault(); });   // long press
  $("lang-toggle").addEventListener("click", function () { setLang(state.lang === "ar" ? "en" : "ar"); });
  $("screen-attract").addEventListener("click", function () { goStart(false); });
  $("file-btn").addEventListener("click", function () { openKeypad("file"); });
  $("service-back").addEventListener("click", function () {
    if (state.sector && !state.opts.file) { renderServices(); show("services"); } else goStart(false);
  });
  document.querySelector("[data-back=sectors]").addEventListener("click", function () { goStart(false); });
  $("phone-btn").addEventListener("click", function () { openKeypad("phone"); });
  $("issue-btn").addEventListener("click", issue);
  $("keypad-back").addEventListener("click", keypadBack);
  $("keypad-clear").addEventListener("click", function () { $("keypad-input").value = ""; $("keypad-input").focus(); });
  $("keypad-ok").addEventListener("click", keypadOk);
  $("keypad-input").addEventListener("input", function (e) {
    var allowed = state.keypadMode === "phone" ? /[^0-9\u0660-\u0669]/g : /[^A-Za-z0-9\u0660-\u0669\-:/?&=._]/g;
    var v = e.target.value.replace(allowed, "");
    e.target.value = state.keypadMode === "phone" ? num(western(v)) : v;   // a mobile in the page's digits
  });
  $("done-btn").addEventListener("click", function () { goStart(); });
  $("message-ok").addEventListener("click", function () {
    if (state.messageBack === "service" && state.service) { renderService(); show("service"); } else goStart(false);
  });
  setInterval(everySecond, 1000);
  boot();
})();
