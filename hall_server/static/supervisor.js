// The supervisor's live hall. HallLive (role "supervisor") says that something happened; the page
// then refetches /stats and /alerts (debounced), so what it shows is always the server's view.
// Timers tick between refreshes; alerts that time alone raises are re-read every half minute.
(function () {
  "use strict";

  var Sup = window.Sup;
  var HALL = Sup.hall;
  var REFRESH_DEBOUNCE_MS = 300;
  var ALERTS_EVERY_MS = 30000;
  var OFFLINE_POLL_MS = 15000;

  Sup.addStrings({
    ar: {
      "live.title": "لوحة المشرف",
      "kpi.waiting": "ينتظرون الآن", "kpi.issued": "تذاكر اليوم", "kpi.served": "تمت خدمتهم",
      "kpi.share": "ضمن الهدف اليوم", "kpi.open": "شبابيك مفتوحة", "kpi.alerts": "تنبيهات نشطة",
      "kpi.estimates": "دقة التقديرات اليوم",
      "est.line": "تقديرات الانتظار اليوم: {k} من {n} في حدود 5 دقائق ({p}) · متوسط الخطأ {m} د · {b}",
      "svc.est_share": "دقة التقدير", "svc.est_error": "خطأ التقدير",
      "win.title": "الشبابيك", "win.number": "الشباك", "win.state": "الحالة", "win.clerk": "الموظف",
      "win.current": "التذكرة الحالية", "win.serving": "مدة الخدمة", "win.idle": "بلا عمل منذ",
      "win.services": "الخدمات", "win.actions": "إجراءات",
      "act.open": "فتح", "act.pause": "إيقاف مؤقت", "act.resume": "استئناف", "act.close": "إغلاق",
      "act.services": "الخدمات…", "act.move": "نقل…",
      "svc.title": "الخدمات اليوم", "svc.target": "الهدف: {m} دقيقة", "svc.name": "الخدمة", "svc.waiting": "ينتظر",
      "svc.longest": "أطول انتظار", "svc.avg": "متوسط الانتظار", "svc.eta": "انتظار تذكرة جديدة",
      "svc.share": "ضمن الهدف", "svc.open": "شبابيك مفتوحة", "svc.served": "خُدموا",
      "svc.none": "لا تذاكر اليوم بعد.", "svc.closed": "لا شباك",
      "staff.title": "الاحتياج المتوقع من الشبابيك اليوم", "staff.hour": "الساعة", "staff.arrivals": "الوصول المتوقع",
      "staff.needed": "شبابيك مطلوبة", "staff.open_now": "مفتوحة الآن",
      "alerts.title": "التنبيهات", "alerts.none": "لا توجد تنبيهات الآن.", "alerts.history": "سجل التنبيهات (ظهرت / زالت)",
      "alerts.since": "منذ {t}", "alerts.raised": "ظهر", "alerts.cleared": "زال", "alerts.at": "آخر فحص {t}",
      "alerts.no_history": "لا شيء بعد.",
      "wait.title": "قائمة الانتظار", "wait.ticket": "التذكرة", "wait.service": "الخدمة", "wait.waited": "ينتظر منذ",
      "wait.none": "لا أحد ينتظر.", "wait.to_window": "إلى الشباك {w}",
      "wait.ahead": "أمامه", "wait.eta": "الانتظار المتوقع",
      "board.title": "رسالة شاشات العرض", "board.placeholder": "نص يظهر على كل الشاشات", "board.save": "نشر",
      "board.clear": "مسح", "board.current": "المعروض الآن: «{m}»", "board.empty": "لا توجد رسالة على الشاشات.",
      "dev.title": "الأجهزة", "dev.none": "لم يتصل أي جهاز طباعة أو نداء بعد.",
      "dlg.services_title": "خدمات الشباك وترتيبها", "dlg.services_hint": "الأولى عمل الشباك الأساسي؛ يأخذ الباقي بالترتيب.",
      "dlg.add": "إضافة", "dlg.save": "حفظ", "dlg.cancel": "إلغاء", "dlg.up": "أعلى", "dlg.down": "أسفل",
      "dlg.remove": "حذف", "dlg.need_one": "اختر خدمة واحدة على الأقل.",
      "dlg.move_title": "نقل تذكرة منتظرة إلى خدمة أخرى", "dlg.move_hint": "تحتفظ التذكرة بمكانها حسب وقت إصدارها، ويُسجَّل النقل.",
      "dlg.move": "نقل",
      "n.window": "الشباك {w}: {s}", "n.services": "تم حفظ خدمات الشباك {w}.", "n.moved": "نُقلت {t} إلى «{s}».",
      "n.board": "تم نشر الرسالة على الشاشات.", "n.board_cleared": "تم مسح رسالة الشاشات.",
      // devices: the server reports codes (role, status) and English details; the page says them in words
      "role.kiosk": "كشك", "role.board": "شاشة عرض", "role.printer": "طابعة", "role.announcer": "جهاز النداء الصوتي",
      "role.tts": "النطق الآلي في الخادم", "role.other": "جهاز",
      "dstatus.online": "متصل", "dstatus.offline": "غير متصل", "dstatus.paper_out": "نفد الورق",
      "dstatus.error": "عطل في الجهاز", "dstatus.tts_failed": "تعذّر النطق الآلي",
      "dstatus.fetch_failed": "تعذّر تنزيل صوت النداء", "dstatus.other": "مشكلة في الجهاز",
      "ddetail.disconnected": "انقطع الاتصال", "ddetail.waiting_print": "بانتظار طباعة {t}",
      "ddetail.speech_back": "عاد النطق الآلي", "ddetail.audio_back": "عاد تنزيل صوت النداء",
      "ddetail.chime_only": "النداء بالجرس فقط", "ddetail.audio_download": "تعذّر تنزيل صوت النداء",
      "ddetail.cannot_connect": "تعذّر الاتصال بالطابعة", "ddetail.dropped": "انقطع الاتصال أثناء الطباعة",
      "ddetail.expired": "لم تعد الطابعة في الوقت", "ddetail.technical": "تفاصيل فنية",
      "alert.device_offline": "الجهاز {d} غير متصل", "alert.device_problem": "الجهاز {d}: {s}",
    },
    en: {
      "live.title": "Supervisor",
      "kpi.waiting": "Waiting now", "kpi.issued": "Tickets today", "kpi.served": "Served",
      "kpi.share": "Within target today", "kpi.open": "Open windows", "kpi.alerts": "Active alerts",
      "kpi.estimates": "Estimate accuracy today",
      "est.line": "Wait estimates today: {k} of {n} within 5 minutes ({p}) · mean error {m} min · {b}",
      "svc.est_share": "Estimates within 5 min", "svc.est_error": "Estimate error",
      "win.title": "Windows", "win.number": "Window", "win.state": "State", "win.clerk": "Clerk",
      "win.current": "Current ticket", "win.serving": "Serving for", "win.idle": "Idle for",
      "win.services": "Services", "win.actions": "Actions",
      "act.open": "Open", "act.pause": "Pause", "act.resume": "Resume", "act.close": "Close",
      "act.services": "Services…", "act.move": "Move…",
      "svc.title": "Services today", "svc.target": "target: {m} min", "svc.name": "Service", "svc.waiting": "Waiting",
      "svc.longest": "Longest wait", "svc.avg": "Average wait", "svc.eta": "Wait for a new ticket",
      "svc.share": "Within target", "svc.open": "Open windows", "svc.served": "Served",
      "svc.none": "No tickets yet today.", "svc.closed": "no window",
      "staff.title": "Windows needed today (forecast)", "staff.hour": "Hour", "staff.arrivals": "Expected arrivals",
      "staff.needed": "Windows needed", "staff.open_now": "open now",
      "alerts.title": "Alerts", "alerts.none": "No alerts now.", "alerts.history": "Alert history (raised / cleared)",
      "alerts.since": "since {t}", "alerts.raised": "raised", "alerts.cleared": "cleared", "alerts.at": "checked {t}",
      "alerts.no_history": "Nothing yet.",
      "wait.title": "Waiting", "wait.ticket": "Ticket", "wait.service": "Service", "wait.waited": "Waiting for",
      "wait.none": "Nobody is waiting.", "wait.to_window": "to window {w}",
      "wait.ahead": "Ahead", "wait.eta": "Expected wait",
      "board.title": "Message on the boards", "board.placeholder": "Text every board shows", "board.save": "Publish",
      "board.clear": "Clear", "board.current": "Showing now: “{m}”", "board.empty": "No message on the boards.",
      "dev.title": "Devices", "dev.none": "No print agent or announcer has connected yet.",
      "dlg.services_title": "Window services and order", "dlg.services_hint": "The first is the window's main work; it takes the rest in order.",
      "dlg.add": "Add", "dlg.save": "Save", "dlg.cancel": "Cancel", "dlg.up": "Up", "dlg.down": "Down",
      "dlg.remove": "Remove", "dlg.need_one": "Choose at least one service.",
      "dlg.move_title": "Move a waiting ticket to another service", "dlg.move_hint": "The ticket keeps its place by issue time; the move is recorded.",
      "dlg.move": "Move",
      "n.window": "Window {w}: {s}", "n.services": "Window {w} services saved.", "n.moved": "{t} moved to “{s}”.",
      "n.board": "Message published on the boards.", "n.board_cleared": "Board message cleared.",
      "role.kiosk": "kiosk", "role.board": "display board", "role.printer": "printer", "role.announcer": "announcer",
      "role.tts": "server speech", "role.other": "device",
      "dstatus.online": "online", "dstatus.offline": "offline", "dstatus.paper_out": "out of paper",
      "dstatus.error": "device fault", "dstatus.tts_failed": "speech failed",
      "dstatus.fetch_failed": "cannot download call audio", "dstatus.other": "device problem",
      "ddetail.disconnected": "connection lost", "ddetail.waiting_print": "waiting to print {t}",
      "ddetail.speech_back": "speech is back", "ddetail.audio_back": "call audio downloads again",
      "ddetail.chime_only": "calls with the chime only", "ddetail.audio_download": "cannot download call audio",
      "ddetail.cannot_connect": "cannot reach the printer", "ddetail.dropped": "the printer dropped the job",
      "ddetail.expired": "the printer did not come back in time", "ddetail.technical": "technical details",
      "alert.device_offline": "Device {d} is offline", "alert.device_problem": "Device {d}: {s}",
    },
  });

  var state = {stats: null, alerts: null, fetchedAt: 0, catalog: [], names: {}, board: null,
               staffing: null, staffingChart: null, live: null, pending: null, request: 0};

  // ----- data ------------------------------------------------------------------------------------
  function loadCatalog() {
    return Sup.api("GET", "/halls/" + HALL + "/services").then(function (list) {
      state.catalog = list;
      list.forEach(function (s) { state.names[s.code] = s.name; });
    });
  }

  function serviceName(code) {
    return state.names[code] ? Sup.name(state.names[code]) : code;
  }

  function refresh() {
    state.pending = null;
    var mine = ++state.request;  // answers can overtake each other: only the newest is drawn
    return Promise.all([Sup.api("GET", "/halls/" + HALL + "/stats"), Sup.api("GET", "/halls/" + HALL + "/alerts")])
      .then(function (res) {
        if (mine !== state.request) return;
        state.stats = res[0];
        state.alerts = res[1];
        state.fetchedAt = Date.now();
        render();
      }, function (err) { if (err.status !== 401) Sup.showError(err); });
  }

  function schedule() {
    if (state.pending) return;
    state.pending = setTimeout(refresh, REFRESH_DEBOUNCE_MS);
  }

  function loadStaffing() {
    // Another module may offer a forecast; the panel shows only when the endpoint answers.
    Sup.api("GET", "/halls/" + HALL + "/staffing?day=" + Sup.hallToday()).then(function (rows) {
      if (!Array.isArray(rows) || !rows.length) { state.staffing = null; renderStaffing(); return; }
      state.staffing = rows;
      renderStaffing();
    }, function () { state.staffing = null; renderStaffing(); });
  }

  // ----- rendering -------------------------------------------------------------------------------
  function elapsed() { return (Date.now() - state.fetchedAt) / 1000; }

  function render() {
    if (!state.stats) return;
    renderKpis();
    renderWindows();
    renderServices();
    renderWaiting();
    renderAlerts();
    renderDevices();
    renderBoard();
    renderStaffing();
  }

  function kpi(id, value, cls) {
    var el = document.getElementById(id);
    el.querySelector(".k-value").textContent = value;
    el.classList.remove("good", "mid", "bad", "alerting");
    if (cls) el.classList.add(cls);
  }

  function renderKpis() {
    var s = state.stats;
    var share = s.totals.within_target_share === undefined ? null : s.totals.within_target_share;
    kpi("kpi-waiting", String(s.totals.waiting));
    kpi("kpi-issued", String(s.totals.issued));
    kpi("kpi-served", String(s.totals.served));
    kpi("kpi-share", Sup.fmtShare(share), Sup.shareClass(share));
    kpi("kpi-open", s.windows.filter(function (w) { return w.state === "open"; }).length + " / " + s.windows.length);
    var n = state.alerts ? state.alerts.active.length : 0;
    kpi("kpi-alerts", String(n), n ? "alerting" : "good");
    // today's wait estimates against the waits that happened: share within 5 minutes, mean error, bias
    var acc = s.totals.estimates || null;
    var has = !!(acc && acc.count);
    kpi("kpi-estimates", has ? Sup.fmtShare(acc.within_5_min_share) : Sup.t("none"),
        has ? Sup.shareClass(acc.within_5_min_share) : "");
    // the whole sentence above the services table: share, "k of n", mean error, bias
    var line = document.getElementById("svc-estimates");
    line.textContent = has ? Sup.t("est.line", {k: acc.within_5_min, n: acc.count,
      p: Sup.fmtShare(acc.within_5_min_share), m: Sup.fmtMinutes(acc.mean_abs_error_seconds), b: Sup.biasText(acc, true)})
      : Sup.t("est.none");
    line.className = "est-line " + Sup.biasClass(acc);
    var el = document.getElementById("kpi-estimates");
    el.title = line.textContent;
    el.dataset.count = has ? acc.count : 0;
    el.dataset.within = has ? acc.within_5_min : 0;
    el.dataset.bias = has && acc.bias_seconds !== null ? acc.bias_seconds : "";
  }

  // A new ticket's wait in the words the citizen reads at the kiosk (eta.js), the exact figure on hover.
  function etaCell(seconds) {
    if (seconds === null || seconds === undefined) return '<td class="n eta" data-eta="none"><span class="muted">' +
      Sup.t("svc.closed") + "</span></td>";
    var r = window.HallEta.of(seconds);
    return '<td class="n eta" data-eta="' + window.HallEta.kind(r) + '" data-eta-range="' + r[0] + "," + r[1] +
      '" data-seconds="' + seconds + '" title="' + Sup.esc(Sup.fmtDuration(seconds)) + '">' +
      Sup.esc(window.HallEta.text(r, {lang: Sup.lang, digits: "western"})) + "</td>";
  }

  // A waiting ticket's wait as its kiosk slip and phone page say it: the server's own range (eta.js).
  function ticketEtaCell(t) {
    var r = window.HallEta.of(t);
    if (!r) return '<td class="n eta" data-eta="none"><span class="muted">' + Sup.esc(Sup.t("svc.closed")) + "</span></td>";
    return '<td class="n eta" data-eta="' + window.HallEta.kind(r) + '" data-eta-range="' + r[0] + "," + r[1] +
      '" data-seconds="' + t.eta_seconds + '" title="' + Sup.esc(Sup.fmtDuration(t.eta_seconds)) + '">' +
      keepFigure(window.HallEta.text(r, {lang: Sup.lang, digits: "western"})) + "</td>";
  }

  // "حوالي " + "5–15 دقيقة": a narrow cell wraps after the word, never inside the figure and its noun.
  function keepFigure(words) {
    var m = /^([^0-9\u0660-\u0669]*?)([0-9\u0660-\u0669].*)$/.exec(words);
    if (!m) return Sup.esc(words);
    return Sup.esc(m[1]) + '<span class="eta-figure" style="white-space:nowrap">' + Sup.esc(m[2]) + "</span>";
  }

  function button(action, number, label, cls) {
    return '<button type="button" class="small ' + (cls || "") + '" data-action="' + action + '" data-window="' +
      number + '">' + Sup.esc(Sup.t(label)) + "</button>";
  }

  function renderWindows() {
    var idleHot = state.alerts ? state.alerts.rules.idle_seconds : 180;
    var rows = state.stats.windows.map(function (w) {
      var clerk = w.clerk ? (w.clerk.full_name || w.clerk.username) : Sup.t("none");
      var cur = w.current ? '<span class="ticket-no ltr">' + Sup.esc(w.current) + "</span>" +
        '<span class="ticket-no"><small>' + Sup.esc(Sup.t("status." + w.current_status)) + " · " +
        Sup.esc(serviceName(w.current_service)) + "</small></span>" : '<span class="muted">' + Sup.t("none") + "</span>";
      // the main service, and how many more it takes in order (all of them on hover)
      var all = w.services.map(function (code, i) { return (i + 1) + ". " + serviceName(code); }).join("\n");
      var chips = (w.services.length ? '<span class="chip first">' + Sup.esc(serviceName(w.services[0])) + "</span>" : "") +
        (w.services.length > 1 ? '<span class="chip more ltr">+' + (w.services.length - 1) + "</span>" : "");
      chips = '<div class="chips" title="' + Sup.esc(all) + '">' + chips + "</div>";
      var acts = [];
      if (w.state === "closed") acts.push(button("open", w.number, "act.open", "go"));
      if (w.state === "open") acts.push(button("pause", w.number, "act.pause", "warn"));
      if (w.state === "paused") acts.push(button("resume", w.number, "act.resume", "go"));
      if (w.state !== "closed") acts.push(button("close", w.number, "act.close", "bad"));
      acts.push(button("services", w.number, "act.services"));
      return '<tr data-window="' + w.number + '" data-state="' + w.state + '">' +
        '<td><span class="win-num">' + w.number + "</span></td>" +
        '<td><span class="pill" data-state="' + w.state + '">' + Sup.esc(Sup.t("state." + w.state)) + "</span></td>" +
        '<td class="clerk">' + Sup.esc(clerk) + "</td>" +
        '<td class="current">' + cur + "</td>" +
        '<td class="n timer" data-base="' + (w.serving_seconds === null ? "" : w.serving_seconds) + '"></td>' +
        '<td class="n timer idle" data-base="' + (w.idle_seconds === null ? "" : w.idle_seconds) +
        '" data-hot="' + idleHot + '"></td>' +
        "<td>" + chips + "</td>" +
        '<td><div class="actions-cell">' + acts.join("") + "</div></td></tr>";
    });
    document.querySelector("#windows-table tbody").innerHTML = rows.join("");
    tick();
  }

  function renderServices() {
    var s = state.stats;
    document.getElementById("svc-target").textContent = Sup.t("svc.target", {m: Math.round(s.wait_target_seconds / 60)});
    var list = s.services.slice().sort(function (a, b) {
      return (b.waiting - a.waiting) || (b.longest_wait_seconds - a.longest_wait_seconds) || a.service.localeCompare(b.service);
    });
    var rows = list.map(function (x) {
      var over = x.waiting > 0 && x.longest_wait_seconds > s.wait_target_seconds;
      return '<tr data-service="' + Sup.esc(x.service) + '"' + (over ? ' class="over"' : "") + ">" +
        "<td>" + Sup.esc(serviceName(x.service)) + "</td>" +
        '<td class="n waiting">' + x.waiting + "</td>" +
        '<td class="n timer' + (over ? " hot" : "") + '" data-base="' + (x.waiting ? x.longest_wait_seconds : "") + '"></td>' +
        '<td class="n">' + Sup.fmtDuration(x.average_wait_seconds) + "</td>" +
        etaCell(x.eta_new_seconds) +
        "<td>" + Sup.shareHtml(x.within_target_share) + "</td>" +
        '<td class="n">' + (x.open_windows === undefined ? "" : x.open_windows) + "</td>" +
        '<td class="n">' + x.served + "</td>" +
        '<td class="est-share">' + Sup.accuracyHtml(x.estimates) + "</td>" +
        '<td class="n est-error">' + Sup.esc(Sup.errorMinutes(x.estimates)) +
        (x.estimates && x.estimates.count ? '<br><small class="' + Sup.biasClass(x.estimates) + '">' +
          Sup.esc(Sup.biasText(x.estimates, false)) + "</small>" : "") + "</td></tr>";
    });
    if (!rows.length) rows = ['<tr class="empty-row"><td colspan="10">' + Sup.esc(Sup.t("svc.none")) + "</td></tr>"];
    document.querySelector("#services-table tbody").innerHTML = rows.join("");
    tick();
  }

  function renderWaiting() {
    var list = state.stats.waiting_tickets || [];
    document.getElementById("waiting-count").textContent = String(state.stats.totals.waiting);
    var target = state.stats.wait_target_seconds;
    var rows = list.map(function (t) {
      var where = t.target_window ? ' <small class="muted">' + Sup.esc(Sup.t("wait.to_window", {w: t.target_window})) + "</small>" : "";
      return '<tr data-ticket="' + Sup.esc(t.number) + '">' +
        '<td><span class="ticket-no ltr">' + Sup.esc(t.number) + "</span></td>" +
        "<td>" + Sup.esc(serviceName(t.service)) + where + "</td>" +
        '<td class="n ahead">' + (t.position === null || t.position === undefined ? "—" : Sup.esc(String(t.position))) + "</td>" +
        ticketEtaCell(t) +
        '<td class="n timer" data-base="' + t.wait_seconds + '" data-hot="' + target + '"></td>' +
        '<td><button type="button" class="small" data-move="' + Sup.esc(t.number) + '" data-service="' +
        Sup.esc(t.service) + '">' + Sup.esc(Sup.t("act.move")) + "</button></td></tr>";
    });
    if (!rows.length) rows = ['<tr class="empty-row"><td colspan="6">' + Sup.esc(Sup.t("wait.none")) + "</td></tr>"];
    document.querySelector("#waiting-table tbody").innerHTML = rows.join("");
    tick();
  }

  // ----- devices: codes from the server, words on the page -------------------------------------
  function roleText(role) { return Sup.t(Sup.STR.ar["role." + role] ? "role." + role : "role.other"); }
  function statusText(status) { return Sup.t(Sup.STR.ar["dstatus." + status] ? "dstatus." + status : "dstatus.other"); }
  // The known details in words; anything else is a technical text for support, shown as such in
  // Arabic (the text itself in the tooltip) and as it is in English.
  var DETAILS = [
    [/^disconnected$/i, "ddetail.disconnected"], [/^waiting to print (\S+)/i, "ddetail.waiting_print"],
    [/^speech is back/i, "ddetail.speech_back"], [/^call audio downloads again/i, "ddetail.audio_back"],
    [/chime only/i, "ddetail.chime_only"], [/cannot download call audio/i, "ddetail.audio_download"],
    [/dropped the job/i, "ddetail.dropped"], [/cannot connect|refused|timed? ?out|unreachable/i, "ddetail.cannot_connect"],
    [/did not come back in time/i, "ddetail.expired"]];
  function detailHtml(detail, status) {
    if (!detail) return "";
    for (var i = 0; i < DETAILS.length; i++) {
      var m = DETAILS[i][0].exec(detail);
      if (m) {
        if (status && Sup.t(DETAILS[i][1]) === statusText(status)) return "";   // says the status again
        return Sup.esc(Sup.t(DETAILS[i][1])).replace("{t}", m[1] ? '<bdi class="ltr">' + Sup.esc(m[1]) + "</bdi>" : "");
      }
    }
    if (Sup.lang === "en") return Sup.esc(detail);
    return '<span class="technical" title="' + Sup.esc(detail) + '">' + Sup.esc(Sup.t("ddetail.technical")) + "</span>";
  }
  function deviceName(name) { return '<bdi class="ltr mono dev-name">' + Sup.esc(name) + "</bdi>"; }
  // A device alert's text, rebuilt from what it is about (the server's sentences carry the raw
  // status and detail): "Device NAME is offline (DETAIL)" / "Device NAME: STATUS (DETAIL)".
  function deviceAlertHtml(a) {
    var m = /^Device (.+?)(?: is offline|: (\S+))(?: \((.*)\))?$/.exec(a.message_en || "");
    if (!m) return null;
    var text = Sup.esc(Sup.t(m[2] ? "alert.device_problem" : "alert.device_offline"))
      .replace("{d}", deviceName(m[1])).replace("{s}", Sup.esc(m[2] ? statusText(m[2]) : ""));
    var detail = detailHtml(m[3] || "", m[2] || "offline");
    return text + (detail ? " — " + detail : "");
  }
  function alertHtml(a) {
    if (a.code === "device_offline" || a.code === "device_problem") {
      var html = deviceAlertHtml(a);
      if (html !== null) return html;
    }
    return Sup.esc(Sup.lang === "ar" ? a.message_ar : a.message_en);
  }

  function renderAlerts() {
    var a = state.alerts;
    if (!a) return;
    document.getElementById("alerts-at").textContent = Sup.t("alerts.at", {t: Sup.fmtTime(a.at)});
    document.getElementById("alerts-ok").hidden = a.active.length > 0;
    document.getElementById("alert-list").innerHTML = a.active.map(function (x) {
      return '<li class="alert" data-code="' + Sup.esc(x.code) + '" data-subject="' + Sup.esc(x.subject || "") +
        '" data-severity="' + Sup.esc(x.severity) + '">' +
        '<div class="a-msg">' + alertHtml(x) + "</div>" +
        '<div class="a-meta">' + Sup.esc(Sup.t("alerts.since")).replace("{t}", "<bdi>" +
          Sup.esc(Sup.fmtWhen(x.since || x.raised_at)) + "</bdi>") + "</div></li>";
    }).join("");
    var hist = a.history.slice(0, 40).map(function (h) {
      return '<li data-change="' + h.change + '" data-code="' + Sup.esc(h.code) + '"><span class="ltr mono">' +
        Sup.fmtTime(h.at) + '</span><span class="h-change" data-change="' + h.change + '">' +
        Sup.esc(Sup.t("alerts." + h.change)) + "</span><span>" + alertHtml(h) + "</span></li>";
    });
    document.getElementById("alert-history").innerHTML = hist.length ? hist.join("")
      : '<li class="muted">' + Sup.esc(Sup.t("alerts.no_history")) + "</li>";
    renderKpis();
  }

  function renderDevices() {
    var devs = (state.alerts && state.alerts.devices) || [];
    document.getElementById("dev-none").hidden = devs.length > 0;
    document.getElementById("dev-list").innerHTML = devs.map(function (d) {
      var detail = detailHtml(d.detail, d.status);
      return '<li data-status="' + Sup.esc(d.status) + '" data-device="' + Sup.esc(d.device) + '"><span class="dot"></span>' +
        deviceName(d.device) + '<span class="muted dev-role">' + Sup.esc(roleText(d.role)) + "</span>" +
        '<b class="dev-status">' + Sup.esc(statusText(d.status)) + "</b>" +
        (detail ? '<span class="muted dev-detail">' + detail + "</span>" : "") + "</li>";
    }).join("");
  }

  function renderBoard() {
    var el = document.getElementById("board-current");
    el.textContent = state.board ? Sup.t("board.current", {m: state.board}) : Sup.t("board.empty");
  }

  function renderStaffing() {
    var card = document.getElementById("staffing-card");
    var rows = state.staffing;
    card.hidden = !rows;
    if (!rows) return;
    var open = state.stats ? state.stats.windows.filter(function (w) { return w.state === "open"; }).length : null;
    document.querySelector("#staffing-table tbody").innerHTML = rows.map(function (r) {
      return '<tr><td><span class="ltr mono">' + String(r.hour).padStart(2, "0") + ':00</span></td><td class="n">' +
        Sup.esc(r.expected_arrivals) + '</td><td class="n">' + Sup.esc(r.windows_needed) + "</td></tr>";
    }).join("");
    if (!window.Chart) return;
    var labels = rows.map(function (r) { return String(r.hour).padStart(2, "0") + ":00"; });
    var data = {labels: labels, datasets: [
      {type: "bar", label: Sup.t("staff.needed"), data: rows.map(function (r) { return r.windows_needed; }),
       backgroundColor: "#1d5c96"},
      {type: "line", label: Sup.t("staff.open_now"), data: rows.map(function () { return open; }),
       borderColor: "#b26a00", borderDash: [6, 4], pointRadius: 0}]};
    if (state.staffingChart) state.staffingChart.destroy();
    state.staffingChart = new window.Chart(document.getElementById("staffing-chart"), {
      type: "bar", data: data,
      options: Sup.chartDir({scales: {x: {reverse: Sup.lang === "ar"}, y: {beginAtZero: true, ticks: {precision: 0},
                                        position: Sup.lang === "ar" ? "right" : "left"}}})});
  }

  // Durations count up between refreshes, from the server's figure at fetch time.
  function tick() {
    if (!state.fetchedAt) return;
    var add = elapsed();
    document.querySelectorAll("#screen-main .timer").forEach(function (el) {
      var base = el.dataset.base;
      if (base === "" || base === undefined) { el.textContent = base === "" ? Sup.t("none") : ""; return; }
      var v = Number(base) + add;
      el.textContent = Sup.fmtDuration(v);
      var hot = el.dataset.hot ? Number(el.dataset.hot) : null;
      if (hot !== null) el.classList.toggle("hot", v > hot);
    });
  }

  // ----- actions ---------------------------------------------------------------------------------
  function act(promise, okText) {
    Sup.clearError();
    return promise.then(function (res) {
      if (okText) Sup.notice(okText);
      schedule();
      return res;
    }, function (err) { Sup.showError(err); throw err; });
  }

  function windowAction(number, action) {
    act(Sup.api("POST", "/halls/" + HALL + "/windows/" + number + "/" + action),
        Sup.t("n.window", {w: number, s: Sup.t("act." + action)})).catch(function () {});
  }

  // services editor: an ordered list with up/down/remove, and a select to add
  var editing = {window: null, list: []};

  function renderOrder() {
    var ol = document.getElementById("svc-order");
    ol.innerHTML = editing.list.map(function (code, i) {
      return '<li data-code="' + Sup.esc(code) + '"><span class="s-name">' + Sup.esc(serviceName(code)) + "</span>" +
        '<button type="button" class="small" data-up="' + i + '"' + (i === 0 ? " disabled" : "") + ' aria-label="' +
        Sup.esc(Sup.t("dlg.up")) + '">▲</button>' +
        '<button type="button" class="small" data-down="' + i + '"' + (i === editing.list.length - 1 ? " disabled" : "") +
        ' aria-label="' + Sup.esc(Sup.t("dlg.down")) + '">▼</button>' +
        '<button type="button" class="small bad" data-remove="' + i + '">' + Sup.esc(Sup.t("dlg.remove")) + "</button></li>";
    }).join("");
    var sel = document.getElementById("svc-add-select");
    sel.innerHTML = state.catalog.filter(function (s) { return editing.list.indexOf(s.code) < 0; }).map(function (s) {
      return '<option value="' + Sup.esc(s.code) + '">' + Sup.esc(Sup.name(s.name)) + "</option>";
    }).join("");
    document.getElementById("svc-add").disabled = !sel.options.length;
  }

  function openServices(number) {
    var w = state.stats.windows.filter(function (x) { return x.number === number; })[0];
    editing = {window: number, list: w.services.slice()};
    document.getElementById("dlg-services-window").textContent = String(number);
    document.getElementById("services-error").textContent = "";
    renderOrder();
    document.getElementById("dlg-services").showModal();
  }

  function openMove(ticket, service) {
    var dlg = document.getElementById("dlg-move");
    dlg.dataset.ticket = ticket;
    document.getElementById("dlg-move-ticket").textContent = ticket;
    document.getElementById("move-error").textContent = "";
    var sel = document.getElementById("move-service");
    sel.innerHTML = state.catalog.filter(function (s) { return s.code !== service; }).map(function (s) {
      return '<option value="' + Sup.esc(s.code) + '">' + Sup.esc(Sup.name(s.name)) + " (" + s.waiting + ")</option>";
    }).join("");
    dlg.showModal();
    sel.focus();
  }

  function wire() {
    document.getElementById("windows-table").addEventListener("click", function (e) {
      var b = e.target.closest("button[data-action]");
      if (!b) return;
      var n = Number(b.dataset.window);
      if (b.dataset.action === "services") openServices(n);
      else windowAction(n, b.dataset.action);
    });
    document.getElementById("waiting-table").addEventListener("click", function (e) {
      var b = e.target.closest("button[data-move]");
      if (b) openMove(b.dataset.move, b.dataset.service);
    });
    document.getElementById("svc-order").addEventListener("click", function (e) {
      var b = e.target.closest("button");
      if (!b) return;
      var l = editing.list, i;
      if (b.dataset.up !== undefined) { i = Number(b.dataset.up); l.splice(i - 1, 0, l.splice(i, 1)[0]); }
      else if (b.dataset.down !== undefined) { i = Number(b.dataset.down); l.splice(i + 1, 0, l.splice(i, 1)[0]); }
      else if (b.dataset.remove !== undefined) { l.splice(Number(b.dataset.remove), 1); }
      renderOrder();
    });
    document.getElementById("svc-add").addEventListener("click", function () {
      var code = document.getElementById("svc-add-select").value;
      if (code) { editing.list.push(code); renderOrder(); }
    });
    document.getElementById("services-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var errEl = document.getElementById("services-error");
      if (!editing.list.length) { errEl.textContent = Sup.t("dlg.need_one"); return; }
      var n = editing.window;
      Sup.api("PUT", "/halls/" + HALL + "/windows/" + n + "/services", {services: editing.list}).then(function () {
        document.getElementById("dlg-services").close();
        Sup.notice(Sup.t("n.services", {w: n}));
        schedule();
      }, function (err) { errEl.textContent = Sup.errorText(err); });
    });
    document.getElementById("move-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var dlg = document.getElementById("dlg-move");
      var service = document.getElementById("move-service").value;
      Sup.api("POST", "/halls/" + HALL + "/queue/move", {ticket: dlg.dataset.ticket, service: service}).then(function (t) {
        dlg.close();
        Sup.notice(Sup.t("n.moved", {t: t.number, s: serviceName(t.service)}));
        schedule();
      }, function (err) { document.getElementById("move-error").textContent = Sup.errorText(err); });
    });
    document.querySelectorAll("dialog [data-cancel]").forEach(function (b) {
      b.addEventListener("click", function () { b.closest("dialog").close(); });
    });
    document.getElementById("board-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var text = document.getElementById("board-message").value.trim();
      act(Sup.api("PUT", "/halls/" + HALL + "/board/message", {message: text || null}),
          Sup.t(text ? "n.board" : "n.board_cleared")).then(function (board) {
        state.board = board.message; renderBoard();
        document.getElementById("board-message").value = "";
      }).catch(function () {});
    });
    document.getElementById("board-clear").addEventListener("click", function () {
      act(Sup.api("PUT", "/halls/" + HALL + "/board/message", {message: null}), Sup.t("n.board_cleared"))
        .then(function () { state.board = null; renderBoard(); }).catch(function () {});
    });
    Sup.onLang.push(function () { render(); renderAlerts(); });
  }

  function liveStatus(s) {
    var el = document.getElementById("live");
    el.dataset.state = s;
    document.getElementById("live-text").textContent = Sup.t("live." + s);
    el.dataset.i18nState = s;
  }

  function connect(token) {
    state.live = new window.HallLive({
      hall: HALL, role: "supervisor", auth: token,
      onSnapshot: function (snap) { state.board = snap.board.message; renderBoard(); schedule(); },
      onEvent: function (name, data) {
        if (name === "board_message") { state.board = data.message; renderBoard(); }
        schedule();
      },
      onStatus: function (s, detail) {
        liveStatus(s === "online" ? "online" : s === "error" ? "error" : "offline");
        if (s === "error" && detail) Sup.showError(detail);
      },
    }).connect();
    Sup.onLang.push(function () {
      var el = document.getElementById("live");
      document.getElementById("live-text").textContent = Sup.t("live." + el.dataset.state);
    });
  }

  var started = false;
  Sup.start(function () {
    if (started) { schedule(); return; }  // logged in again in the same page
    started = true;
    Sup.chartDefaults();
    wire();
    loadCatalog().then(refresh, Sup.showError);
    connect(Sup.token());
    loadStaffing();
    setInterval(tick, 1000);
    setInterval(schedule, ALERTS_EVERY_MS);
    setInterval(function () {  // without a live connection, keep the figures fresh anyway
      if (document.getElementById("live").dataset.state !== "online") schedule();
    }, OFFLINE_POLL_MS);
    setInterval(loadStaffing, 10 * 60 * 1000);
  });
})();
