// The citizen's file inquiry: file number + last four digits of the national ID or mobile ->
// status, service and due date (POST /api/v1/halls/<hall>/inquiry). The server answers the same
// 404 for an unknown file and for wrong digits, and 429 after too many wrong tries.
// On a large screen (the kiosk) an on-screen keypad types into the fields and the page clears
// itself after a minute and a half without a touch, so the next citizen never sees the answer.
(function () {
  "use strict";

  var root = document.getElementById("page");
  var HALL = root.dataset.hall;
  var LANG_KEY = "inquiry.lang";
  var IDLE_MS = 90000;
  var EASTERN = "٠١٢٣٤٥٦٧٨٩";

  var T = {
    ar: {
      title: "الاستعلام عن ملف طلب",
      lead: "اكتب رقم الملف المطبوع على إيصال الاستلام، وآخر ٤ أرقام من الرقم القومي أو من رقم الموبايل المسجل في الملف.",
      file_label: "رقم الملف", file_hint: "مثل \u20662026-000123\u2069 (يمكن كتابته بدون الشرطة)",
      last4_label: "آخر ٤ أرقام من الرقم القومي أو الموبايل", submit: "استعلام", sending: "جارٍ الاستعلام…",
      service: "الخدمة", due: "الموعد المتوقع للإنجاز", again: "استعلام جديد", retry: "حاول مرة أخرى",
      backspace: "مسح حرف",
      footer: "لا تظهر هنا أي بيانات شخصية. بعد محاولات خاطئة كثيرة يتوقف الاستعلام عن الملف مؤقتًا.",
      "st.received": "تم استلام طلبك", "adv.received": "الملف في انتظار المراجعة لدى الإدارة المختصة.",
      "st.under_review": "طلبك قيد المراجعة", "adv.under_review": "تراجع الإدارة المختصة ملفك الآن. لا تحتاج إلى الحضور.",
      "st.needs_documents": "مطلوب استكمال مستندات",
      "adv.needs_documents": "أحضر المطلوب إلى المركز، وأدخل رقم الملف في جهاز التذاكر ليصلك دورك.",
      "st.ready": "طلبك جاهز للاستلام", "adv.ready": "تفضل إلى المركز ومعك بطاقة الرقم القومي، وأدخل رقم الملف في جهاز التذاكر.",
      "st.delivered": "تم تسليم الطلب", "adv.delivered": "اكتمل هذا الطلب وسُلِّم.",
      "st.rejected": "تم رفض الطلب", "adv.rejected": "للاستفسار توجه إلى مكتب الاستعلامات بالمركز.",
      "reason.needs_documents": "المطلوب: {0}", "reason.rejected": "السبب: {0}",
      "v.file": "اكتب رقم الملف كما هو مطبوع على الإيصال، مثل \u20662026-000123\u2069.",
      "v.last4": "اكتب آخر ٤ أرقام من الرقم القومي أو من الموبايل.",
      "e.no_match.title": "لا يوجد ملف مطابق",
      "e.no_match": "لم نجد ملفًا بهذا الرقم وهذه الأرقام. تأكد من رقم الملف ومن آخر ٤ أرقام من الرقم القومي أو الموبايل المسجل في الملف.",
      "e.too_many.title": "تم إيقاف الاستعلام مؤقتًا",
      "e.too_many": "حدثت محاولات خاطئة كثيرة لهذا الملف، فأوقفنا الاستعلام عنه مؤقتًا لحمايته. حاول بعد ساعة، أو اسأل في مكتب الاستعلامات بالمركز.",
      "e.network.title": "تعذر الاتصال", "e.network": "تحقق من اتصالك بالإنترنت ثم حاول مرة أخرى.",
      "e.other.title": "تعذر الاستعلام", "e.other": "حدث خطأ غير متوقع. حاول مرة أخرى بعد قليل.",
    },
    en: {
      title: "Request file inquiry",
      lead: "Type the file number printed on your receipt and the last 4 digits of the national ID or of the mobile number on the file.",
      file_label: "File number", file_hint: "e.g. 2026-000123 (the dash may be left out)",
      last4_label: "Last 4 digits of the national ID or mobile", submit: "Check", sending: "Checking…",
      service: "Service", due: "Expected completion", again: "New inquiry", retry: "Try again",
      backspace: "Delete",
      footer: "No personal data is shown here. After many wrong tries, inquiries about a file pause for a while.",
      "st.received": "Your application was received", "adv.received": "The file is waiting for review by the department.",
      "st.under_review": "Your application is under review", "adv.under_review": "The department is reviewing your file. You need not come in.",
      "st.needs_documents": "Documents are needed",
      "adv.needs_documents": "Bring what is needed to the center and enter the file number at the ticket kiosk.",
      "st.ready": "Your application is ready", "adv.ready": "Come to the center with your national ID card and enter the file number at the ticket kiosk.",
      "st.delivered": "Delivered", "adv.delivered": "This application is complete and was handed over.",
      "st.rejected": "The application was rejected", "adv.rejected": "For questions, ask at the center's information desk.",
      "reason.needs_documents": "Needed: {0}", "reason.rejected": "Reason: {0}",
      "v.file": "Type the file number as printed on the receipt, e.g. 2026-000123.",
      "v.last4": "Type the last 4 digits of the national ID or mobile.",
      "e.no_match.title": "No matching file",
      "e.no_match": "No file matches this number and these digits. Check the file number and the last 4 digits of the national ID or mobile on the file.",
      "e.too_many.title": "Inquiries paused",
      "e.too_many": "There were too many wrong tries for this file, so inquiries about it are paused to protect it. Try again in an hour, or ask at the center.",
      "e.network.title": "No connection", "e.network": "Check your connection and try again.",
      "e.other.title": "The inquiry failed", "e.other": "Something unexpected went wrong. Try again shortly.",
    },
  };

  var lang = (function () { try { return localStorage.getItem(LANG_KEY) === "en" ? "en" : "ar"; } catch (e) { return "ar"; } })();
  var busy = false, target = null, idleTimer = null;

  function $(id) { return document.getElementById(id); }
  function t(key, arg) {
    var s = T[lang][key];
    if (s === undefined) s = T.ar[key] || key;
    return arg === undefined ? s : s.replace("{0}", arg);
  }
  function digitsFor(text) {
    return lang === "ar" ? String(text).replace(/[0-9]/g, function (d) { return EASTERN[+d]; }) : String(text);
  }
  function western(text) {
    return String(text || "").replace(/[٠-٩]/g, function (d) { return EASTERN.indexOf(d); })
      .replace(/[۰-۹]/g, function (d) { return "۰۱۲۳۴۵۶۷۸۹".indexOf(d); });
  }
  // "2026-000123", "2026/123", "2026 123" or "2026000123" -> "2026-000123"; null if it is none of them
  function normalizeFile(text) {
    var s = western(text).replace(/\s+/g, " ").trim();
    var m = /^(\d{4})\s*[-/ ]\s*(\d{1,6})$/.exec(s) || /^(\d{4})(\d{1,6})$/.exec(s.replace(/ /g, ""));
    if (!m) return null;
    var seq = m[2];
    while (seq.length < 6) seq = "0" + seq;
    return m[1] + "-" + seq;
  }
  function keypadShown() { return getComputedStyle($("keypad")).display !== "none"; }

  function applyLang() {
    var html = document.documentElement;
    html.lang = lang;
    html.dir = lang === "ar" ? "rtl" : "ltr";
    document.querySelectorAll("[data-t]").forEach(function (n) { n.textContent = t(n.dataset.t); });
    var back = document.querySelector('[data-key="back"]');
    back.setAttribute("aria-label", t("backspace"));
    document.querySelectorAll(".keypad .key").forEach(function (k) {
      if (/^\d$/.test(k.dataset.key)) k.textContent = digitsFor(k.dataset.key);
    });
    var toggle = $("lang-toggle");
    toggle.textContent = lang === "ar" ? "English" : "العربية";
    toggle.lang = lang === "ar" ? "en" : "ar";
    $("hall-name").textContent = lang === "ar" ? root.dataset.hallAr : root.dataset.hallEn;
    document.title = t("title") + " — " + $("hall-name").textContent;
    if (last) showResult(last);
    else if (problem) showProblem(problem);
  }

  // ----- keypad (kiosk) --------------------------------------------------------------------------
  function setInputModes() {
    // with the on-screen keypad, keep the system keyboard from covering the screen
    var mode = keypadShown() ? "none" : "numeric";
    $("file").setAttribute("inputmode", mode);
    $("last4").setAttribute("inputmode", mode);
  }
  function press(key) {
    var input = target || ($("file").value ? $("last4") : $("file"));
    if (key === "back") input.value = input.value.slice(0, -1);
    else if (input.value.length < +input.maxLength) input.value += key === "-" ? "-" : digitsFor(key);
    $("ask-error").textContent = "";
    if (input === $("last4") && input.value.length === 4) $("submit").focus({preventScroll: true});
    else input.focus({preventScroll: true});
  }

  // ----- inquiry -----------------------------------------------------------------------------------
  var last = null, problem = null;  // what is on screen, to redraw it in the other language
  async function ask(e) {
    if (e) e.preventDefault();
    if (busy) return;
    var number = normalizeFile($("file").value);
    var last4 = western($("last4").value).replace(/\s/g, "");
    if (!number) { $("ask-error").textContent = t("v.file"); $("file").focus(); return; }
    if (!/^\d{4}$/.test(last4)) { $("ask-error").textContent = t("v.last4"); $("last4").focus(); return; }
    $("ask-error").textContent = "";
    busy = true;
    $("submit").disabled = true;
    $("submit").textContent = t("sending");
    try {
      var resp = await fetch("/api/v1/halls/" + encodeURIComponent(HALL) + "/inquiry", {
        method: "POST", cache: "no-store",
        headers: {"Content-Type": "application/json", "Accept": "application/json"},
        body: JSON.stringify({file: number, last4: last4}),
      });
      var data = null;
      try { data = await resp.json(); } catch (err) { data = null; }
      if (resp.ok && data) { last = data; showResult(data); }
      else if (resp.status === 404) showProblem("no_match");
      else if (resp.status === 429) showProblem("too_many");
      else if (resp.status === 422) {
        var code = data && data.error && data.error.code;
        $("ask-error").textContent = t(code === "invalid_last4" ? "v.last4" : "v.file");
      } else showProblem("other");
    } catch (err) {
      showProblem("network");
    } finally {
      busy = false;
      $("submit").disabled = false;
      $("submit").textContent = t("submit");
    }
  }

  function showResult(r) {
    root.dataset.state = "result";
    $("ask").hidden = true;
    $("problem").hidden = true;
    var box = $("result");
    box.hidden = false;
    box.dataset.status = r.status;
    $("result-icon").textContent = {ready: "✓", delivered: "✓", needs_documents: "!", rejected: "✗"}[r.status] || "…";
    $("result-title").textContent = t("st." + r.status);
    $("result-advice").textContent = t("adv." + r.status);
    var reason = $("result-reason");
    reason.hidden = !r.reason;
    reason.textContent = r.reason ? t("reason." + (r.status === "rejected" ? "rejected" : "needs_documents"), r.reason) : "";
    $("r-number").textContent = digitsFor(r.number);
    $("r-service").textContent = r.service_name[lang] || r.service_name.ar;
    var locale = lang === "ar" ? "ar-EG" : "en-GB";
    $("r-due").textContent = new Intl.DateTimeFormat(locale, {timeZone: "UTC", weekday: "long", day: "numeric",
                                                             month: "long", year: "numeric"})
      .format(new Date(r.due_date + "T00:00:00Z"));
    $("again").focus({preventScroll: true});
  }

  function showProblem(kind) {
    problem = kind;
    root.dataset.state = "problem";
    $("ask").hidden = true;
    $("result").hidden = true;
    $("problem").hidden = false;
    $("problem").dataset.kind = kind;
    $("problem-title").textContent = t("e." + kind + ".title");
    $("problem-text").textContent = t("e." + kind);
    $("retry").focus({preventScroll: true});
  }

  function backToForm(clear) {
    last = null;
    problem = null;
    root.dataset.state = "form";
    $("result").hidden = true;
    $("problem").hidden = true;
    $("ask").hidden = false;
    $("last4").value = "";
    if (clear) $("file").value = "";
    target = $("file").value ? $("last4") : $("file");
    target.focus({preventScroll: true});
  }

  // On the kiosk: after a while without a touch, forget everything and go back to Arabic.
  function touched() {
    clearTimeout(idleTimer);
    if (!keypadShown()) return;
    idleTimer = setTimeout(function () {
      if (lang !== "ar") { lang = "ar"; applyLang(); }
      backToForm(true);
    }, IDLE_MS);
  }

  function boot() {
    $("ask").addEventListener("submit", ask);
    $("again").addEventListener("click", function () { backToForm(true); });
    $("retry").addEventListener("click", function () { backToForm(false); });
    ["file", "last4"].forEach(function (id) {
      $(id).addEventListener("focus", function () { target = $(id); });
      $(id).addEventListener("input", function () { $("ask-error").textContent = ""; });
    });
    // keypad buttons must not steal the focus from the field they type into
    document.querySelectorAll(".keypad .key").forEach(function (k) {
      k.addEventListener("mousedown", function (e) { e.preventDefault(); });
      k.addEventListener("click", function () { press(k.dataset.key); });
    });
    $("lang-toggle").addEventListener("click", function () {
      lang = lang === "ar" ? "en" : "ar";
      try { localStorage.setItem(LANG_KEY, lang); } catch (e) { /* private mode: the toggle still works */ }
      applyLang();
    });
    ["pointerdown", "keydown"].forEach(function (n) { document.addEventListener(n, touched, true); });
    window.addEventListener("resize", setInputModes);
    applyLang();
    setInputModes();
    target = $("file").value ? $("last4") : $("file");
    // on a phone, focusing would pop the keyboard over the explanation: only focus where there is room
    if (keypadShown()) target.focus({preventScroll: true});
  }

  boot();
})();
