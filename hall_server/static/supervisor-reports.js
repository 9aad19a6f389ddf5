// Reports of one hall and the governorate view: a range picker (day, week, month, any range),
// figures from GET /halls/<hall>/reports or GET /reports, Chart.js charts drawn right to left in
// Arabic, tables, CSV download and printing.
(function () {
  "use strict";

  var Sup = window.Sup;
  var PAGE = document.body.dataset.page;  // reports | governorate
  var HALL = Sup.hall;

  Sup.addStrings({
    ar: {
      "rep.title": "تقارير الأداء", "gov.title": "متابعة المراكز",
      "range.day": "يوم", "range.week": "أسبوع", "range.month": "شهر", "range.custom": "فترة محددة",
      "range.from": "من", "range.to": "إلى", "range.show": "عرض", "range.between": "من {from} إلى {to}", "rep.csv": "تنزيل CSV", "rep.print": "طباعة",
      "k.issued": "صدرت", "k.called": "نوديت", "k.served": "خُدموا", "k.no_show": "لم يحضروا", "k.cancelled": "ألغيت",
      "k.transferred": "حُوّلت", "k.wait_avg": "متوسط الانتظار", "k.wait_p90": "الانتظار (المئين 90)",
      "k.share": "ضمن الهدف", "k.service_avg": "متوسط مدة الخدمة", "k.files_received": "ملفات وردت",
      "k.files_completed": "ملفات أنجزت", "k.files_late": "ملفات متأخرة", "k.halls": "المراكز",
      "k.waiting_now": "ينتظرون الآن", "k.open_now": "شبابيك مفتوحة الآن",
      "chart.arrivals": "الوصول في كل ساعة", "chart.arrivals_avg": "متوسط الوصول اليومي في كل ساعة",
      "chart.waits": "الانتظار حسب الساعة (دقائق)", "chart.waits_days": "الانتظار حسب اليوم (دقائق)",
      "chart.services": "الخدمات: صدر وخُدم", "chart.avg": "المتوسط", "chart.p90": "المئين 90",
      "chart.target": "الهدف", "chart.tickets": "تذاكر", "chart.minutes": "دقائق",
      "chart.other": "خدمات أخرى ({n})", "chart.services_top": "الخدمات: صدر وخُدم (أكثر {n} خدمة، والباقي معًا)",
      "tbl.service": "حسب الخدمة", "tbl.window": "حسب الشباك", "tbl.clerk": "حسب الموظف", "tbl.hour": "حسب الساعة",
      "tbl.day": "حسب اليوم", "tbl.files": "ملفات الطلبات", "col.key": "", "col.service": "الخدمة",
      "col.window": "الشباك", "col.clerk": "الموظف", "col.hour": "الساعة", "col.day": "اليوم",
      "col.total": "الإجمالي", "col.received": "وردت", "col.completed": "أنجزت", "col.late": "متأخرة",
      "col.rank": "الترتيب", "col.hall": "المركز", "col.waiting_now": "ينتظر الآن", "col.open_now": "شبابيك مفتوحة",
      "kind.main": "مركز رئيسي", "kind.mini": "مركز مصغر", "kind.mobile": "مركز متنقل",
      "gov.table": "المراكز، الأسوأ أولًا", "gov.sorted": "الترتيب: أقل نسبة ضمن الهدف، ثم أكثر الملفات المتأخرة",
      "gov.chart": "نسبة الخدمة ضمن الهدف لكل مركز",
      "rep.empty": "لا بيانات في هذه الفترة.", "rep.loading": "جارٍ التحميل…",
      "est.title": "دقة تقديرات الانتظار", "k.estimates": "تقديرات في حدود 5 دقائق",
      "col.est_count": "تذاكر بتقدير", "col.est_within": "في حدود 5 دقائق", "col.est_error": "متوسط الخطأ",
      "col.est_bias": "الانحياز",
      "est.summary": "في حدود 5 دقائق: {k} من {n} ({p}) · متوسط الخطأ {m} د · {b}",
      "est.empty": "لم يُنادَ في هذه الفترة على تذكرة لها تقدير.",
      "est.defs": "التقدير: ما قيل للمواطن عند إصدار تذكرته عن انتظاره حتى النداء، مقارنًا بانتظاره الفعلي. في حدود 5 دقائق: فرق لا يزيد على 5 دقائق. الانحياز: متوسط التقدير ناقص الانتظار؛ أقصر يعني أن الناس انتظروا أكثر مما قيل لهم.",
      "rep.defs": "الانتظار: من الإصدار (أو التحويل) حتى النداء. المئين 90 بطريقة الرتبة الأقرب (قيمة مرصودة فعلًا). ضمن الهدف: انتظار لا يزيد على الهدف. مدة الخدمة: من بدء الخدمة (أو النداء) حتى الإنهاء. الملفات المنجزة: وصلت «جاهز» أو «مرفوض»؛ المتأخرة: أُنجزت بعد موعدها أو ما زالت مفتوحة بعده.",
    },
    en: {
      "rep.title": "Performance reports", "gov.title": "Centers follow-up",
      "range.day": "Day", "range.week": "Week", "range.month": "Month", "range.custom": "Range",
      "range.from": "From", "range.to": "To", "range.show": "Show", "range.between": "{from} to {to}", "rep.csv": "Download CSV", "rep.print": "Print",
      "k.issued": "Issued", "k.called": "Called", "k.served": "Served", "k.no_show": "No-show", "k.cancelled": "Cancelled",
      "k.transferred": "Transferred", "k.wait_avg": "Average wait", "k.wait_p90": "Wait (90th percentile)",
      "k.share": "Within target", "k.service_avg": "Average service time", "k.files_received": "Files received",
      "k.files_completed": "Files completed", "k.files_late": "Files late", "k.halls": "Centers",
      "k.waiting_now": "Waiting now", "k.open_now": "Windows open now",
      "chart.arrivals": "Arrivals per hour", "chart.arrivals_avg": "Average daily arrivals per hour",
      "chart.waits": "Wait by hour (minutes)", "chart.waits_days": "Wait by day (minutes)",
      "chart.services": "Services: issued and served", "chart.avg": "Average", "chart.p90": "90th percentile",
      "chart.target": "Target", "chart.tickets": "tickets", "chart.minutes": "minutes",
      "chart.other": "Other services ({n})", "chart.services_top": "Services: issued and served (top {n}, the rest together)",
      "tbl.service": "By service", "tbl.window": "By window", "tbl.clerk": "By clerk", "tbl.hour": "By hour",
      "tbl.day": "By day", "tbl.files": "Request files", "col.key": "", "col.service": "Service",
      "col.window": "Window", "col.clerk": "Clerk", "col.hour": "Hour", "col.day": "Day",
      "col.total": "Total", "col.received": "Received", "col.completed": "Completed", "col.late": "Late",
      "col.rank": "Rank", "col.hall": "Center", "col.waiting_now": "Waiting now", "col.open_now": "Open windows",
      "kind.main": "main center", "kind.mini": "mini center", "kind.mobile": "mobile center",
      "gov.table": "Centers, worst first", "gov.sorted": "sorted by: lowest share within target, then most late files",
      "gov.chart": "Share served within target, per center",
      "rep.empty": "No data in this range.", "rep.loading": "Loading…",
      "est.title": "Wait estimate accuracy", "k.estimates": "Estimates within 5 minutes",
      "col.est_count": "Tickets with an estimate", "col.est_within": "Within 5 minutes", "col.est_error": "Mean error",
      "col.est_bias": "Bias",
      "est.summary": "Within 5 minutes: {k} of {n} ({p}) · mean error {m} min · {b}",
      "est.empty": "No ticket with an estimate was called in this range.",
      "est.defs": "Estimate: the wait until the call a citizen was told when the ticket was issued, against the wait that happened. Within 5 minutes: off by at most 5 minutes. Bias: the mean of estimate minus wait; short means people waited longer than they were told.",
      "rep.defs": "Wait: from issue (or transfer) to the call. 90th percentile by nearest rank (always an observed wait). Within target: a wait of at most the target. Service time: from start (or the call) to completion. Files completed: reached ready or rejected; late: completed after the due date, or still open past it.",
    },
  });

  var TOP_SERVICES = 12;

  // A long service name on two lines (Chart.js draws an array as lines), cut at a space.
  function wrapLabel(text, max) {
    if (text.length <= max) return text;
    var cut = text.lastIndexOf(" ", max);
    if (cut < max / 2) cut = max;
    var second = text.slice(cut).trim();
    return [text.slice(0, cut).trim(), second.length > max ? second.slice(0, max - 1) + "…" : second];
  }

  var COLORS = {brand: "#1d5c96", brand2: "#12355b", ok: "#1c7c46", warn: "#b26a00", bad: "#b42318", grey: "#9aa7b5"};
  var state = {period: "day", from: null, to: null, data: null, charts: {}, request: 0};

  // ----- dates (YYYY-MM-DD, calendar arithmetic in UTC so the PC's zone never shifts a day) ---------
  function parse(d) { var p = d.split("-"); return new Date(Date.UTC(+p[0], +p[1] - 1, +p[2])); }
  function fmt(dt) { return dt.toISOString().slice(0, 10); }
  function addDays(d, n) { var x = parse(d); x.setUTCDate(x.getUTCDate() + n); return fmt(x); }

  function rangeFor(period, anchor) {
    if (period === "week") {  // the Egyptian week: Saturday to Friday
      var dow = parse(anchor).getUTCDay();  // 0 Sunday .. 6 Saturday
      var back = (dow + 1) % 7;
      var start = addDays(anchor, -back);
      return [start, addDays(start, 6)];
    }
    if (period === "month") {
      var a = parse(anchor);
      var first = new Date(Date.UTC(a.getUTCFullYear(), a.getUTCMonth(), 1));
      var last = new Date(Date.UTC(a.getUTCFullYear(), a.getUTCMonth() + 1, 0));
      return [fmt(first), fmt(last)];
    }
    return [anchor, anchor];
  }

  function setPeriod(period) {
    state.period = period;
    document.querySelectorAll("[data-period]").forEach(function (b) {
      b.setAttribute("aria-pressed", b.dataset.period === period ? "true" : "false");
    });
    document.getElementById("range-to").disabled = period !== "custom";
  }

  function readInputs() {
    var from = document.getElementById("range-from").value || Sup.hallToday();
    var to = document.getElementById("range-to").value || from;
    if (state.period !== "custom") { var r = rangeFor(state.period, from); from = r[0]; to = r[1]; }
    state.from = from; state.to = to;
    document.getElementById("range-from").value = from;
    document.getElementById("range-to").value = to;
    renderLabel();
    var q = new URLSearchParams({from: from, to: to, period: state.period});
    history.replaceState(null, "", location.pathname + "?" + q.toString());
  }

  function renderLabel() {
    var from = state.from, to = state.to;
    if (!from) return;
    // dates stay left-to-right inside the sentence, whatever the page's direction
    var label = from === to ? "<bdi>" + from + "</bdi>"
      : Sup.esc(Sup.t("range.between")).replace("{from}", "<bdi>" + from + "</bdi>").replace("{to}", "<bdi>" + to + "</bdi>");
    document.getElementById("range-label").innerHTML = label;
    var pr = document.getElementById("print-range");
    if (pr) pr.innerHTML = label;
  }

  function load() {
    readInputs();
    Sup.clearError();
    var path = PAGE === "governorate" ? "/reports?from=" + state.from + "&to=" + state.to
      : "/halls/" + HALL + "/reports?from=" + state.from + "&to=" + state.to;
    document.body.classList.add("loading");
    var mine = ++state.request;  // a slower answer to an older range must not overwrite a newer one
    return Sup.api("GET", path).then(function (data) {
      if (mine !== state.request) return;
      state.data = data;
      document.body.classList.remove("loading");
      render();
    }, function (err) { document.body.classList.remove("loading"); Sup.showError(err); });
  }

  // ----- shared pieces -----------------------------------------------------------------------------
  function kpiHtml(label, value, cls) {
    return '<div class="kpi ' + (cls || "") + '"><div class="k-label">' + Sup.esc(Sup.t(label)) +
      '</div><div class="k-value">' + Sup.esc(value) + "</div></div>";
  }

  function chart(id, config) {
    if (state.charts[id]) state.charts[id].destroy();
    state.charts[id] = new window.Chart(document.getElementById(id), config);
    return state.charts[id];
  }

  function minutes(seconds) { return seconds === null || seconds === undefined ? null : Math.round(seconds / 6) / 10; }
  function rtl() { return Sup.lang === "ar"; }

  // Category axes read right to left in Arabic; the value axis sits on the reading side.
  function axes(yTitle) {
    // offset: the first and last hours sit inside the chart, so their labels are never cut
    return {x: {reverse: rtl(), offset: true, grid: {display: false}},
            y: {beginAtZero: true, position: rtl() ? "right" : "left",
                title: {display: !!yTitle, text: yTitle || ""}, ticks: {precision: 0}}};
  }

  var FIG_COLS = [
    ["issued", "k.issued", "n"], ["called", "k.called", "n"], ["served", "k.served", "n"],
    ["no_show", "k.no_show", "n"], ["cancelled", "k.cancelled", "n"], ["transferred", "k.transferred", "n"],
    ["wait_avg_seconds", "k.wait_avg", "d"], ["wait_p90_seconds", "k.wait_p90", "d"],
    ["within_target_share", "k.share", "s"], ["service_time_avg_seconds", "k.service_avg", "d"]];

  function cell(row, col) {
    var v = row[col[0]];
    if (col[2] === "s") return "<td>" + Sup.shareHtml(v) + "</td>";
    if (col[2] === "d") return '<td class="n">' + Sup.fmtDuration(v) + "</td>";
    return '<td class="n">' + Sup.fmtNum(v) + "</td>";
  }

  function figuresTable(id, keyLabel, rows, keyFmt, total) {
    var head = "<thead><tr><th>" + Sup.esc(Sup.t(keyLabel)) + "</th>" + FIG_COLS.map(function (c) {
      return '<th class="' + (c[2] === "s" ? "" : "n") + '">' + Sup.esc(Sup.t(c[1])) + "</th>";
    }).join("") + "</tr></thead>";
    var body = rows.map(function (r) {
      return '<tr data-key="' + Sup.esc(r.key) + '"><td>' + keyFmt(r) + "</td>" +
        FIG_COLS.map(function (c) { return cell(r, c); }).join("") + "</tr>";
    });
    if (total) body.push('<tr class="total"><td>' + Sup.esc(Sup.t("col.total")) + "</td>" +
                         FIG_COLS.map(function (c) { return cell(total, c); }).join("") + "</tr>");
    if (!rows.length) body = ['<tr class="empty-row"><td colspan="' + (FIG_COLS.length + 1) + '">' +
                              Sup.esc(Sup.t("rep.empty")) + "</td></tr>"];
    document.getElementById(id).innerHTML = head + "<tbody>" + body.join("") + "</tbody>";
  }

  // ----- one hall --------------------------------------------------------------------------------
  function renderReport() {
    var r = state.data, t = r.totals, f = r.files;
    document.getElementById("rep-kpis").innerHTML = [
      kpiHtml("k.issued", Sup.fmtNum(t.issued)), kpiHtml("k.served", Sup.fmtNum(t.served)),
      kpiHtml("k.no_show", Sup.fmtNum(t.no_show)), kpiHtml("k.cancelled", Sup.fmtNum(t.cancelled)),
      kpiHtml("k.transferred", Sup.fmtNum(t.transferred)),
      kpiHtml("k.wait_avg", Sup.fmtDuration(t.wait_avg_seconds)),
      kpiHtml("k.wait_p90", Sup.fmtDuration(t.wait_p90_seconds)),
      kpiHtml("k.share", Sup.fmtShare(t.within_target_share), Sup.shareClass(t.within_target_share)),
      kpiHtml("k.service_avg", Sup.fmtDuration(t.service_time_avg_seconds)),
      kpiHtml("k.estimates", r.estimates && r.estimates.all.count ? Sup.fmtShare(r.estimates.all.within_5_min_share)
        : Sup.t("none"), r.estimates && r.estimates.all.count ? Sup.shareClass(r.estimates.all.within_5_min_share) : ""),
      kpiHtml("k.files_received", Sup.fmtNum(f.received)), kpiHtml("k.files_completed", Sup.fmtNum(f.completed)),
      kpiHtml("k.files_late", Sup.fmtNum(f.late), f.late ? "bad" : "good")].join("");
    var pt = document.getElementById("print-title");
    if (pt) pt.textContent = Sup.name(r.name) + " — " + Sup.t("rep.title");

    var hours = r.arrivals_per_hour.map(function (h) { return String(h.hour).padStart(2, "0") + ":00"; });
    var multi = r.days > 1;
    chart("chart-arrivals", {type: "bar", data: {labels: hours, datasets: [{
      label: Sup.t(multi ? "chart.arrivals_avg" : "chart.arrivals"),
      data: r.arrivals_per_hour.map(function (h) { return multi ? h.per_day : h.issued; }),
      backgroundColor: COLORS.brand}]},
      options: Sup.chartDir({scales: axes(Sup.t("chart.tickets")), plugins: {legend: {display: false}}})});

    var byDay = multi;
    var src = byDay ? r.by_day : r.by_hour;
    var labels = byDay ? src.map(function (d) { return d.key.slice(5); }) : hours;
    document.getElementById("chart-waits-title").textContent = Sup.t(byDay ? "chart.waits_days" : "chart.waits");
    var target = r.wait_target_seconds / 60;
    chart("chart-waits", {type: "line", data: {labels: labels, datasets: [
      {label: Sup.t("chart.avg"), data: src.map(function (x) { return minutes(x.wait_avg_seconds); }),
       borderColor: COLORS.brand, backgroundColor: COLORS.brand, spanGaps: true, tension: 0},
      {label: Sup.t("chart.p90"), data: src.map(function (x) { return minutes(x.wait_p90_seconds); }),
       borderColor: COLORS.warn, backgroundColor: COLORS.warn, spanGaps: true, tension: 0},
      {label: Sup.t("chart.target"), data: src.map(function () { return target; }), borderColor: COLORS.bad,
       borderDash: [6, 4], pointRadius: 0, borderWidth: 1.5}]},
      options: Sup.chartDir({scales: axes(Sup.t("chart.minutes"))})});

    // A hall has some 60 services: the busiest TOP_SERVICES each get a bar, the rest share one
    // ("other services"), so every label stays readable; the table below lists them all.
    var ranked = r.by_service.slice().sort(function (a, b) {
      return (b.issued || 0) - (a.issued || 0) || (b.served || 0) - (a.served || 0);
    });
    var svc = ranked.slice(0, TOP_SERVICES);
    var rest = ranked.slice(TOP_SERVICES);
    if (rest.length) {
      var sum = function (k) { return rest.reduce(function (a, x) { return a + (x[k] || 0); }, 0); };
      svc.push({name: {ar: Sup.STR.ar["chart.other"].replace("{n}", rest.length),
                       en: Sup.STR.en["chart.other"].replace("{n}", rest.length)},
                issued: sum("issued"), served: sum("served"), other: true});
    }
    var title = document.getElementById("chart-services-title");
    if (title) title.textContent = rest.length ? Sup.t("chart.services_top", {n: TOP_SERVICES}) : Sup.t("chart.services");
    var box = document.getElementById("chart-services").parentNode;
    box.style.height = Math.max(18, svc.length * 2.1 + 4) + "rem";   // a bar and its label per row, always
    chart("chart-services", {type: "bar", data: {
      labels: svc.map(function (s) { return wrapLabel(Sup.name(s.name), 34); }),
      datasets: [{label: Sup.t("k.issued"), data: svc.map(function (s) { return s.issued; }), backgroundColor: COLORS.grey,
                  maxBarThickness: 18},
                 {label: Sup.t("k.served"), data: svc.map(function (s) { return s.served; }), backgroundColor: COLORS.ok,
                  maxBarThickness: 18}]},
      options: Sup.chartDir({indexAxis: "y", scales: {
        x: {reverse: rtl(), beginAtZero: true, ticks: {precision: 0}},
        y: {position: rtl() ? "right" : "left", grid: {display: false}, ticks: {autoSkip: false}}}})});

    figuresTable("tbl-service", "col.service", r.by_service, function (x) { return Sup.esc(Sup.name(x.name)); }, t);
    figuresTable("tbl-window", "col.window", r.by_window, function (x) { return '<span class="win-num">' + x.key + "</span>"; });
    figuresTable("tbl-clerk", "col.clerk", r.by_clerk, function (x) { return '<span class="user-name">' + Sup.esc(x.name) + "</span>"; });
    figuresTable("tbl-hour", "col.hour", r.by_hour, function (x) {
      return '<span class="ltr mono">' + String(x.key).padStart(2, "0") + ":00</span>";
    });
    document.getElementById("day-card").hidden = !multi;
    figuresTable("tbl-day", "col.day", r.by_day, function (x) { return '<span class="ltr mono">' + x.key + "</span>"; });
    var fr = f.by_service.map(function (x) {
      return "<tr><td>" + Sup.esc(Sup.name(x.name)) + '</td><td class="n">' + x.received + '</td><td class="n">' +
        x.completed + '</td><td class="n">' + x.late + "</td></tr>";
    });
    fr.push('<tr class="total"><td>' + Sup.esc(Sup.t("col.total")) + '</td><td class="n">' + f.received +
            '</td><td class="n">' + f.completed + '</td><td class="n">' + f.late + "</td></tr>");
    document.getElementById("tbl-files").innerHTML = "<thead><tr><th>" + Sup.esc(Sup.t("col.service")) +
      '</th><th class="n">' + Sup.esc(Sup.t("col.received")) + '</th><th class="n">' + Sup.esc(Sup.t("col.completed")) +
      '</th><th class="n">' + Sup.esc(Sup.t("col.late")) + "</th></tr></thead><tbody>" + fr.join("") + "</tbody>";
    renderEstimates(r);
  }

  // ----- wait-estimate accuracy: per day, hour and service, with the whole range as the total ----
  function estimatesTable(id, keyLabel, rows, keyOf, keyFmt, all) {
    var head = "<thead><tr><th>" + Sup.esc(Sup.t(keyLabel)) + '</th><th class="n">' + Sup.esc(Sup.t("col.est_count")) +
      "</th><th>" + Sup.esc(Sup.t("col.est_within")) + '</th><th class="n">' + Sup.esc(Sup.t("col.est_error")) +
      "</th><th>" + Sup.esc(Sup.t("col.est_bias")) + "</th></tr></thead>";
    function line(cls, key, keyHtml, x) {
      return '<tr class="' + cls + '" data-key="' + Sup.esc(key) + '" data-count="' + x.count + '" data-within="' +
        x.within_5_min + '"><td>' + keyHtml + '</td><td class="n">' + x.count + "</td><td>" + Sup.accuracyHtml(x) +
        '</td><td class="n">' + Sup.esc(Sup.errorMinutes(x)) + '</td><td class="' + Sup.biasClass(x) + '">' +
        Sup.esc(Sup.biasText(x, false)) + "</td></tr>";
    }
    var body = rows.map(function (x) { return line("", keyOf(x), keyFmt(x), x); });
    if (!rows.length) body = ['<tr class="empty-row"><td colspan="5">' + Sup.esc(Sup.t("est.empty")) + "</td></tr>"];
    else if (all && rows.length > 1) body.push(line("total", "all", Sup.esc(Sup.t("col.total")), all));
    document.getElementById(id).innerHTML = head + "<tbody>" + body.join("") + "</tbody>";
  }

  function renderEstimates(r) {
    var card = document.getElementById("est-card");
    var e = r.estimates;
    card.hidden = !e;
    if (!e) return;
    var a = e.all;
    document.getElementById("est-summary").textContent = a && a.count ? Sup.t("est.summary", {
      k: a.within_5_min, n: a.count, p: Sup.fmtShare(a.within_5_min_share),
      m: Sup.fmtMinutes(a.mean_abs_error_seconds), b: Sup.biasText(a, true)}) : Sup.t("est.empty");
    var names = {};
    (r.by_service || []).forEach(function (x) { names[x.key] = x.name; });
    estimatesTable("tbl-est-day", "col.day", e.by_day, function (x) { return x.day; }, function (x) {
      return '<span class="ltr mono">' + Sup.esc(x.day) + "</span>";
    }, a);
    estimatesTable("tbl-est-hour", "col.hour", e.by_hour, function (x) { return x.hour; }, function (x) {
      return '<span class="ltr mono">' + String(x.hour).padStart(2, "0") + ":00</span>";
    }, a);
    var bySvc = e.by_service.slice().sort(function (x, y) { return y.count - x.count || x.service.localeCompare(y.service); });
    estimatesTable("tbl-est-service", "col.service", bySvc, function (x) { return x.service; }, function (x) {
      return names[x.service] ? Sup.esc(Sup.name(names[x.service])) : '<span class="ltr mono">' + Sup.esc(x.service) + "</span>";
    }, a);
  }

  function downloadCsv() {
    Sup.api("GET", "/halls/" + HALL + "/reports?from=" + state.from + "&to=" + state.to + "&format=csv", undefined, true)
      .then(function (resp) { return resp.blob(); })
      .then(function (blob) {
        var a = document.createElement("a");
        a.href = URL.createObjectURL(blob);
        a.download = "report-" + HALL + "-" + state.from + "-" + state.to + ".csv";
        document.body.appendChild(a);
        a.click();
        setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
      }, Sup.showError);
  }

  // ----- every hall -------------------------------------------------------------------------------
  function renderGovernorate() {
    var halls = state.data.halls;
    var sum = function (fn) { return halls.reduce(function (a, h) { return a + (fn(h) || 0); }, 0); };
    var waits = sum(function (h) { return h.totals.waits; });
    var within = sum(function (h) { return h.totals.within_target; });
    var share = waits ? within / waits : null;
    document.getElementById("gov-kpis").innerHTML = [
      kpiHtml("k.halls", String(halls.length)), kpiHtml("k.issued", String(sum(function (h) { return h.totals.issued; }))),
      kpiHtml("k.served", String(sum(function (h) { return h.totals.served; }))),
      kpiHtml("k.share", Sup.fmtShare(share), Sup.shareClass(share)),
      kpiHtml("k.files_received", String(sum(function (h) { return h.files.received; }))),
      kpiHtml("k.files_completed", String(sum(function (h) { return h.files.completed; }))),
      kpiHtml("k.files_late", String(sum(function (h) { return h.files.late; }))),
      kpiHtml("k.waiting_now", String(sum(function (h) { return h.live.waiting; })))].join("");
    var cols = ["col.rank", "col.hall", "k.issued", "k.served", "k.wait_avg", "k.wait_p90", "k.share",
                "col.received", "col.completed", "col.late", "col.waiting_now", "col.open_now"];
    var head = "<thead><tr>" + cols.map(function (c, i) {
      return '<th class="' + (i > 1 && c !== "k.share" ? "n" : "") + '">' + Sup.esc(Sup.t(c)) + "</th>";
    }).join("") + "</tr></thead>";
    var rows = halls.map(function (h, i) {
      var q = "?from=" + state.from + "&to=" + state.to + "&period=" + state.period;
      var worst = i === 0 && halls.length > 1 && h.totals.within_target_share !== null;
      return '<tr data-hall="' + Sup.esc(h.hall) + '"' + (worst ? ' class="worst"' : "") + ">" +
        '<td><span class="rank">' + h.rank + "</span></td>" +
        '<td><a href="/supervisor/' + encodeURIComponent(h.hall) + "/reports" + q + '">' + Sup.esc(Sup.name(h.name)) +
        '</a><br><small class="muted">' + Sup.esc(Sup.t("kind." + h.kind)) + " · " + Sup.esc(Sup.name(h.governorate)) +
        "</small></td>" +
        '<td class="n">' + h.totals.issued + '</td><td class="n">' + h.totals.served + "</td>" +
        '<td class="n">' + Sup.fmtDuration(h.totals.wait_avg_seconds) + '</td><td class="n">' +
        Sup.fmtDuration(h.totals.wait_p90_seconds) + "</td><td>" + Sup.shareHtml(h.totals.within_target_share) + "</td>" +
        '<td class="n">' + h.files.received + '</td><td class="n">' + h.files.completed + '</td><td class="n">' +
        h.files.late + '</td><td class="n">' + h.live.waiting + '</td><td class="n">' + h.live.open_windows + "</td></tr>";
    });
    document.getElementById("tbl-halls").innerHTML = head + "<tbody>" + rows.join("") + "</tbody>";
    chart("chart-halls", {type: "bar", data: {
      labels: halls.map(function (h) { return Sup.name(h.name); }),
      datasets: [{label: Sup.t("k.share"), maxBarThickness: 34, data: halls.map(function (h) {
        return h.totals.within_target_share === null ? null : Math.round(h.totals.within_target_share * 1000) / 10;
      }), backgroundColor: halls.map(function (h) {
        var c = Sup.shareClass(h.totals.within_target_share);
        return c === "good" ? COLORS.ok : c === "mid" ? COLORS.warn : COLORS.bad;
      })}]},
      options: Sup.chartDir({indexAxis: "y", plugins: {legend: {display: false}}, scales: {
        x: {reverse: rtl(), beginAtZero: true, max: 100, ticks: {callback: function (v) { return v + "%"; }}},
        y: {position: rtl() ? "right" : "left", grid: {display: false}}}})});
  }

  function render() {
    if (!state.data) return;
    if (PAGE === "governorate") renderGovernorate(); else renderReport();
  }

  // ----- wiring ------------------------------------------------------------------------------------
  var started = false;
  Sup.start(function () {
    if (started) { load(); return; }
    started = true;
    Sup.chartDefaults();
    var q = new URLSearchParams(location.search);
    var period = ["day", "week", "month", "custom"].indexOf(q.get("period")) >= 0 ? q.get("period") : "day";
    setPeriod(period);
    document.getElementById("range-from").value = /^\d{4}-\d{2}-\d{2}$/.test(q.get("from") || "") ? q.get("from") : Sup.hallToday();
    document.getElementById("range-to").value = /^\d{4}-\d{2}-\d{2}$/.test(q.get("to") || "") ? q.get("to") : "";
    document.querySelectorAll("[data-period]").forEach(function (b) {
      b.addEventListener("click", function () { setPeriod(b.dataset.period); if (b.dataset.period !== "custom") load(); });
    });
    document.getElementById("range-show").addEventListener("click", load);
    document.getElementById("range-from").addEventListener("change", function () { if (state.period !== "custom") load(); });
    var csvBtn = document.getElementById("csv-download");
    if (csvBtn) csvBtn.addEventListener("click", downloadCsv);
    document.getElementById("print").addEventListener("click", function () { window.print(); });
    Sup.onLang.push(function () { renderLabel(); render(); });
    load();
  });
})();
