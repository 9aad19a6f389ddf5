// Shared by the supervisor's pages: strings (Arabic first, English toggle), login with a token in
// sessionStorage, the REST client, number and time formats, and Chart.js defaults for RTL.
(function (global) {
  "use strict";

  var API = "/api/v1";
  var KEY_TOKEN = "supervisor.token", KEY_USER = "supervisor.user", KEY_LANG = "supervisor.lang";
  var body = document.body;
  var Sup = {hall: body.dataset.hall || null, tz: body.dataset.timezone || "Africa/Cairo", onLang: []};

  Sup.STR = {
    ar: {
      "live.online": "متصل", "live.offline": "غير متصل", "live.error": "خطأ في الاتصال المباشر",
      "btn.logout": "تسجيل الخروج", "lang.other": "English",
      "nav.live": "القاعة الآن", "nav.reports": "التقارير", "nav.governorate": "المحافظة",
      "login.title": "دخول المشرف", "login.username": "اسم المستخدم", "login.password": "كلمة المرور",
      "login.submit": "دخول", "login.missing": "أدخل اسم المستخدم وكلمة المرور.",
      "err.generic": "تعذر تنفيذ الطلب.", "err.network_error": "تعذر الاتصال بالخادم.",
      "err.bad_credentials": "اسم المستخدم أو كلمة المرور غير صحيحة.",
      "err.too_many_attempts": "محاولات خاطئة كثيرة؛ أعد المحاولة بعد قليل.",
      "err.login_busy": "الخادم مشغول بتسجيلات دخول كثيرة؛ أعد المحاولة بعد ثوانٍ.",
      "err.unavailable": "قاعدة البيانات غير متاحة الآن؛ أعد المحاولة بعد قليل.",
      "err.not_your_ticket": "هذه التذكرة لدى شباك آخر.",
      "err.other_hall": "حسابك لا يعمل في هذا المركز.",
      "err.not_your_file": "هذا الملف ليس للمواطن الذي على شباكك.",
      "err.unauthorized": "انتهت الجلسة. سجّل الدخول من جديد.",
      "err.forbidden": "ليست لديك صلاحية لهذا الإجراء.",
      "err.not_supervisor": "هذه الصفحات للمشرفين والمديرين فقط.",
      "err.window_busy": "على الشباك تذكرة حالية: أنهِها أولًا.",
      "err.invalid_state": "الحالة الحالية لا تسمح بهذا الإجراء.",
      "err.not_waiting": "التذكرة لم تعد في الانتظار.", "err.same_service": "التذكرة تنتظر هذه الخدمة بالفعل.",
      "err.unknown_service": "الخدمة غير موجودة.", "err.invalid_input": "قيمة غير صحيحة.",
      "err.invalid_field": "قيمة غير صحيحة.", "err.missing_field": "حقل مطلوب ناقص.",
      "err.invalid_date": "تاريخ غير صحيح.", "err.invalid_range": "الفترة غير صحيحة (حتى سنة وشهر).",
      "err.not_found": "غير موجود.", "err.internal": "خطأ في الخادم (تم تسجيله).",
      "err.domain_error": "لا يمكن تنفيذ هذا الإجراء الآن.", "err.conflict": "تغيرت البيانات في الأثناء؛ أعد المحاولة.",
      "err.not_signed_in": "لا يوجد موظف على هذا الشباك.", "err.window_not_open": "الشباك ليس مفتوحًا.",
      "err.window_taken": "الشباك مشغول بموظف آخر.", "err.no_current_ticket": "لا توجد تذكرة حالية على الشباك.",
      "err.invalid_json": "طلب غير صالح.", "err.invalid_format": "صيغة غير معروفة.",
      "err.bad_request": "طلب غير صالح.", "err.method_not_allowed": "طلب غير صالح.",
      "err.too_many_requests": "طلبات كثيرة في وقت قصير؛ انتظر قليلًا.",
      "err.internal_server_error": "خطأ في الخادم (تم تسجيله).", "err.service_unavailable": "الخادم غير متاح الآن.",
      "err.server_unavailable": "الخادم غير متاح الآن.", "err.ref": "مرجع للدعم الفني: {c}",
      "state.open": "مفتوح", "state.paused": "استراحة", "state.closed": "مغلق",
      "status.called": "نُودي", "status.serving": "قيد الخدمة",
      "unit.min": "د", "none": "—",
      // wait estimates against the waits that happened (estimate at issue minus the wait)
      "est.of": "{k} من {n}", "est.error": "{m} د",
      "est.short": "أقصر بـ {m} د", "est.long": "أطول بـ {m} د", "est.fair": "بلا انحياز",
      "est.bias_short": "التقديرات أقصر من الواقع بـ {m} د", "est.bias_long": "التقديرات أطول من الواقع بـ {m} د",
      "est.bias_fair": "التقديرات بلا انحياز يُذكر",
      "est.none": "تقديرات الانتظار اليوم: لم يُنادَ بعد على تذكرة لها تقدير.",
    },
    en: {
      "live.online": "Live", "live.offline": "Offline", "live.error": "Live connection error",
      "btn.logout": "Log out", "lang.other": "العربية",
      "nav.live": "Hall now", "nav.reports": "Reports", "nav.governorate": "Governorate",
      "login.title": "Supervisor login", "login.username": "Username", "login.password": "Password",
      "login.submit": "Log in", "login.missing": "Enter your username and password.",
      "err.generic": "The request failed.", "err.network_error": "Cannot reach the server.",
      "err.bad_credentials": "Wrong username or password.",
      "err.too_many_attempts": "Too many wrong attempts; try again later.",
      "err.login_busy": "The server is busy with many log-ins; try again in a few seconds.",
      "err.unavailable": "The database cannot be reached right now; try again shortly.",
      "err.not_your_ticket": "This ticket is held by another window.",
      "err.other_hall": "Your account does not work in this hall.",
      "err.not_your_file": "This file is not the citizen's at your window.",
      "err.unauthorized": "Your session ended. Log in again.",
      "err.forbidden": "You are not allowed to do this.",
      "err.not_supervisor": "These pages are for supervisors and admins.",
      "err.window_busy": "The window holds a ticket: finish it first.",
      "err.invalid_state": "The current state does not allow this.",
      "err.not_waiting": "The ticket is no longer waiting.", "err.same_service": "The ticket already waits for that service.",
      "err.unknown_service": "Unknown service.", "err.invalid_input": "Invalid value.",
      "err.invalid_field": "Invalid value.", "err.missing_field": "A required field is missing.",
      "err.invalid_date": "Invalid date.", "err.invalid_range": "Invalid range (at most 400 days).",
      "err.not_found": "Not found.", "err.internal": "Server error (logged).",
      "err.domain_error": "That cannot be done now.", "err.conflict": "The data changed meanwhile; try again.",
      "err.not_signed_in": "No clerk is signed in at this window.", "err.window_not_open": "The window is not open.",
      "err.window_taken": "Another clerk holds the window.", "err.no_current_ticket": "The window has no current ticket.",
      "err.invalid_json": "Bad request.", "err.invalid_format": "Unknown format.",
      "err.bad_request": "Bad request.", "err.method_not_allowed": "Bad request.",
      "err.too_many_requests": "Too many requests at once; wait a moment.",
      "err.internal_server_error": "Server error (logged).", "err.service_unavailable": "The server is unavailable.",
      "err.server_unavailable": "The server is unavailable.", "err.ref": "Reference for support: {c}",
      "state.open": "Open", "state.paused": "On break", "state.closed": "Closed",
      "status.called": "Called", "status.serving": "Serving",
      "unit.min": "min", "none": "—",
      "est.of": "{k} of {n}", "est.error": "{m} min",
      "est.short": "{m} min short", "est.long": "{m} min long", "est.fair": "no bias",
      "est.bias_short": "estimates run {m} min short", "est.bias_long": "estimates run {m} min long",
      "est.bias_fair": "estimates show no bias",
      "est.none": "Wait estimates today: no ticket with an estimate has been called yet.",
    },
  };

  Sup.lang = (function () {
    try { return localStorage.getItem(KEY_LANG) === "en" ? "en" : "ar"; } catch (e) { return "ar"; }
  })();

  Sup.addStrings = function (more) {
    ["ar", "en"].forEach(function (l) { Object.keys(more[l]).forEach(function (k) { Sup.STR[l][k] = more[l][k]; }); });
  };

  Sup.t = function (key, vars) {
    var s = Sup.STR[Sup.lang][key];
    if (s === undefined) s = Sup.STR.ar[key];
    if (s === undefined) s = key;
    if (vars) s = s.replace(/\{(\w+)\}/g, function (m, k) { return vars[k] !== undefined ? vars[k] : m; });
    return s;
  };

  Sup.applyLang = function () {
    var html = document.documentElement;
    html.lang = Sup.lang;
    html.dir = Sup.lang === "ar" ? "rtl" : "ltr";
    document.querySelectorAll("[data-i18n]").forEach(function (el) { el.textContent = Sup.t(el.dataset.i18n); });
    document.querySelectorAll("[data-i18n-placeholder]").forEach(function (el) {
      el.placeholder = Sup.t(el.dataset.i18nPlaceholder);
    });
    var toggle = document.getElementById("lang-toggle");
    if (toggle) {
      toggle.textContent = Sup.t("lang.other");
      toggle.lang = Sup.lang === "ar" ? "en" : "ar";
    }
    var title = body.dataset["title" + (Sup.lang === "ar" ? "Ar" : "En")];
    if (title) document.title = title;
    var hn = document.getElementById("hall-name");
    if (hn && body.dataset.hallAr) hn.textContent = Sup.lang === "ar" ? body.dataset.hallAr : body.dataset.hallEn;
    Sup.onLang.forEach(function (fn) { fn(); });
  };

  Sup.name = function (pair) {
    if (!pair) return "";
    return (Sup.lang === "ar" ? pair.ar : pair.en) || pair.ar || pair.en || "";
  };

  // ----- formats ---------------------------------------------------------------------------------
  Sup.fmtDuration = function (seconds) {
    if (seconds === null || seconds === undefined || isNaN(seconds)) return Sup.t("none");
    var s = Math.max(0, Math.round(seconds));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var mm = (h ? String(m).padStart(2, "0") : String(m)) + ":" + String(r).padStart(2, "0");
    return h ? h + ":" + mm : mm;
  };
  Sup.fmtShare = function (x) {
    if (x === null || x === undefined) return Sup.t("none");
    return (Math.round(x * 1000) / 10).toFixed(1).replace(/\.0$/, "") + "%";
  };
  Sup.shareClass = function (x) {
    if (x === null || x === undefined) return "";
    return x >= 0.8 ? "good" : x >= 0.5 ? "mid" : "bad";
  };
  Sup.fmtNum = function (n) {
    if (n === null || n === undefined) return Sup.t("none");
    return String(n);
  };
  Sup.fmtTime = function (iso) {
    if (!iso) return Sup.t("none");
    return new Intl.DateTimeFormat("en-GB", {timeZone: Sup.tz, hour: "2-digit", minute: "2-digit", hour12: false})
      .format(new Date(iso));
  };
  Sup.fmtDateTime = function (iso) {
    if (!iso) return Sup.t("none");
    return new Intl.DateTimeFormat("en-GB", {timeZone: Sup.tz, month: "2-digit", day: "2-digit", hour: "2-digit",
                                             minute: "2-digit", hour12: false}).format(new Date(iso));
  };
  // A time today, or date and time when it was another day (late files are late since a date).
  Sup.fmtWhen = function (iso) {
    if (!iso) return Sup.t("none");
    var day = new Intl.DateTimeFormat("en-CA", {timeZone: Sup.tz, year: "numeric", month: "2-digit", day: "2-digit"})
      .format(new Date(iso));
    return day === Sup.hallToday() ? Sup.fmtTime(iso) : day;
  };
  // The hall's local date (YYYY-MM-DD), whatever the PC's own time zone is.
  Sup.hallToday = function () {
    return new Intl.DateTimeFormat("en-CA", {timeZone: Sup.tz, year: "numeric", month: "2-digit", day: "2-digit"})
      .format(new Date());
  };
  // ----- wait-estimate accuracy ({count, within_5_min, within_5_min_share, mean_abs_error_seconds,
  // bias_seconds}; bias = estimate minus the wait: below zero the estimates ran short) ---------------
  // Minutes with one decimal under ten ("2.5"), whole above.
  Sup.fmtMinutes = function (seconds) {
    var m = Math.abs(seconds) / 60;
    return m < 10 ? String(Math.round(m * 10) / 10) : String(Math.round(m));
  };
  // "3 min short" / "2 min long" (short: a table cell) or the sentence; under half a minute: no bias.
  Sup.biasText = function (acc, sentence) {
    if (!acc || !acc.count || acc.bias_seconds === null || acc.bias_seconds === undefined) return Sup.t("none");
    var b = acc.bias_seconds;
    if (Math.abs(b) < 30) return Sup.t(sentence ? "est.bias_fair" : "est.fair");
    var key = b < 0 ? "short" : "long";
    return Sup.t((sentence ? "est.bias_" : "est.") + key, {m: Sup.fmtMinutes(b)});
  };
  Sup.errorMinutes = function (acc) {
    if (!acc || !acc.count || acc.mean_abs_error_seconds === null) return Sup.t("none");
    return Sup.t("est.error", {m: Sup.fmtMinutes(acc.mean_abs_error_seconds)});
  };
  // The share within 5 minutes as a bar, with "k of n" beside it.
  Sup.accuracyHtml = function (acc) {
    if (!acc || !acc.count) return '<span class="muted">' + Sup.t("none") + "</span>";
    return Sup.shareHtml(acc.within_5_min_share) + ' <small class="muted est-of">' +
      Sup.esc(Sup.t("est.of", {k: acc.within_5_min, n: acc.count})) + "</small>";
  };
  Sup.biasClass = function (acc) {
    if (!acc || !acc.count || acc.bias_seconds === null || Math.abs(acc.bias_seconds) < 30) return "";
    return acc.bias_seconds < 0 ? "bias-short" : "bias-long";
  };

  Sup.esc = function (s) {
    return String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  };
  Sup.shareHtml = function (x) {
    var cls = Sup.shareClass(x);
    if (x === null || x === undefined) return '<span class="muted">' + Sup.t("none") + "</span>";
    return '<span class="share ' + cls + '"><span class="bar"><i style="width:' + Math.round(x * 100) +
      '%"></i></span><span class="ltr">' + Sup.fmtShare(x) + "</span></span>";
  };

  // ----- notices ---------------------------------------------------------------------------------
  var noticeTimer = null;
  Sup.notice = function (text) {
    var el = document.getElementById("notice");
    if (!el) return;
    el.textContent = text;
    el.classList.add("shown");
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () { el.classList.remove("shown"); }, 2600);
  };
  // Words for every code; an unknown code gets the general sentence, never the code itself nor the
  // server's English message (both stay in the banner's tooltip and data-code, for support).
  Sup.errorText = function (err) {
    var code = err && err.code ? err.code : "generic";
    if (Sup.STR[Sup.lang]["err." + code]) return Sup.t("err." + code);
    if (/^http_5\d\d$/.test(code)) return Sup.t("err.server_unavailable");
    return Sup.t("err.generic");
  };
  Sup.showError = function (err) {
    var b = document.getElementById("banner");
    if (!b) { Sup.notice(Sup.errorText(err)); return; }
    document.getElementById("banner-text").textContent = Sup.errorText(err);
    b.dataset.code = (err && err.code) || "";
    b.title = Sup.t("err.ref", {c: (err && err.code) || "?"}) + (err && err.message ? " — " + err.message : "");
    b.hidden = false;
  };
  Sup.clearError = function () {
    var b = document.getElementById("banner");
    if (b) b.hidden = true;
  };

  // ----- REST ------------------------------------------------------------------------------------
  Sup.token = function () {
    try { return sessionStorage.getItem(KEY_TOKEN); } catch (e) { return null; }
  };
  Sup.api = function (method, path, data, raw) {
    var headers = {};
    var token = Sup.token();
    if (token) headers.Authorization = "Bearer " + token;
    var init = {method: method, headers: headers};
    if (data !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(data); }
    return fetch(API + path, init).then(function (resp) {
      if (resp.ok && raw) return resp;
      return resp.text().then(function (text) {
        var json = null;
        try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
        if (resp.ok) return json;
        var e = (json && json.error) || {code: "http_" + resp.status, message: text.slice(0, 200)};
        var err = new Error(e.message);
        err.code = e.code; err.status = resp.status;
        if (resp.status === 401 && path !== "/auth/login") Sup.logout(true);
        throw err;
      });
    }, function () {
      var err = new Error("network");
      err.code = "network_error";
      throw err;
    });
  };

  // ----- login -----------------------------------------------------------------------------------
  var ready = null;
  Sup.logout = function (expired) {
    var token = Sup.token();
    try { sessionStorage.removeItem(KEY_TOKEN); sessionStorage.removeItem(KEY_USER); } catch (e) { /* private mode */ }
    if (token && !expired) {
      fetch(API + "/auth/logout", {method: "POST", headers: {Authorization: "Bearer " + token}}).catch(function () {});
    }
    if (expired) Sup.showError({code: "unauthorized"});
    showLogin();
  };

  function showLogin() {
    body.dataset.screen = "login";
    document.getElementById("screen-login").hidden = false;
    document.getElementById("screen-main").hidden = true;
    var lo = document.getElementById("logout");
    if (lo) lo.hidden = true;
    var u = document.getElementById("username");
    if (u) u.focus();
  }

  function showMain(user) {
    body.dataset.screen = "main";
    document.getElementById("screen-login").hidden = true;
    document.getElementById("screen-main").hidden = false;
    var lo = document.getElementById("logout");
    if (lo) lo.hidden = false;
    var who = document.getElementById("who-name");
    if (who) who.textContent = user.full_name || user.username || user.name || "";
    if (ready) ready(user);
  }

  // Calls onReady(user) once a supervisor or admin is logged in (now, or after the form).
  Sup.start = function (onReady) {
    ready = onReady;
    Sup.applyLang();
    var toggle = document.getElementById("lang-toggle");
    if (toggle) toggle.addEventListener("click", function () {
      Sup.lang = Sup.lang === "ar" ? "en" : "ar";
      try { localStorage.setItem(KEY_LANG, Sup.lang); } catch (e) { /* private mode */ }
      Sup.applyLang();
    });
    var lo = document.getElementById("logout");
    if (lo) lo.addEventListener("click", function () { Sup.logout(false); });
    var bc = document.getElementById("banner-close");
    if (bc) bc.addEventListener("click", Sup.clearError);
    var form = document.getElementById("login-form");
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var err = document.getElementById("login-error");
      var username = document.getElementById("username").value.trim();
      var password = document.getElementById("password").value;
      if (!username || !password) { err.textContent = Sup.t("login.missing"); return; }
      err.textContent = "";
      Sup.api("POST", "/auth/login", {username: username, password: password}).then(function (res) {
        if (["supervisor", "admin"].indexOf(res.user.role) < 0) {
          fetch(API + "/auth/logout", {method: "POST", headers: {Authorization: "Bearer " + res.token}}).catch(function () {});
          err.textContent = Sup.t("err.not_supervisor");
          return;
        }
        sessionStorage.setItem(KEY_TOKEN, res.token);
        sessionStorage.setItem(KEY_USER, JSON.stringify(res.user));
        document.getElementById("password").value = "";
        Sup.clearError();
        showMain(res.user);
      }, function (e2) { err.textContent = Sup.errorText(e2); });
    });
    clock();
    setInterval(clock, 1000);
    if (!Sup.token()) { showLogin(); return; }
    Sup.api("GET", "/me").then(function (me) {
      if (["supervisor", "admin"].indexOf(me.role) < 0) { Sup.logout(false); return; }
      var user = {};
      try { user = JSON.parse(sessionStorage.getItem(KEY_USER) || "{}"); } catch (e) { user = {}; }
      showMain(user.username ? user : {username: me.name});
    }, function () { showLogin(); });
  };

  function clock() {
    var el = document.getElementById("hall-clock");
    if (el) el.textContent = new Intl.DateTimeFormat("en-GB", {timeZone: Sup.tz, hour: "2-digit", minute: "2-digit",
                                                              second: "2-digit", hour12: false}).format(new Date());
  }

  // ----- charts ----------------------------------------------------------------------------------
  // Chart.js defaults for Arabic: the page's fonts, legends and tooltips right to left.
  Sup.chartDefaults = function () {
    if (!global.Chart) return;
    var C = global.Chart;
    C.defaults.font.family = getComputedStyle(document.documentElement).getPropertyValue("--hall-font").trim() ||
      '"Hall Sans", sans-serif';  // the page's own served family (fonts.css), never a serif fallback
    C.defaults.font.size = 13;
    C.defaults.color = "#1b2733";
    C.defaults.animation = false;  // printing and screenshots see the final chart at once
    C.defaults.maintainAspectRatio = false;
    C.defaults.locale = "en-GB";  // Western digits on screens, as in the tables (DOMAIN.md)
    C.defaults.layout = {padding: {left: 12, right: 12, top: 4, bottom: 4}};  // edge labels are not cut
    if (document.fonts && document.fonts.ready) {
      // a canvas draws with whatever font is there: draw again once the page's own face has loaded
      document.fonts.ready.then(function () {
        Object.values(C.instances || {}).forEach(function (chart) { chart.update("none"); });
      });
    }
  };
  // Options that follow the page's direction: in Arabic the first category sits on the right.
  Sup.chartDir = function (opts) {
    var rtl = Sup.lang === "ar";
    opts = opts || {};
    opts.plugins = opts.plugins || {};
    opts.plugins.legend = Object.assign({rtl: rtl, textDirection: rtl ? "rtl" : "ltr", position: "top",
                                         labels: {boxWidth: 14}}, opts.plugins.legend || {});
    opts.plugins.tooltip = Object.assign({rtl: rtl, textDirection: rtl ? "rtl" : "ltr"}, opts.plugins.tooltip || {});
    return opts;
  };

  global.Sup = Sup;
})(window);
