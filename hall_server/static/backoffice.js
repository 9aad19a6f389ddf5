// The back-office page: a department's request files, oldest due first, late ones marked; a file's
// detail with its history and the actions of the status flow. Everything goes through /api/v1 with
// the signed-in user's token: the API enforces roles, departments and the flow; the page mirrors
// them only to offer the buttons that can work. Files raise no live events: the list is refetched
// every half minute and after each action.
(function () {
  "use strict";

  // The server masks digits with a dot, which passes for the Eastern zero (٠): masked numbers show
  // a star, as on every page.
  function masked(text) { return String(text || "").replace(/[\u2022\u25CF\u00B7]/g, "*"); }

  var API = "/api/v1";
  var HALL = document.body.dataset.hall;
  var TZ = document.body.dataset.timezone || "Africa/Cairo";
  var KEY_TOKEN = "backoffice.token", KEY_USER = "backoffice.user", KEY_LANG = "backoffice.lang";
  var KEY_DEPT = "backoffice.department", KEY_STATUS = "backoffice.status";
  var ROLES = ["back_office", "supervisor", "admin"];
  var POLL_MS = 30000;
  var REVEAL_MS = 60000;
  var OPEN = ["received", "under_review", "needs_documents", "ready"];
  // the flow of hall_server/domain/files.py; "delivered" is the counter's step (the citizen collects)
  var FLOW = {received: ["under_review", "needs_documents", "rejected"],
              under_review: ["needs_documents", "ready", "rejected"],
              needs_documents: ["under_review", "rejected"], ready: [], delivered: [], rejected: []};
  var NEEDS_REASON = ["needs_documents", "rejected"];

  var STR = {
    ar: {
      "app.title": "الإدارات الخلفية — ملفات الطلبات", "btn.logout": "تسجيل الخروج", "btn.refresh": "تحديث",
      "login.title": "دخول موظفي الإدارات الخلفية", "login.hint": "لموظفي الإدارات والمشرفين.",
      "login.username": "اسم المستخدم", "login.password": "كلمة المرور", "login.submit": "دخول",
      "login.missing": "أدخل اسم المستخدم وكلمة المرور.",
      "f.department": "الإدارة", "f.status": "الحالة", "f.open": "كل الملفات المفتوحة", "f.late": "المتأخرة فقط",
      "f.all_departments": "كل الإدارات",
      "st.received": "تم الاستلام", "st.under_review": "قيد المراجعة", "st.needs_documents": "مطلوب استكمال مستندات",
      "st.ready": "جاهز للتسليم", "st.delivered": "تم التسليم", "st.rejected": "مرفوض",
      "col.number": "رقم الملف", "col.service": "الخدمة", "col.citizen": "المواطن", "col.status": "الحالة",
      "col.received": "الاستلام", "col.due": "موعد الإنجاز", "col.late": "التأخير",
      "list.empty": "لا توجد ملفات بهذا الاختيار.", "list.meta": "{n} · المتأخر منها: {l} · آخر تحديث {t}",
      "late.days": "متأخر {d}", "late.left": "خلال {d}", "late.today": "اليوم آخر موعد", "late.none": "—",
      "detail.empty": "اختر ملفًا من القائمة لعرض تفاصيله وسجله.",
      "d.received_at": "استُلم في", "d.nid": "الرقم القومي", "d.reveal": "إظهار الرقم كاملًا", "d.hide": "إخفاء",
      "d.reveal_hint": "كل اطلاع على الرقم الكامل يُسجَّل باسمك.",
      "d.revealed": "سُجِّل اطلاعك على الرقم الكامل باسمك في سجل المراجعة ({t}).",
      "d.mobile": "الموبايل", "d.fee": "الرسوم", "d.fee_value": "{f} جنيه", "d.documents": "المستندات",
      "d.actions": "الإجراء",
      "d.reason_label": "السبب أو المطلوب من المواطن (إلزامي لاستكمال المستندات والرفض؛ يصل للمواطن)",
      "d.history": "سجل الملف", "d.readonly": "هذا الملف في إدارة أخرى أو مغلق: للعرض فقط.",
      "d.reason_needs": "المطلوب من المواطن: {r}", "d.reason_rejected": "سبب الرفض: {r}",
      "doc.yes": "مستلم", "doc.no": "لم يُستلم",
      "a.under_review": "قيد المراجعة", "a.needs_documents": "طلب استكمال مستندات", "a.ready": "جاهز للتسليم",
      "a.rejected": "رفض الطلب", "a.move_to": "نقل إلى إدارة", "a.move": "نقل",
      "v.reason": "اكتب السبب أو المطلوب من المواطن: يصله في رسالة وعلى صفحة الاستعلام.",
      "v.move": "اختر إدارة أخرى.",
      "n.status": "الملف {f}: {s}", "n.moved": "نُقل الملف {f} إلى {d}", "n.logged_out": "تم تسجيل الخروج.",
      "h.received": "استُلم الملف في الشباك", "h.status": "تغيير الحالة", "h.documents": "تسجيل مستندات",
      "h.moved": "نقل إلى إدارة أخرى", "h.viewed_national_id": "اطلاع على الرقم القومي كاملًا",
      "h.ticket": "التذكرة {n}", "h.docs": "المستندات: {d}", "h.moved_detail": "من {a} إلى {b}",
      "err.generic": "تعذر تنفيذ الطلب.", "err.network_error": "تعذر الاتصال بالخادم. تحقق من الشبكة ثم أعد المحاولة.",
      "err.bad_credentials": "اسم المستخدم أو كلمة المرور غير صحيحة.",
      "err.too_many_attempts": "محاولات خاطئة كثيرة؛ أعد المحاولة بعد قليل.",
      "err.login_busy": "الخادم مشغول بتسجيلات دخول كثيرة؛ أعد المحاولة بعد ثوانٍ.",
      "err.unavailable": "قاعدة البيانات غير متاحة الآن؛ أعد المحاولة بعد قليل.",
      "err.not_your_ticket": "هذه التذكرة لدى شباك آخر.",
      "err.other_hall": "حسابك لا يعمل في هذا المركز.",
      "err.not_your_file": "هذا الملف ليس للمواطن الذي على شباكك.",
      "err.unauthorized": "انتهت الجلسة. سجّل الدخول من جديد.",
      "err.forbidden": "ليست لديك صلاحية لهذا الإجراء (قد يكون الملف في إدارة أخرى).",
      "err.not_back_office": "هذه الصفحة لموظفي الإدارات الخلفية والمشرفين فقط.",
      "err.invalid_state": "حالة الملف الحالية لا تسمح بهذا الإجراء.",
      "err.reason_required": "هذا الإجراء يحتاج سببًا يقرؤه المواطن.",
      "err.invalid_department": "اختر إحدى إداراتك.", "err.same_department": "الملف في هذه الإدارة بالفعل.",
      "err.file_closed": "الملف مغلق (سُلِّم أو رُفض).", "err.unknown_file": "لا يوجد ملف بهذا الرقم.",
      "err.invalid_status": "حالة غير معروفة.", "err.invalid_input": "قيمة غير صحيحة.",
      "err.invalid_field": "قيمة غير صحيحة.", "err.missing_field": "حقل مطلوب ناقص.",
      "err.not_found": "غير موجود.", "err.internal": "خطأ في الخادم (تم تسجيله).",
    },
    en: {
      "app.title": "Back office — request files", "btn.logout": "Log out", "btn.refresh": "Refresh",
      "login.title": "Back-office staff login", "login.hint": "For department staff and supervisors.",
      "login.username": "Username", "login.password": "Password", "login.submit": "Log in",
      "login.missing": "Enter your username and password.",
      "f.department": "Department", "f.status": "Status", "f.open": "All open files", "f.late": "Late only",
      "f.all_departments": "All departments",
      "st.received": "Received", "st.under_review": "Under review", "st.needs_documents": "Documents needed",
      "st.ready": "Ready", "st.delivered": "Delivered", "st.rejected": "Rejected",
      "col.number": "File", "col.service": "Service", "col.citizen": "Citizen", "col.status": "Status",
      "col.received": "Received", "col.due": "Due", "col.late": "Lateness",
      "list.empty": "No files match.", "list.meta": "{n} · late: {l} · updated {t}",
      "late.days": "{d} late", "late.left": "{d} left", "late.today": "due today", "late.none": "—",
      "detail.empty": "Choose a file from the list to see its detail and history.",
      "d.received_at": "Received", "d.nid": "National ID", "d.reveal": "Show full ID", "d.hide": "Hide",
      "d.reveal_hint": "Every view of the full ID is recorded under your name.",
      "d.revealed": "Your view of the full ID was recorded in the audit trail ({t}).",
      "d.mobile": "Mobile", "d.fee": "Fee", "d.fee_value": "EGP {f}", "d.documents": "Documents",
      "d.actions": "Action",
      "d.reason_label": "Reason or what the citizen must bring (required for documents needed and reject; the citizen sees it)",
      "d.history": "History", "d.readonly": "This file is in another department or closed: read only.",
      "d.reason_needs": "Needed from the citizen: {r}", "d.reason_rejected": "Rejected: {r}",
      "doc.yes": "received", "doc.no": "missing",
      "a.under_review": "Under review", "a.needs_documents": "Ask for documents", "a.ready": "Ready",
      "a.rejected": "Reject", "a.move_to": "Move to department", "a.move": "Move",
      "v.reason": "Write the reason or what the citizen must bring: they see it by SMS and on the inquiry page.",
      "v.move": "Choose another department.",
      "n.status": "File {f}: {s}", "n.moved": "File {f} moved to {d}", "n.logged_out": "Logged out.",
      "h.received": "Received at the window", "h.status": "Status change", "h.documents": "Documents recorded",
      "h.moved": "Moved to another department", "h.viewed_national_id": "Full national ID viewed",
      "h.ticket": "ticket {n}", "h.docs": "documents: {d}", "h.moved_detail": "from {a} to {b}",
      "err.generic": "The request failed.", "err.network_error": "Cannot reach the server. Check the network and try again.",
      "err.bad_credentials": "Wrong username or password.",
      "err.too_many_attempts": "Too many wrong attempts; try again later.",
      "err.login_busy": "The server is busy with many log-ins; try again in a few seconds.",
      "err.unavailable": "The database cannot be reached right now; try again shortly.",
      "err.not_your_ticket": "This ticket is held by another window.",
      "err.other_hall": "Your account does not work in this hall.",
      "err.not_your_file": "This file is not the citizen's at your window.",
      "err.unauthorized": "Your session ended. Log in again.",
      "err.forbidden": "You are not allowed to do this (the file may be in another department).",
      "err.not_back_office": "This page is for back-office staff and supervisors only.",
      "err.invalid_state": "The file's current status does not allow this.",
      "err.reason_required": "This action needs a reason the citizen can read.",
      "err.invalid_department": "Choose one of your departments.", "err.same_department": "The file is already there.",
      "err.file_closed": "The file is closed (delivered or rejected).", "err.unknown_file": "No file with this number.",
      "err.invalid_status": "Unknown status.", "err.invalid_input": "Invalid value.",
      "err.invalid_field": "Invalid value.", "err.missing_field": "A required field is missing.",
      "err.not_found": "Not found.", "err.internal": "Server error (it has been logged).",
    },
  };

  var S = {
    lang: localStorage.getItem(KEY_LANG) === "en" ? "en" : "ar",
    token: null, user: null, departments: [], files: [], loadedAt: null,
    selected: null, detail: null, revealed: null, revealedAt: null, revealTimer: null,
    busy: false, gen: 0, pollTimer: null,
    detailVersion: 0,  // bumped by every load and action: an older GET never repaints over a newer answer
  };

  function $(id) { return document.getElementById(id); }
  function t(key, vars) {
    var s = STR[S.lang][key];
    if (s === undefined) s = STR.ar[key];
    if (s === undefined) return key;
    if (vars) s = s.replace(/\{(\w+)\}/g, function (_, k) { return vars[k] === undefined ? "" : vars[k]; });
    return s;
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  // ----- formats ---------------------------------------------------------------------------------
  function locale() { return S.lang === "ar" ? "ar-EG-u-nu-latn" : "en-GB"; }
  function fmtDate(isoDate) {
    if (!isoDate) return "—";
    return new Intl.DateTimeFormat(locale(), {timeZone: "UTC", day: "numeric", month: "short", year: "numeric"})
      .format(new Date(isoDate + "T00:00:00Z"));
  }
  function fmtDay(iso) {
    return new Intl.DateTimeFormat(locale(), {timeZone: TZ, day: "numeric", month: "short", year: "numeric"})
      .format(new Date(iso));
  }
  function fmtDateTime(iso) {
    if (!iso) return "—";
    return new Intl.DateTimeFormat(locale(), {timeZone: TZ, day: "numeric", month: "short", hour: "2-digit",
                                              minute: "2-digit", hour12: false}).format(new Date(iso));
  }
  function fmtTime(d) {
    return new Intl.DateTimeFormat(locale(), {timeZone: TZ, hour: "2-digit", minute: "2-digit", hour12: false})
      .format(d || new Date());
  }
  function hallToday() {
    return new Intl.DateTimeFormat("en-CA", {timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit"})
      .format(new Date());
  }
  // calendar days from the due date to the hall's today (positive: late)
  function daysPast(isoDate) {
    return Math.round((Date.parse(hallToday() + "T00:00:00Z") - Date.parse(isoDate + "T00:00:00Z")) / 86400000);
  }
  // Arabic counts: 1 and 2 have their own words, 3-10 take a plural, 11 and up a singular
  function days(n, late) {
    if (S.lang === "en") return n + (n === 1 ? " day" : " days");
    if (n === 1) return late ? "يومًا" : "يوم";
    if (n === 2) return "يومين";
    return n + (n <= 10 ? " أيام" : " يومًا");
  }
  function filesCount(n) {
    if (S.lang === "en") return n + (n === 1 ? " file" : " files");
    if (n === 0) return "لا ملفات";
    if (n === 1) return "ملف واحد";
    if (n === 2) return "ملفان";
    return n + (n <= 10 ? " ملفات" : " ملفًا");
  }
  function lateness(f) {
    if (OPEN.indexOf(f.status) < 0 || f.status === "ready") return {cls: "", text: t("late.none")};
    var d = daysPast(f.due_date);
    if (f.late && d > 0) return {cls: "late", text: t("late.days", {d: days(d, true)})};
    if (d === 0) return {cls: "due-today", text: t("late.today")};
    return {cls: "", text: t("late.left", {d: days(-d, false)})};
  }
  function deptName(code) {
    var d = S.departments.filter(function (x) { return x.code === code; })[0];
    return d ? d.name[S.lang] || d.name.ar : code;
  }

  // ----- errors and notices ------------------------------------------------------------------------
  function ApiError(status, code, message) { this.status = status; this.code = code; this.message = message; }
  function errorText(err) {
    var key = "err." + err.code;
    return STR.ar[key] ? t(key) : t("err.generic");
  }
  function showError(err) {
    $("banner-text").textContent = errorText(err);
    $("banner-code").textContent = err.code + (err.status ? " · " + err.status : "");
    $("banner-detail").textContent = err.message || "";
    $("banner").hidden = false;
  }
  function hideError() { $("banner").hidden = true; }
  var noticeTimer = null;
  function notice(text) {
    var n = $("notice");
    n.textContent = text;
    n.classList.add("shown");
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () { n.classList.remove("shown"); }, 6000);
  }
  function fail(err) {
    if (!(err instanceof ApiError)) err = new ApiError(0, "client_error", String((err && err.message) || err));
    if (err.status === 401 && S.token) { dropSession(); showScreen("login"); }
    showError(err);
    return err;
  }

  async function api(method, path, data) {
    var headers = {"Accept": "application/json"};
    if (S.token) headers.Authorization = "Bearer " + S.token;
    var init = {method: method, headers: headers, cache: "no-store"};
    if (data !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(data); }
    var resp;
    try { resp = await fetch(API + path, init); }
    catch (e) { throw new ApiError(0, "network_error", String((e && e.message) || e)); }
    if (resp.status === 204) return null;
    var text = await resp.text(), json = null;
    try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
    if (resp.ok) return json;
    var err = (json && json.error) || {code: "http_" + resp.status, message: text.slice(0, 200)};
    throw new ApiError(resp.status, err.code || "http_" + resp.status, err.message || "");
  }
  // A file number inside Arabic text: without isolation the bidi rules show 2026-000001 as 000001-2026.
  function ltr(text) { return "\u2066" + text + "\u2069"; }
  function hallPath(suffix) { return "/halls/" + encodeURIComponent(HALL) + suffix; }
  function filePath(number, suffix) { return hallPath("/files/" + encodeURIComponent(number) + (suffix || "")); }

  // ----- language ------------------------------------------------------------------------------------
  function applyLang() {
    var html = document.documentElement;
    html.lang = S.lang;
    html.dir = S.lang === "ar" ? "rtl" : "ltr";
    document.querySelectorAll("[data-i18n]").forEach(function (n) { n.textContent = t(n.dataset.i18n); });
    var toggle = $("lang-toggle");
    toggle.textContent = S.lang === "ar" ? "English" : "العربية";
    toggle.lang = S.lang === "ar" ? "en" : "ar";
    var hallName = S.lang === "ar" ? document.body.dataset.hallAr : document.body.dataset.hallEn;
    $("hall-name").textContent = hallName;
    document.title = t("app.title") + " — " + hallName;
    renderWho();
    fillDepartments();
    renderList();
    renderDetail();
  }

  // ----- screens and session ----------------------------------------------------------------------
  function showScreen(name) {
    document.body.dataset.screen = name;
    $("screen-login").hidden = name !== "login";
    $("screen-main").hidden = name !== "main";
    $("logout").hidden = name !== "main";
    if (name === "login") {
      $("login-error").textContent = "";
      $("password").value = "";
      setTimeout(function () { ($("username").value ? $("password") : $("username")).focus(); }, 0);
    }
  }
  function renderWho() {
    $("who").textContent = S.user ? (S.user.full_name || S.user.username) : "";
  }
  function dropSession() {
    S.token = null; S.user = null; S.files = []; S.selected = null; S.detail = null;
    hideRevealed();
    sessionStorage.removeItem(KEY_TOKEN);
    sessionStorage.removeItem(KEY_USER);
    clearInterval(S.pollTimer);
    S.pollTimer = null;
    renderList();
    renderDetail();
    renderWho();
  }

  async function onLogin(e) {
    e.preventDefault();
    var username = $("username").value.trim(), password = $("password").value;
    if (!username || !password) { $("login-error").textContent = t("login.missing"); return; }
    if (S.busy) return;
    S.busy = true;
    $("login-submit").disabled = true;
    try {
      var res = await api("POST", "/auth/login", {username: username, password: password});
      if (ROLES.indexOf(res.user.role) < 0) {
        S.token = res.token;
        await api("POST", "/auth/logout").catch(function () {});
        S.token = null;
        throw new ApiError(403, "not_back_office", "role " + res.user.role + " cannot use the back office");
      }
      S.token = res.token;
      S.user = res.user;
      sessionStorage.setItem(KEY_TOKEN, S.token);
      sessionStorage.setItem(KEY_USER, JSON.stringify(S.user));
      hideError();
      await afterLogin();
    } catch (err) {
      $("login-error").textContent = errorText(err instanceof ApiError ? err : new ApiError(0, "client_error", ""));
      $("password").select();
    } finally {
      S.busy = false;
      $("login-submit").disabled = false;
    }
  }

  async function afterLogin() {
    var all = await api("GET", hallPath("/departments"));
    var mine = S.user.role === "back_office" && S.user.departments ? S.user.departments : null;
    S.departments = all;
    S.allowed = mine ? all.filter(function (d) { return mine.indexOf(d.code) >= 0; }) : all;
    renderWho();
    fillDepartments();
    var saved = sessionStorage.getItem(KEY_DEPT);
    var sel = $("department");
    if (saved !== null && Array.prototype.some.call(sel.options, function (o) { return o.value === saved; })) sel.value = saved;
    $("status-filter").value = sessionStorage.getItem(KEY_STATUS) || "";
    showScreen("main");
    await loadList();
    clearInterval(S.pollTimer);
    S.pollTimer = setInterval(function () { if (S.token) loadList(true); }, POLL_MS);
    sel.focus();
  }

  async function logout() {
    if (S.token) { try { await api("POST", "/auth/logout"); } catch (err) { if (err.status !== 401) showError(err); } }
    dropSession();
    showScreen("login");
    notice(t("n.logged_out"));
  }

  // ----- the department's files ----------------------------------------------------------------------
  function isSupervisor() { return S.user && S.user.role !== "back_office"; }
  function fillDepartments() {
    var sel = $("department");
    if (!S.allowed) return;
    var keep = sel.value;
    sel.textContent = "";
    if (isSupervisor() || !(S.user.departments)) {
      var any = el("option", null, t("f.all_departments"));
      any.value = "";
      sel.appendChild(any);
    }
    S.allowed.forEach(function (d) {
      var o = el("option", null, d.name[S.lang] || d.name.ar);
      o.value = d.code;
      sel.appendChild(o);
    });
    if (Array.prototype.some.call(sel.options, function (o) { return o.value === keep; })) sel.value = keep;
    sel.disabled = sel.options.length < 2;
    var move = $("d-move-to");
    var moveKeep = move.value;
    move.textContent = "";
    S.departments.forEach(function (d) {
      var o = el("option", null, d.name[S.lang] || d.name.ar);
      o.value = d.code;
      move.appendChild(o);
    });
    if (moveKeep) move.value = moveKeep;
  }

  async function loadList(quiet) {
    if (!S.token) return;
    var gen = ++S.gen;
    var q = [];
    var dept = $("department").value, status = $("status-filter").value;
    if (dept) q.push("department=" + encodeURIComponent(dept));
    if (status === "late") q.push("late=1");
    else if (status) q.push("status=" + encodeURIComponent(status));
    try {
      var files = await api("GET", hallPath("/files") + (q.length ? "?" + q.join("&") : ""));
      if (gen !== S.gen) return;
      S.files = files;
      S.loadedAt = new Date();
      if (!quiet) hideError();
      renderList();
      if (S.selected) loadDetail(S.selected, true);
    } catch (err) { fail(err); }
  }

  function renderList() {
    var body = $("files-body");
    body.textContent = "";
    S.files.forEach(function (f) {
      var tr = el("tr", "file-row");
      var late = lateness(f);
      tr.dataset.number = f.number;
      tr.dataset.status = f.status;
      if (late.cls) tr.classList.add(late.cls);
      if (f.number === S.selected) tr.setAttribute("aria-selected", "true");
      var numCell = el("td", "c-number");
      var b = el("button", "row-open", f.number);
      b.type = "button";
      b.dir = "ltr";
      b.addEventListener("click", function () { select(f.number); });
      numCell.appendChild(b);
      tr.appendChild(numCell);
      tr.appendChild(el("td", "c-service", f.service_name[S.lang] || f.service_name.ar));
      tr.appendChild(el("td", "c-citizen", f.citizen_name));
      var st = el("td", "c-status");
      var pill = el("span", "status-pill", t("st." + f.status));
      pill.dataset.status = f.status;
      st.appendChild(pill);
      tr.appendChild(st);
      tr.appendChild(el("td", "c-date", fmtDay(f.received_at)));
      tr.appendChild(el("td", "c-date", fmtDate(f.due_date)));
      tr.appendChild(el("td", "c-late", late.text));
      tr.addEventListener("click", function (e) { if (e.target.tagName !== "BUTTON") select(f.number); });
      body.appendChild(tr);
    });
    $("files-empty").hidden = S.files.length > 0;
    var lateCount = S.files.filter(function (f) { return lateness(f).cls === "late"; }).length;
    $("list-meta").textContent = S.loadedAt ? t("list.meta", {n: filesCount(S.files.length), l: lateCount, t: fmtTime(S.loadedAt)}) : "";
  }

  // Up/Down move between files in the list, like a mail reader
  function onListKey(e) {
    if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
    var buttons = Array.prototype.slice.call($("files-body").querySelectorAll(".row-open"));
    var i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    var next = buttons[i + (e.key === "ArrowDown" ? 1 : -1)];
    if (next) { next.focus(); next.click(); }
    e.preventDefault();
  }

  // ----- one file ------------------------------------------------------------------------------------
  async function select(number) {
    if (S.selected !== number) {
      hideRevealed();
      $("d-reason-input").value = "";
      $("d-error").textContent = "";
    }
    S.selected = number;
    renderList();
    await loadDetail(number);
  }

  async function loadDetail(number, quiet) {
    var version = ++S.detailVersion;
    try {
      var f = await api("GET", filePath(number));
      if (S.selected !== number || S.detailVersion !== version) return;
      S.detail = f;
      renderDetail();
    } catch (err) { if (!quiet || err.status === 401) fail(err); }
  }

  function canAct(f) {
    if (OPEN.indexOf(f.status) < 0) return false;
    if (S.user.role === "back_office" && S.user.departments) return S.user.departments.indexOf(f.department) >= 0;
    return true;
  }

  function renderDetail() {
    var f = S.detail;
    $("detail-empty").hidden = !!f;
    $("detail-body").hidden = !f;
    $("detail").dataset.number = f ? f.number : "";
    $("detail").dataset.status = f ? f.status : "";
    if (!f) return;
    $("d-number").textContent = f.number;
    $("d-status").textContent = t("st." + f.status);
    $("d-status").dataset.status = f.status;
    var late = lateness(f);
    $("d-late").hidden = late.cls !== "late";
    $("d-late").textContent = late.cls === "late" ? late.text : "";
    $("d-service").textContent = f.service_name[S.lang] || f.service_name.ar;
    $("d-department").textContent = deptName(f.department);
    $("d-due").textContent = fmtDate(f.due_date);
    $("d-citizen").textContent = f.citizen_name;
    $("d-received").textContent = fmtDateTime(f.received_at);
    $("d-nid").textContent = S.revealed || masked(f.national_id);
    $("d-nid").classList.toggle("revealed", !!S.revealed);
    $("d-reveal").textContent = t(S.revealed ? "d.hide" : "d.reveal");
    $("d-reveal").setAttribute("aria-pressed", S.revealed ? "true" : "false");
    $("d-reveal-note").textContent = S.revealed ? t("d.revealed", {t: fmtTime(S.revealedAt)}) : t("d.reveal_hint");
    $("d-reveal-note").classList.toggle("recorded", !!S.revealed);
    $("d-mobile").textContent = f.mobile ? masked(f.mobile) : "—";
    $("d-fee").textContent = f.fee ? t("d.fee_value", {f: f.fee}) : "—";
    var reason = $("d-reason");
    reason.hidden = !(f.reason && (f.status === "needs_documents" || f.status === "rejected"));
    reason.textContent = reason.hidden ? "" : t(f.status === "rejected" ? "d.reason_rejected" : "d.reason_needs", {r: f.reason});

    var docs = $("d-docs");
    docs.textContent = "";
    f.documents.forEach(function (d) {
      var li = el("li", d.received ? "doc yes" : "doc no");
      li.appendChild(el("span", "doc-mark", d.received ? "✓" : "✗"));
      li.appendChild(el("span", "doc-text", S.lang === "en" ? d.en : d.ar));
      li.appendChild(el("span", "doc-state", t(d.received ? "doc.yes" : "doc.no")));
      docs.appendChild(li);
    });
    $("d-docs-count").textContent = "(" + f.documents.filter(function (d) { return d.received; }).length + "/" + f.documents.length + ")";

    // only what can work is offered: the flow's next steps, in the user's own departments
    var can = canAct(f);
    var allowed = can ? FLOW[f.status] || [] : [];
    document.querySelectorAll("#d-actions .act[data-status]").forEach(function (b) {
      b.hidden = allowed.indexOf(b.dataset.status) < 0;
      b.disabled = S.busy;
    });
    $("d-reason-field").hidden = !allowed.some(function (s) { return NEEDS_REASON.indexOf(s) >= 0; });
    $("d-status-buttons").hidden = !allowed.length;
    $("d-move-row").hidden = !can;
    $("d-move").disabled = S.busy;
    $("d-readonly").hidden = can;
    if (!$("d-move-to").value || $("d-move-to").value === f.department) {
      var other = S.departments.filter(function (d) { return d.code !== f.department; })[0];
      if (other) $("d-move-to").value = other.code;
    }

    var hist = $("d-history");
    hist.textContent = "";
    f.history.slice().reverse().forEach(function (h) {
      var li = el("li", "h-item h-" + h.kind);
      var head = el("div", "h-head");
      head.appendChild(el("span", "h-at", fmtDateTime(h.at)));
      head.appendChild(el("span", "h-kind", t("h." + h.kind)));
      if (h.kind === "status" && h.to) {
        var pill = el("span", "status-pill small", t("st." + h.to));
        pill.dataset.status = h.to;
        head.appendChild(pill);
      }
      var actor = el("span", "h-actor", (h.actor || "").replace(/^user:/, ""));
      actor.dir = "ltr";
      head.appendChild(actor);
      li.appendChild(head);
      var extra = [];
      var data = h.data || {};
      if (h.kind === "received" && data.ticket) extra.push(t("h.ticket", {n: data.ticket}));
      if (h.kind === "moved") extra.push(t("h.moved_detail", {a: deptName(data.from), b: deptName(h.department)}));
      if (h.kind === "documents" && data.received) {
        extra.push(t("h.docs", {d: data.received.map(function (i) { return i + 1; }).join("، ")}));
      }
      if (data.reason) extra.push(data.reason);
      if (extra.length) li.appendChild(el("div", "h-extra", extra.join(" · ")));
      hist.appendChild(li);
    });
  }

  async function changeStatus(status) {
    var f = S.detail;
    if (!f || S.busy) return;
    var reason = $("d-reason-input").value.trim();
    if (NEEDS_REASON.indexOf(status) >= 0 && !reason) {
      $("d-error").textContent = t("v.reason");
      $("d-reason-input").focus();
      return;
    }
    var body = {status: status};
    if (reason && NEEDS_REASON.indexOf(status) >= 0) body.reason = reason;
    await run(function () { return api("POST", filePath(f.number, "/status"), body); },
              function (nf) { notice(t("n.status", {f: ltr(nf.number), s: t("st." + nf.status)})); });
  }

  async function moveFile() {
    var f = S.detail;
    if (!f || S.busy) return;
    var to = $("d-move-to").value;
    if (!to || to === f.department) { $("d-error").textContent = t("v.move"); $("d-move-to").focus(); return; }
    await run(function () { return api("POST", filePath(f.number, "/move"), {department: to}); },
              function (nf) { notice(t("n.moved", {f: ltr(nf.number), d: deptName(nf.department)})); });
  }

  async function run(call, done) {
    S.busy = true;
    $("d-error").textContent = "";
    renderDetail();
    try {
      var nf = await call();
      S.detailVersion++;
      S.detail = nf;
      $("d-reason-input").value = "";
      done(nf);
      hideError();
    } catch (err) {
      if (err.status === 401) fail(err);
      else $("d-error").textContent = errorText(err) + " (" + err.code + ")";
    } finally {
      S.busy = false;
      renderDetail();
      loadList(true);
    }
  }

  // The full national ID only on an explicit request; the server records who asked.
  async function toggleReveal() {
    var f = S.detail;
    if (!f || S.busy) return;
    if (S.revealed) { hideRevealed(); renderDetail(); return; }
    try {
      var full = await api("GET", filePath(f.number) + "?reveal=national_id");
      if (!S.detail || S.detail.number !== full.number) return;
      S.detailVersion++;
      S.revealed = full.national_id;
      S.revealedAt = new Date();
      S.detail = full;
      S.detail.national_id = f.national_id;  // keep the masked form for when it hides again
      clearTimeout(S.revealTimer);
      S.revealTimer = setTimeout(function () { hideRevealed(); renderDetail(); }, REVEAL_MS);
      renderDetail();
    } catch (err) {
      if (err.status === 401) fail(err); else $("d-error").textContent = errorText(err) + " (" + err.code + ")";
    }
  }
  function hideRevealed() {
    clearTimeout(S.revealTimer);
    S.revealed = null;
    S.revealedAt = null;
  }

  // ----- start -----------------------------------------------------------------------------------------
  async function boot() {
    $("login-form").addEventListener("submit", onLogin);
    $("logout").addEventListener("click", logout);
    $("banner-close").addEventListener("click", hideError);
    $("lang-toggle").addEventListener("click", function () {
      S.lang = S.lang === "ar" ? "en" : "ar";
      localStorage.setItem(KEY_LANG, S.lang);
      $("notice").classList.remove("shown");
      applyLang();
    });
    $("department").addEventListener("change", function () {
      sessionStorage.setItem(KEY_DEPT, $("department").value);
      loadList();
    });
    $("status-filter").addEventListener("change", function () {
      sessionStorage.setItem(KEY_STATUS, $("status-filter").value);
      loadList();
    });
    $("refresh").addEventListener("click", function () { loadList(); });
    $("files-body").addEventListener("keydown", onListKey);
    document.querySelectorAll("#d-actions .act[data-status]").forEach(function (b) {
      b.addEventListener("click", function () { changeStatus(b.dataset.status); });
    });
    $("d-move").addEventListener("click", moveFile);
    $("d-reveal").addEventListener("click", toggleReveal);
    $("d-close").addEventListener("click", function () {
      S.selected = null; S.detail = null; hideRevealed(); renderList(); renderDetail();
    });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && !$("banner").hidden) hideError();
    });
    setInterval(function () { $("hall-clock").textContent = fmtTime(); }, 1000);
    $("hall-clock").textContent = fmtTime();
    applyLang();

    S.token = sessionStorage.getItem(KEY_TOKEN);
    try { S.user = JSON.parse(sessionStorage.getItem(KEY_USER) || "null"); } catch (e) { S.user = null; }
    if (!S.token || !S.user) { dropSession(); showScreen("login"); return; }
    try {
      var me = await api("GET", "/me");
      if (me.user_id !== S.user.id) throw new ApiError(401, "unauthorized", "token of another user");
      await afterLogin();
    } catch (err) {
      dropSession();
      showScreen("login");
      if (err.status !== 401) showError(err);
    }
  }

  boot();
})();
