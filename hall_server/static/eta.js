// HallEta: how a wait estimate is told to a citizen or a supervisor, the same on every page
// (kiosk, phone, supervisor, board). Estimates are uncertain, so a wait is a rounded range:
// «حوالي ١٠–١٥ دقيقة» / "About 10–15 minutes", «أقل من ٥ دقائق» / "Less than 5 minutes", «الآن» / "Now".
//
// A ticket's public view carries the server's own range (`eta_range_seconds`); the per-service
// figures (the services list, queue_changed, stats) carry only seconds, so `range` below is the
// server's rule (hall_server/domain/estimate.py, eta_range) to the letter:
//   <= 60 s -> [0, 0] (now); under 5 minutes -> [0, 5] min; else, with m the minutes,
//   lo = 5*floor(0.8*m/5), hi = max(lo + 5, 5*ceil(1.25*m/5)).
(function (global) {
  "use strict";

  var EASTERN = "٠١٢٣٤٥٦٧٨٩";

  // Python's float floor division (a // b), step by step, so an edge value rounds as on the server.
  function floorDiv(a, b) {
    var mod = a % b;                       // C fmod, as Python's float_floor_div uses
    var div = (a - mod) / b;
    if (mod && ((b < 0) !== (mod < 0))) div -= 1;
    if (!div) return 0;
    var f = Math.floor(div);
    return div - f > 0.5 ? f + 1 : f;
  }

  // The range in seconds for an estimate in seconds; null when there is none (no window).
  function range(seconds) {
    if (seconds === null || seconds === undefined || typeof seconds !== "number" || isNaN(seconds)) return null;
    if (seconds <= 60) return [0, 0];
    var m = seconds / 60;
    if (m < 5) return [0, 300];
    var lo = 5 * floorDiv(m * 0.8, 5);                       // 5 * int(minutes * 0.8 // 5)
    var hi = Math.max(lo + 5, 5 * -floorDiv(-(m * 1.25), 5)); // max(lo + 5, 5 * -int(-(minutes * 1.25) // 5))
    return [lo * 60, hi * 60];
  }

  // The range of a ticket (its eta_range_seconds, when the server sent one) or of a service's
  // figure in seconds. A ticket whose range is null has no window that can call it: null.
  function of(item) {
    if (item === null || item === undefined) return null;
    if (typeof item === "number") return range(item);
    var r = item.eta_range_seconds;
    if (Array.isArray(r) && r.length === 2) return [r[0], r[1]];
    if (r === null && "eta_range_seconds" in item) return null;
    return range(item.eta_seconds);
  }

  function digits(n, opts) {
    var s = String(n);
    return opts && opts.digits === "eastern" ? s.replace(/[0-9]/g, function (d) { return EASTERN[+d]; }) : s;
  }

  // The Arabic noun after a count of minutes: 1 دقيقة واحدة, 2 دقيقتان, 3-10 دقائق, 11+ دقيقة (and
  // by the last two digits past a hundred: 103 دقائق, 111 دقيقة). For a range the noun follows the
  // second number: «١٠–١٥ دقيقة», «٥–١٠ دقائق».
  function minutesNounAr(n) {
    var rest = n % 100;
    return rest >= 3 && rest <= 10 ? "دقائق" : "دقيقة";
  }

  // "N minutes" in words, for one count.
  function minutes(n, opts) {
    var lang = (opts && opts.lang) || "ar";
    if (lang === "ar") {
      if (n === 1) return "دقيقة واحدة";
      if (n === 2) return "دقيقتان";
      return digits(n, opts) + " " + minutesNounAr(n);
    }
    return digits(n, opts) + (n === 1 ? " minute" : " minutes");
  }

  // The words for a range in seconds (or null: no estimate). opts: {lang: "ar"|"en", digits:
  // "eastern"|"western"}.
  function text(r, opts) {
    var lang = (opts && opts.lang) || "ar";
    var ar = lang === "ar";
    if (!r) return "—";
    var lo = Math.round(r[0] / 60), hi = Math.round(r[1] / 60);
    if (hi <= 0) return ar ? "الآن" : "Now";
    if (lo <= 0) return ar ? "أقل من " + digits(hi, opts) + " " + minutesNounAr(hi)
                           : "Less than " + digits(hi, opts) + " minutes";
    var span = digits(lo, opts) + "–" + digits(hi, opts);
    return ar ? "حوالي " + span + " " + minutesNounAr(hi) : "About " + span + " minutes";
  }

  // What kind of promise a range is: none (no window), now, under (less than N), about (lo–hi).
  function kind(r) {
    if (!r) return "none";
    if (r[1] <= 0) return "now";
    return r[0] <= 0 ? "under" : "about";
  }

  // Mark an element with the range it shows (tests and styles read these).
  function mark(el, r) {
    el.dataset.eta = kind(r);
    el.dataset.etaRange = r ? r[0] + "," + r[1] : "";
    return el;
  }

  // Put the words for `r` in `el` and mark it. The figure and its noun ("١٠–٢٠ دقيقة") never break
  // apart: a narrow box wraps before them, never after the dash.
  function show(el, r, opts) {
    var words = text(r, opts);
    var m = /^([^0-9\u0660-\u0669]*?)([0-9\u0660-\u0669].*)$/.exec(words);    // "حوالي " + "١٠–٢٠ دقيقة"; "About " + "10–20 minutes"
    el.textContent = "";
    if (!m) {
      el.textContent = words;
    } else {
      if (m[1]) el.appendChild(document.createTextNode(m[1]));
      var keep = document.createElement("span");
      keep.className = "eta-figure";
      keep.style.whiteSpace = "nowrap";
      keep.textContent = m[2];
      el.appendChild(keep);
    }
    return mark(el, r);
  }

  global.HallEta = {range: range, of: of, text: text, kind: kind, minutes: minutes, mark: mark, show: show,
                    digits: digits};
})(window);
