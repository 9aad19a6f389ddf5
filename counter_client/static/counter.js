// The counter page: log in, sign in to a window, then work the queue with the keyboard.
// Everything goes through the REST API (/api/v1); HallLive (role "counter") only says "something
// changed", and the page refetches its window (debounced), so the screen never drifts from the server.
(function () {
  "use strict";

  var API = "/api/v1";
  var HALL = document.body.dataset.hall;
  var TZ = document.body.dataset.timezone || "Africa/Cairo";
  var KEY_TOKEN = "counter.token", KEY_USER = "counter.user", KEY_LANG = "counter.lang";
  var OUTCOMES = ["served", "referred", "incomplete_documents", "rejected", "info_only"];
  var REFRESH_DEBOUNCE_MS = 250;
  var OFFLINE_POLL_MS = 15000;

  // ----- strings ------------------------------------------------------------------------
  var STR = {
    ar: {
      "app.title": "شاشة الشباك", "hdr.window": "شباك",
      "live.online": "متصل", "live.offline": "غير متصل", "live.error": "خطأ في الاتصال المباشر",
      "btn.logout": "تسجيل الخروج",
      "login.title": "دخول موظف الشباك", "login.username": "اسم المستخدم", "login.password": "كلمة المرور",
      "login.submit": "دخول", "login.missing": "أدخل اسم المستخدم وكلمة المرور.",
      "picker.title": "اختر الشباك الذي تعمل عليه",
      "picker.hint": "اكتب رقم الشباك أو استخدم الأسهم، ثم Enter لتسجيل الدخول إليه.",
      "picker.free": "متاح", "picker.mine": "أنت مسجل عليه — متابعة", "picker.taken": "مشغول بموظف آخر",
      "picker.not_allowed": "غير مسموح لك", "picker.counts": "{s} خدمات · ينتظر {w}",
      "state.open": "مفتوح", "state.paused": "استراحة", "state.closed": "مغلق",
      "work.paused": "استراحة — الشباك لا يستقبل نداءات. اضغط B للاستئناف.",
      "work.empty": "لا توجد تذكرة حالية — اضغط N لنداء التالي",
      "work.empty_paused": "لا توجد تذكرة حالية.",
      "cur.issued": "وقت الإصدار", "cur.waited": "مدة الانتظار", "cur.since_call": "منذ النداء",
      "cur.serving": "مدة الخدمة", "cur.recalls": "مرات إعادة النداء",
      "cur.recall_warning": "بلغت حد إعادة النداء: إعادة النداء التالية تسجل «لم يحضر».",
      "status.called": "تم النداء", "status.serving": "قيد الخدمة",
      "prio.elderly": "كبار السن", "prio.disabled": "ذوو الإعاقة", "prio.pregnant": "حامل",
      "prio.appointment": "موعد مسبق", "prio.other": "أولوية",
      "act.next": "نداء التالي", "act.recall": "إعادة النداء", "act.start": "بدء الخدمة",
      "act.complete": "إنهاء الخدمة", "act.noshow": "لم يحضر", "act.transfer": "تحويل",
      "act.park": "تعليق مؤقت", "act.call": "نداء تذكرة محددة", "act.pause": "استراحة",
      "act.resume": "استئناف العمل", "act.signout": "الخروج من الشباك",
      "list.waiting": "قائمة الانتظار", "list.waiting_empty": "لا أحد ينتظر خدمات هذا الشباك.",
      "list.parked": "التذاكر المعلقة", "list.parked_empty": "لا توجد تذاكر معلقة.",
      "list.resume": "استئناف", "list.more": "وغيرها", "list.to_here": "محوّلة لهذا الشباك",
      "dlg.complete_title": "إنهاء الخدمة: النتيجة", "dlg.complete_keys": "١–٥ أو الأسهم ثم Enter للتأكيد · Esc للإلغاء",
      "dlg.transfer_title": "تحويل التذكرة", "dlg.to_service": "إلى خدمة (اكتب للبحث)",
      "dlg.to_window": "أو إلى شباك رقم",
      "dlg.transfer_keys": "الأسهم لاختيار الخدمة · Tab لرقم الشباك · Enter للتأكيد · Esc للإلغاء",
      "dlg.call_title": "نداء تذكرة محددة (خارج الترتيب)", "dlg.ticket": "رقم التذكرة",
      "dlg.reason": "السبب (مطلوب، يُسجَّل في سجل المراجعة)",
      "dlg.call_hint": "التذاكر المعلقة على شباكك لا تحتاج سببًا.", "dlg.call_keys": "Enter للتأكيد · Esc للإلغاء",
      "dlg.no_match": "لا توجد خدمة بهذا الاسم.", "dlg.confirm": "تأكيد", "dlg.cancel": "إلغاء",
      "dlg.waiting": "ينتظر {n}",
      "out.served": "تمت الخدمة", "out.referred": "إحالة إلى جهة أخرى", "out.incomplete_documents": "مستندات ناقصة",
      "out.rejected": "رفض الطلب", "out.info_only": "استعلام فقط",
      "reason.1": "كبار السن أو حالة صحية", "reason.2": "ذوو الإعاقة", "reason.3": "خطأ في النداء السابق",
      "reason.4": "عودة المواطن بعد استكمال مستند", "reason.5": "بتوجيه من المشرف",
      "v.ticket": "اكتب رقم تذكرة مثل B-004.", "v.reason": "اكتب سبب النداء خارج الترتيب.",
      "v.transfer": "اختر خدمة من القائمة أو اكتب رقم شباك.", "v.window": "رقم الشباك من 1 إلى 999.",
      "n.called": "تم نداء {n}", "n.recalled": "إعادة نداء {n}", "n.started": "بدأت خدمة {n}",
      "n.completed": "انتهت خدمة {n}: {o}", "n.noshow": "{n}: لم يحضر", "n.parked": "تم تعليق {n}",
      "n.transferred_service": "تم تحويل {n} إلى خدمة «{s}»", "n.transferred_window": "تم تحويل {n} إلى الشباك {w}",
      "n.nothing": "لا أحد ينتظر الآن.", "n.paused": "بدأت الاستراحة: لن يُنادى على هذا الشباك.",
      "n.resumed": "عاد الشباك لاستقبال النداءات.", "n.signed_out": "خرجت من الشباك {w}.",
      "n.signed_in": "أنت الآن على الشباك {w}.", "n.recall_noshow": "{n}: سُجِّل «لم يحضر» بعد بلوغ حد إعادة النداء.",
      "n.unavailable": "هذا الإجراء غير متاح الآن.", "n.lost_window": "لم تعد مسجلًا على الشباك {w}.",
      "n.logged_out": "تم تسجيل الخروج.",
      "err.generic": "تعذر تنفيذ الطلب.", "err.network_error": "تعذر الاتصال بالخادم. تحقق من الشبكة ثم أعد المحاولة.",
      "err.bad_credentials": "اسم المستخدم أو كلمة المرور غير صحيحة.",
      "err.login_busy": "الخادم مشغول بتسجيلات دخول كثيرة؛ أعد المحاولة بعد ثوانٍ.",
      "err.unavailable": "قاعدة البيانات غير متاحة الآن؛ أعد المحاولة بعد قليل.",
      "err.not_your_ticket": "هذه التذكرة لدى شباك آخر.",
      "err.other_hall": "حسابك لا يعمل في هذا المركز.",
      "err.not_your_file": "هذا الملف ليس للمواطن الذي على شباكك.",
      "err.unauthorized": "انتهت الجلسة أو غير مصرح. سجّل الدخول من جديد.",
      "err.forbidden": "ليست لديك صلاحية لهذا الإجراء.",
      "err.not_signed_in": "سجّل الدخول إلى الشباك أولًا.",
      "err.window_not_allowed": "غير مسموح لك بالعمل على هذا الشباك.",
      "err.window_taken": "هذا الشباك مشغول بموظف آخر.",
      "err.already_signed_in": "أنت مسجل على شباك آخر؛ اخرج منه أولًا.",
      "err.window_busy": "أنهِ التذكرة الحالية أولًا.",
      "err.window_not_open": "الشباك ليس مفتوحًا (استراحة أو مغلق).",
      "err.no_current_ticket": "لا توجد تذكرة حالية على هذا الشباك.",
      "err.invalid_state": "حالة التذكرة لا تسمح بهذا الإجراء.",
      "err.conflict": "تغيرت التذكرة في الأثناء؛ أعد المحاولة.",
      "err.reason_required": "النداء خارج الترتيب يحتاج سببًا.",
      "err.not_found": "غير موجود.", "err.unknown_service": "الخدمة غير موجودة.",
      "err.invalid_ticket_number": "رقم التذكرة غير صحيح (مثال: B-004).",
      "err.invalid_transfer": "التحويل غير صحيح (اختر خدمة أو شباكًا آخر).",
      "err.invalid_outcome": "نتيجة غير معروفة.", "err.invalid_window": "رقم الشباك غير صحيح.",
      "err.invalid_input": "قيمة غير صحيحة.", "err.invalid_field": "قيمة غير صحيحة.",
      "err.missing_field": "حقل مطلوب ناقص.", "err.bad_request": "طلب غير صالح.",
      "err.not_staff": "هذه الشاشة لموظفي الشبابيك فقط.", "err.internal": "خطأ في الخادم (تم تسجيله).",
      // request-file panel
      "cur.file": "ملف", "fp.title": "ملف الطلب", "fp.title_open": "فتح ملف طلب جديد",
      "fp.keys_open": "Tab للتنقل · مسافة لتحديد مستند · Enter لفتح الملف · Esc للرجوع",
      "fp.keys_file": "Tab للتنقل · مسافة لتحديد مستند · Enter للتسجيل · Esc للرجوع",
      "fp.name": "اسم المواطن (رباعي)", "fp.nid": "الرقم القومي (١٤ رقمًا)",
      "fp.mobile": "رقم الموبايل (اختياري، لرسائل حالة الملف)",
      "fp.docs_received": "المستندات المستلمة من المواطن", "fp.open": "فتح الملف",
      "fp.loading": "جارٍ تحميل الملف…", "fp.service": "الخدمة", "fp.due": "موعد الإنجاز",
      "fp.department": "الإدارة", "fp.citizen": "المواطن", "fp.nid_short": "الرقم القومي",
      "fp.reveal": "إظهار الرقم كاملًا", "fp.hide": "إخفاء",
      "fp.reveal_hint": "كل اطلاع على الرقم الكامل يُسجَّل باسمك.",
      "fp.revealed": "سُجِّل اطلاعك على الرقم الكامل باسمك في سجل المراجعة ({t}).",
      "fp.mobile_short": "الموبايل", "fp.docs": "المستندات", "fp.record_docs": "تسجيل المستندات المستلمة",
      "fp.deliver": "تسليم النتيجة للمواطن", "fp.docs_all": "كل المستندات مستلمة",
      "fp.late": "متأخر {d}",
      "fp.reason_needs": "مطلوب من المواطن: {r}", "fp.reason_rejected": "سبب الرفض: {r}",
      "fstatus.received": "تم الاستلام", "fstatus.under_review": "قيد المراجعة",
      "fstatus.needs_documents": "مطلوب استكمال مستندات", "fstatus.ready": "جاهز للتسليم",
      "fstatus.delivered": "تم التسليم", "fstatus.rejected": "مرفوض",
      "fv.name": "اكتب اسم المواطن (٣ أحرف على الأقل).", "fv.nid": "الرقم القومي ١٤ رقمًا بالضبط.",
      "fv.no_docs": "حدد المستندات التي استلمتها الآن.",
      "fn.opened": "تم فتح الملف {f} للتذكرة {n}", "fn.docs": "تم تسجيل المستندات في الملف {f}",
      "fn.delivered": "تم تسليم الملف {f}",
      "err.invalid_national_id_length": "الرقم القومي يتكون من ١٤ رقمًا.",
      "err.invalid_national_id_century": "الرقم القومي يبدأ بـ 2 (مواليد 1900–1999) أو 3 (مواليد 2000 وما بعدها).",
      "err.invalid_national_id_date": "تاريخ الميلاد في الرقم القومي (الأرقام 2–7) غير صحيح.",
      "err.invalid_national_id_governorate": "كود المحافظة في الرقم القومي (الرقمان 8–9) غير معروف.",
      "err.invalid_mobile": "رقم الموبايل ١١ رقمًا يبدأ بـ 010 أو 011 أو 012 أو 015.",
      "err.invalid_name": "اسم المواطن من ٣ إلى ١٢٠ حرفًا.",
      "err.invalid_documents": "المستندات المحددة غير صحيحة.",
      "err.not_a_submission": "الملفات تُفتح لطلبات التقديم فقط، لا للسداد أو الاستعلام.",
      "err.unknown_file": "لا يوجد ملف بهذا الرقم.", "err.invalid_file_number": "رقم الملف غير صحيح.",
      "err.file_closed": "الملف مغلق (سُلِّم أو رُفض).",
      // every other code the API can answer with (api.py, application/*, werkzeug's HTTP errors)
      "err.domain_error": "لا يمكن تنفيذ هذا الإجراء الآن.", "err.not_waiting": "التذكرة لم تعد في الانتظار.",
      "err.same_service": "التذكرة تنتظر هذه الخدمة بالفعل.", "err.invalid_priority": "نوع الأولوية غير معروف.",
      "err.invalid_phone": "رقم الموبايل غير صحيح.", "err.invalid_json": "طلب غير صالح.",
      "err.invalid_date": "تاريخ غير صحيح.", "err.invalid_range": "الفترة غير صحيحة.",
      "err.invalid_format": "صيغة غير معروفة.", "err.invalid_status": "حالة غير معروفة.",
      "err.invalid_department": "الإدارة غير صحيحة.", "err.same_department": "الملف في هذه الإدارة بالفعل.",
      "err.invalid_last4": "اكتب آخر أربعة أرقام من الرقم القومي أو الموبايل.",
      "err.too_many_attempts": "محاولات خاطئة كثيرة؛ أعد المحاولة بعد قليل.",
      "err.idempotency_mismatch": "تعارض في الطلب؛ أعد المحاولة.", "err.invalid_idempotency_key": "طلب غير صالح.",
      "err.invalid_role": "الدور غير صحيح.", "err.invalid_username": "اسم المستخدم غير صحيح.",
      "err.weak_password": "كلمة المرور ضعيفة.", "err.user_exists": "اسم المستخدم مستخدم بالفعل.",
      "err.invalid_device_name": "اسم الجهاز غير صحيح.", "err.tickets_waiting": "ما زالت هناك تذاكر في الانتظار.",
      "err.method_not_allowed": "طلب غير صالح.", "err.unsupported_media_type": "طلب غير صالح.",
      "err.request_entity_too_large": "البيانات المرسلة أكبر من المسموح.",
      "err.too_many_requests": "طلبات كثيرة في وقت قصير؛ انتظر قليلًا ثم أعد المحاولة.",
      "err.internal_server_error": "خطأ في الخادم (تم تسجيله).",
      "err.service_unavailable": "الخادم غير متاح الآن. أعد المحاولة بعد قليل.",
      "err.bad_gateway": "الخادم غير متاح الآن. أعد المحاولة بعد قليل.",
      "err.gateway_timeout": "الخادم غير متاح الآن. أعد المحاولة بعد قليل.",
      "err.client_error": "حدث خطأ في الصفحة. أعد تحميلها ثم حاول مرة أخرى.",
      "err.server_unavailable": "الخادم غير متاح الآن. أعد المحاولة بعد قليل.",
      "err.ref": "مرجع للدعم الفني: {c}", "err.no_such_ticket": "لا توجد تذكرة بهذا الرقم اليوم.",
      "act.noshow_confirm": "اضغط X مرة أخرى للتأكيد",
      "n.noshow_confirm": "لم تبلغ حد إعادة النداء ({r}): اضغط X مرة أخرى خلال {s} ثوانٍ لتسجيل «لم يحضر».",
    },
    en: {
      "app.title": "Counter", "hdr.window": "Window",
      "live.online": "Live", "live.offline": "Offline", "live.error": "Live connection error",
      "btn.logout": "Log out",
      "login.title": "Counter staff login", "login.username": "Username", "login.password": "Password",
      "login.submit": "Log in", "login.missing": "Enter your username and password.",
      "picker.title": "Choose the window you work at",
      "picker.hint": "Type the window number or use the arrow keys, then Enter to sign in.",
      "picker.free": "Free", "picker.mine": "You are signed in — continue", "picker.taken": "In use by another clerk",
      "picker.not_allowed": "Not allowed for you", "picker.counts": "{s} services · {w} waiting",
      "state.open": "Open", "state.paused": "On break", "state.closed": "Closed",
      "work.paused": "On break — this window receives no calls. Press B to resume.",
      "work.empty": "No current ticket — press N to call the next",
      "work.empty_paused": "No current ticket.",
      "cur.issued": "Issued at", "cur.waited": "Waited", "cur.since_call": "Since call",
      "cur.serving": "Serving for", "cur.recalls": "Recalls",
      "cur.recall_warning": "Recall limit reached: the next recall marks a no-show.",
      "status.called": "Called", "status.serving": "Serving",
      "prio.elderly": "Elderly", "prio.disabled": "Disability", "prio.pregnant": "Pregnant",
      "prio.appointment": "Appointment", "prio.other": "Priority",
      "act.next": "Call next", "act.recall": "Recall", "act.start": "Start serving",
      "act.complete": "Complete", "act.noshow": "No-show", "act.transfer": "Transfer",
      "act.park": "Park", "act.call": "Call a ticket", "act.pause": "Break",
      "act.resume": "Resume work", "act.signout": "Sign out of window",
      "list.waiting": "Waiting", "list.waiting_empty": "Nobody waits for this window's services.",
      "list.parked": "Parked", "list.parked_empty": "No parked tickets.",
      "list.resume": "Resume", "list.more": "more", "list.to_here": "transferred here",
      "dlg.complete_title": "Complete: outcome", "dlg.complete_keys": "1–5 or arrows then Enter · Esc cancels",
      "dlg.transfer_title": "Transfer ticket", "dlg.to_service": "To a service (type to search)",
      "dlg.to_window": "or to window number",
      "dlg.transfer_keys": "Arrows choose a service · Tab to the window number · Enter confirms · Esc cancels",
      "dlg.call_title": "Call a ticket out of order", "dlg.ticket": "Ticket number",
      "dlg.reason": "Reason (required, audited)",
      "dlg.call_hint": "Tickets parked at your window need no reason.", "dlg.call_keys": "Enter confirms · Esc cancels",
      "dlg.no_match": "No service matches.", "dlg.confirm": "Confirm", "dlg.cancel": "Cancel",
      "dlg.waiting": "{n} waiting",
      "out.served": "Served", "out.referred": "Referred elsewhere", "out.incomplete_documents": "Incomplete documents",
      "out.rejected": "Rejected", "out.info_only": "Information only",
      "reason.1": "Elderly or health condition", "reason.2": "Disability", "reason.3": "Previous call was a mistake",
      "reason.4": "Citizen back with a missing document", "reason.5": "Supervisor's instruction",
      "v.ticket": "Type a ticket number like B-004.", "v.reason": "Give the reason for calling out of order.",
      "v.transfer": "Choose a service from the list or type a window number.", "v.window": "Window number 1 to 999.",
      "n.called": "Called {n}", "n.recalled": "Recalled {n}", "n.started": "Serving {n}",
      "n.completed": "{n} completed: {o}", "n.noshow": "{n}: no-show", "n.parked": "{n} parked",
      "n.transferred_service": "{n} transferred to “{s}”", "n.transferred_window": "{n} transferred to window {w}",
      "n.nothing": "Nobody is waiting now.", "n.paused": "Break started: this window gets no calls.",
      "n.resumed": "The window takes calls again.", "n.signed_out": "Signed out of window {w}.",
      "n.signed_in": "You are at window {w}.", "n.recall_noshow": "{n}: marked no-show after the recall limit.",
      "n.unavailable": "That action is not available now.", "n.lost_window": "You are no longer signed in at window {w}.",
      "n.logged_out": "Logged out.",
      "err.generic": "The request failed.", "err.network_error": "Cannot reach the server. Check the network and try again.",
      "err.bad_credentials": "Wrong username or password.",
      "err.login_busy": "The server is busy with many log-ins; try again in a few seconds.",
      "err.unavailable": "The database cannot be reached right now; try again shortly.",
      "err.not_your_ticket": "This ticket is held by another window.",
      "err.other_hall": "Your account does not work in this hall.",
      "err.not_your_file": "This file is not the citizen's at your window.",
      "err.unauthorized": "Your session ended or is not authorised. Log in again.",
      "err.forbidden": "You are not allowed to do this.",
      "err.not_signed_in": "Sign in to the window first.",
      "err.window_not_allowed": "You are not allowed to use this window.",
      "err.window_taken": "This window is in use by another clerk.",
      "err.already_signed_in": "You are signed in at another window; sign out there first.",
      "err.window_busy": "Finish the current ticket first.",
      "err.window_not_open": "The window is not open (on break or closed).",
      "err.no_current_ticket": "This window has no current ticket.",
      "err.invalid_state": "The ticket's state does not allow this.",
      "err.conflict": "The ticket changed meanwhile; try again.",
      "err.reason_required": "Calling out of order needs a reason.",
      "err.not_found": "Not found.", "err.unknown_service": "No such service.",
      "err.invalid_ticket_number": "Not a ticket number (e.g. B-004).",
      "err.invalid_transfer": "Invalid transfer (choose a service or another window).",
      "err.invalid_outcome": "Unknown outcome.", "err.invalid_window": "Invalid window number.",
      "err.invalid_input": "Invalid value.", "err.invalid_field": "Invalid value.",
      "err.missing_field": "A required field is missing.", "err.bad_request": "Bad request.",
      "err.not_staff": "This page is for counter staff only.", "err.internal": "Server error (it has been logged).",
      "cur.file": "File", "fp.title": "Request file", "fp.title_open": "Open a new request file",
      "fp.keys_open": "Tab moves · Space ticks a document · Enter opens the file · Esc goes back",
      "fp.keys_file": "Tab moves · Space ticks a document · Enter records · Esc goes back",
      "fp.name": "Citizen's full name", "fp.nid": "National ID (14 digits)",
      "fp.mobile": "Mobile (optional, for file status SMS)",
      "fp.docs_received": "Documents received from the citizen", "fp.open": "Open the file",
      "fp.loading": "Loading the file…", "fp.service": "Service", "fp.due": "Due",
      "fp.department": "Department", "fp.citizen": "Citizen", "fp.nid_short": "National ID",
      "fp.reveal": "Show full ID", "fp.hide": "Hide",
      "fp.reveal_hint": "Every view of the full ID is recorded under your name.",
      "fp.revealed": "Your view of the full ID was recorded in the audit trail ({t}).",
      "fp.mobile_short": "Mobile", "fp.docs": "Documents", "fp.record_docs": "Record received documents",
      "fp.deliver": "Hand over to the citizen", "fp.docs_all": "All documents received",
      "fp.late": "{d} late",
      "fp.reason_needs": "Needed from the citizen: {r}", "fp.reason_rejected": "Rejected: {r}",
      "fstatus.received": "Received", "fstatus.under_review": "Under review",
      "fstatus.needs_documents": "Documents needed", "fstatus.ready": "Ready",
      "fstatus.delivered": "Delivered", "fstatus.rejected": "Rejected",
      "fv.name": "Type the citizen's name (at least 3 letters).", "fv.nid": "The national ID has exactly 14 digits.",
      "fv.no_docs": "Tick the documents you received now.",
      "fn.opened": "File {f} opened for ticket {n}", "fn.docs": "Documents recorded in file {f}",
      "fn.delivered": "File {f} handed over",
      "err.invalid_national_id_length": "The national ID has 14 digits.",
      "err.invalid_national_id_century": "The national ID starts with 2 (born 1900–1999) or 3 (born 2000 on).",
      "err.invalid_national_id_date": "The birth date in the national ID (digits 2–7) is not valid.",
      "err.invalid_national_id_governorate": "The governorate code in the national ID (digits 8–9) is unknown.",
      "err.invalid_mobile": "A mobile number has 11 digits starting 010, 011, 012 or 015.",
      "err.invalid_name": "The citizen's name has 3 to 120 characters.",
      "err.invalid_documents": "The ticked documents are not valid.",
      "err.not_a_submission": "Files are opened for submissions, not for payments or inquiries.",
      "err.unknown_file": "No file with this number.", "err.invalid_file_number": "Not a file number.",
      "err.file_closed": "The file is closed (delivered or rejected).",
      "err.domain_error": "That cannot be done now.", "err.not_waiting": "The ticket is no longer waiting.",
      "err.same_service": "The ticket already waits for that service.", "err.invalid_priority": "Unknown priority.",
      "err.invalid_phone": "Not a valid mobile number.", "err.invalid_json": "Bad request.",
      "err.invalid_date": "Invalid date.", "err.invalid_range": "Invalid range.",
      "err.invalid_format": "Unknown format.", "err.invalid_status": "Unknown status.",
      "err.invalid_department": "Invalid department.", "err.same_department": "The file is already in that department.",
      "err.invalid_last4": "Give the last four digits of the national ID or the mobile.",
      "err.too_many_attempts": "Too many wrong attempts; try again later.",
      "err.idempotency_mismatch": "Conflicting request; try again.", "err.invalid_idempotency_key": "Bad request.",
      "err.invalid_role": "Invalid role.", "err.invalid_username": "Invalid username.",
      "err.weak_password": "The password is too weak.", "err.user_exists": "That username is taken.",
      "err.invalid_device_name": "Invalid device name.", "err.tickets_waiting": "Tickets are still waiting.",
      "err.method_not_allowed": "Bad request.", "err.unsupported_media_type": "Bad request.",
      "err.request_entity_too_large": "The data sent is too large.",
      "err.too_many_requests": "Too many requests at once; wait a moment and try again.",
      "err.internal_server_error": "Server error (it has been logged).",
      "err.service_unavailable": "The server is unavailable. Try again shortly.",
      "err.bad_gateway": "The server is unavailable. Try again shortly.",
      "err.gateway_timeout": "The server is unavailable. Try again shortly.",
      "err.client_error": "Something went wrong on this page. Reload it and try again.",
      "err.server_unavailable": "The server is unavailable. Try again shortly.",
      "err.ref": "Reference for support: {c}", "err.no_such_ticket": "No ticket with this number today.",
      "act.noshow_confirm": "Press X again to confirm",
      "n.noshow_confirm": "Recall limit not reached ({r}): press X again within {s} seconds to mark a no-show.",
    },
  };

  // ----- state ------------------------------------------------------------------------------
  var S = {
    lang: localStorage.getItem(KEY_LANG) === "en" ? "en" : "ar",
    token: null, user: null, screen: "loading",
    window: null,          // the window number signed in to
    view: null,            // GET /windows/<n>
    windows: [],           // picker list
    services: {},          // code -> service from GET /services
    serviceList: [],
    recallLimit: null,
    busy: false,
    pending: null,         // a shortcut pressed while a request was in flight
    live: null, liveState: "offline",
    gen: 0, applied: 0,    // refetch generations: an older answer never overwrites a newer one
    refreshTimer: null,
    skewMs: 0,             // server clock minus ours, so timers agree with the server's timestamps
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

  // ----- language ---------------------------------------------------------------------------
  function applyLang() {
    var html = document.documentElement;
    html.lang = S.lang;
    html.dir = S.lang === "ar" ? "rtl" : "ltr";
    document.querySelectorAll("[data-i18n]").forEach(function (node) {
      node.textContent = t(node.dataset.i18n);
    });
    var toggle = $("lang-toggle");
    toggle.textContent = S.lang === "ar" ? "English" : "العربية";
    toggle.lang = S.lang === "ar" ? "en" : "ar";
    var hallName = S.lang === "ar" ? document.body.dataset.hallAr : document.body.dataset.hallEn;
    $("hall-name").textContent = hallName;
    document.title = t("app.title") + " — " + hallName;
    fillReasons();
    renderLive();
    renderAll();
  }

  function fillReasons() {
    var list = $("call-reasons");
    list.textContent = "";
    for (var i = 1; i <= 5; i++) list.appendChild(el("option")).value = t("reason." + i);
  }

  // ----- formatting -------------------------------------------------------------------------
  function now() { return Date.now() + S.skewMs; }
  function fmtTime(iso) {
    if (!iso) return "—";
    var locale = S.lang === "ar" ? "ar-EG-u-nu-latn" : "en-GB";
    return new Intl.DateTimeFormat(locale, {timeZone: TZ, hour: "2-digit", minute: "2-digit", hour12: false})
      .format(new Date(iso));
  }
  function fmtDuration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    var mm = (h ? String(m).padStart(2, "0") : String(m)), ss = String(s).padStart(2, "0");
    return (h ? h + ":" : "") + mm + ":" + ss;
  }
  function since(iso) { return iso ? (now() - Date.parse(iso)) / 1000 : 0; }
  function serviceName(code) {
    var s = S.services[code];
    return s ? s.name[S.lang] || s.name.ar : code;
  }
  function priorityLabel(p) { return STR.ar["prio." + p] ? t("prio." + p) : t("prio.other"); }
  // Clerks type on Arabic keyboards too: accept Eastern digits and a missing dash ("ب" is not a prefix).
  function normalizeTicket(text) {
    var s = String(text || "").trim().replace(/[٠-٩]/g, function (d) { return "٠١٢٣٤٥٦٧٨٩".indexOf(d); });
    s = s.replace(/\s+/g, "").toUpperCase();
    var m = /^([A-Z])?-?(\d{1,6})$/.exec(s);
    if (!m) return null;
    var n = m[2].replace(/^0+(?=\d)/, "");
    while (n.length < 3) n = "0" + n;
    return (m[1] ? m[1] + "-" : "") + n;
  }
  // Arabic search forgives hamza forms, taa marbuta and diacritics.
  function fold(text) {
    return String(text || "").toLowerCase()
      .replace(/[\u064B-\u065F\u0670\u0640]/g, "")
      .replace(/[أإآٱ]/g, "ا").replace(/ة/g, "ه").replace(/ى/g, "ي").replace(/[_-]/g, " ");
  }

  // ----- banner and notices -----------------------------------------------------------------
  function ApiError(status, code, message) {
    this.status = status; this.code = code; this.message = message;
  }
  // A clerk reads words, never a code: every code the API answers with has its sentence, and an
  // unknown one gets a general sentence. The code and the server's own words stay out of sight, in
  // the banner's tooltip and data-code, for whoever supports the hall.
  function errorText(err) {
    var code = (err && err.code) || "";
    var key = "err." + code;
    if (STR.ar[key]) return t(key);
    if (/^http_5\d\d$/.test(code)) return t("err.server_unavailable");
    return t("err.generic");
  }
  function showError(err) {
    var banner = $("banner");
    $("banner-text").textContent = errorText(err);
    banner.dataset.code = err.code || "";
    banner.title = t("err.ref", {c: (err.code || "?") + (err.status ? " " + err.status : "")}) +
      (err.message ? " — " + err.message : "");
    banner.hidden = false;
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

  // ----- the API ------------------------------------------------------------------------------
  function noteSkew(resp) {
    var d = Date.parse(resp.headers.get("Date") || "");
    if (isNaN(d)) return;
    var skew = d - Date.now();
    // the Date header has one-second resolution: only correct clocks that are clearly off
    S.skewMs = Math.abs(skew) > 2000 ? skew : 0;
  }

  async function api(method, path, data) {
    var headers = {"Accept": "application/json"};
    if (S.token) headers.Authorization = "Bearer " + S.token;
    var init = {method: method, headers: headers, cache: "no-store"};
    if (data !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(data);
    }
    var resp;
    try {
      resp = await fetch(API + path, init);
    } catch (e) {
      throw new ApiError(0, "network_error", String((e && e.message) || e));
    }
    noteSkew(resp);
    if (resp.status === 204) return null;
    var text = await resp.text(), json = null;
    try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
    if (resp.ok) return json;
    var err = (json && json.error) || {code: "http_" + resp.status, message: text.slice(0, 200)};
    throw new ApiError(resp.status, err.code || "http_" + resp.status, err.message || "");
  }

  function winPath(suffix) { return "/halls/" + encodeURIComponent(HALL) + "/windows/" + S.window + (suffix || ""); }

  // Any 401 after login means the token is gone (revoked, expired): back to the login form.
  function fail(err) {
    if (!(err instanceof ApiError)) {
      err = new ApiError(0, "client_error", String((err && err.message) || err));
    }
    if (err.status === 401 && S.token) {
      dropSession();
      showScreen("login");
    }
    showError(err);
    return err;
  }

  // ----- screens ------------------------------------------------------------------------------
  function showScreen(name) {
    S.screen = name;
    document.body.dataset.screen = name;
    ["login", "picker", "work"].forEach(function (s) { $("screen-" + s).hidden = s !== name; });
    $("logout").hidden = name === "login" || !S.token;
    $("who").hidden = name !== "work";
    if (name === "login") {
      $("login-error").textContent = "";
      $("password").value = "";
      setTimeout(function () { ($("username").value ? $("password") : $("username")).focus(); }, 0);
    }
    renderAll();
  }

  function renderAll() {
    if (S.screen === "picker") renderPicker();
    if (S.screen === "work") renderWork();
  }

  // ----- login and session --------------------------------------------------------------------
  function dropSession() {
    S.token = null; S.user = null; S.window = null; S.view = null;
    resetFilePanel();
    sessionStorage.removeItem(KEY_TOKEN);
    sessionStorage.removeItem(KEY_USER);
    stopLive();
  }

  async function onLogin(e) {
    e.preventDefault();
    var username = $("username").value.trim(), password = $("password").value;
    if (!username || !password) {
      $("login-error").textContent = t("login.missing");
      return;
    }
    if (S.busy) return;
    S.busy = true;
    $("login-submit").disabled = true;
    try {
      var res = await api("POST", "/auth/login", {username: username, password: password});
      if (["clerk", "supervisor", "admin"].indexOf(res.user.role) < 0) {
        S.token = res.token;
        await api("POST", "/auth/logout").catch(function () {});
        S.token = null;
        throw new ApiError(403, "not_staff", "role " + res.user.role + " cannot use the counter page");
      }
      S.token = res.token;
      S.user = res.user;
      sessionStorage.setItem(KEY_TOKEN, S.token);
      sessionStorage.setItem(KEY_USER, JSON.stringify(S.user));
      hideError();
      await afterLogin();
    } catch (err) {
      $("login-error").textContent = errorText(err instanceof ApiError ? err : new ApiError(0, "client_error", ""));
      if (!(err instanceof ApiError) || err.code !== "bad_credentials") fail(err);
      $("password").select();
    } finally {
      S.busy = false;
      $("login-submit").disabled = false;
    }
  }

  async function afterLogin() {
    startLive();
    await loadWindows();
    // One person, one window: if this clerk already holds a window, go back to it.
    var mine = S.windows.filter(function (w) { return w.state !== "closed" && w.clerk_id === S.user.id; })[0];
    if (mine) {
      await enterWindow(mine.number);
    } else {
      showScreen("picker");
      focusPicker();
    }
  }

  async function logout() {
    if (S.busy) return;
    if (S.screen === "work" && S.view && S.view.state !== "closed") {
      // leaving the window open under an absent clerk would hide it from the supervisor: sign out first
      if (!(await act("signout"))) return;
    }
    S.busy = true;
    try { await api("POST", "/auth/logout"); } catch (err) { if (err.status !== 401) showError(err); }
    finally { S.busy = false; }
    dropSession();
    showScreen("login");
    notice(t("n.logged_out"));
  }

  // ----- hall data ------------------------------------------------------------------------------
  async function loadHall() {
    try {
      var halls = await api("GET", "/halls");
      var hall = halls.filter(function (h) { return h.code === HALL; })[0];
      if (hall && typeof hall.recall_limit === "number") S.recallLimit = hall.recall_limit;
      await loadServices();
      renderAll();
    } catch (err) { fail(err); }
  }

  async function loadServices() {
    var services = await api("GET", "/halls/" + encodeURIComponent(HALL) + "/services");
    S.serviceList = services;
    S.services = {};
    services.forEach(function (s) { S.services[s.code] = s; });
  }

  // ----- window picker -----------------------------------------------------------------------------
  async function loadWindows() {
    S.windows = await api("GET", "/halls/" + encodeURIComponent(HALL) + "/windows");
    renderPicker();
  }

  function windowAvailability(w) {
    if (w.state !== "closed" && w.clerk_id === S.user.id) return "mine";
    if (w.state !== "closed") return "taken";
    if (S.user.windows && S.user.windows.indexOf(w.number) < 0) return "not_allowed";
    return "free";
  }

  function renderPicker() {
    var list = $("window-list");
    if (!S.user) return;
    var focused = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.window : null;
    list.textContent = "";
    S.windows.forEach(function (w) {
      var avail = windowAvailability(w);
      var b = el("button", "window-choice " + avail);
      b.type = "button";
      b.dataset.window = w.number;
      b.dataset.avail = avail;
      b.setAttribute("role", "option");
      b.disabled = avail === "taken" || avail === "not_allowed";
      b.appendChild(el("span", "wc-number", String(w.number)));
      b.appendChild(el("span", "wc-state", t(avail === "mine" ? "picker.mine" : "picker." + avail)));
      b.appendChild(el("span", "wc-services", w.services.length ? serviceName(w.services[0]) : ""));
      b.appendChild(el("span", "wc-count", t("picker.counts", {s: w.services.length, w: w.waiting_total})));
      b.addEventListener("click", function () { pickWindow(w.number); });
      list.appendChild(b);
    });
    if (focused) {
      var again = list.querySelector('[data-window="' + focused + '"]');
      if (again && !again.disabled) again.focus();
    }
  }

  function focusPicker() {
    var first = $("window-list").querySelector(".window-choice.mine, .window-choice.free");
    if (first) first.focus();
  }

  var pickerTyped = "", pickerTypedAt = 0;
  function onPickerKey(e) {
    if (e.ctrlKey || e.altKey || e.metaKey) return;
    var buttons = Array.prototype.slice.call($("window-list").querySelectorAll(".window-choice:not([disabled])"));
    if (!buttons.length) return;
    var i = buttons.indexOf(document.activeElement);
    var forward = document.documentElement.dir === "rtl" ? "ArrowLeft" : "ArrowRight";
    var back = document.documentElement.dir === "rtl" ? "ArrowRight" : "ArrowLeft";
    if (e.key === "ArrowDown" || e.key === forward) {
      buttons[(i + 1) % buttons.length].focus(); e.preventDefault();
    } else if (e.key === "ArrowUp" || e.key === back) {
      buttons[(i - 1 + buttons.length) % buttons.length].focus(); e.preventDefault();
    } else {
      var digit = /^Digit(\d)$|^Numpad(\d)$/.exec(e.code);
      if (digit) {
        // digits typed in quick succession make one number: "1", "2" -> window 12 in a big hall
        var t0 = Date.now();
        pickerTyped = (t0 - pickerTypedAt < 1000 ? pickerTyped : "") + (digit[1] || digit[2]);
        pickerTypedAt = t0;
        var target = $("window-list").querySelector('[data-window="' + Number(pickerTyped) + '"]')
          || $("window-list").querySelector('[data-window="' + (digit[1] || digit[2]) + '"]');
        if (target && !target.disabled) { target.focus(); e.preventDefault(); }
      }
    }
  }

  async function pickWindow(number) {
    if (S.busy) return;
    var w = S.windows.filter(function (x) { return x.number === number; })[0];
    S.busy = true;
    try {
      if (!(w && windowAvailability(w) === "mine")) {
        await api("POST", "/halls/" + encodeURIComponent(HALL) + "/windows/" + number + "/sign-in");
      }
      hideError();
      S.busy = false;
      await enterWindow(number);
      notice(t("n.signed_in", {w: number}));
    } catch (err) {
      fail(err);
      loadWindows().catch(function () {});
    } finally {
      S.busy = false;
    }
  }

  async function enterWindow(number) {
    S.window = number;
    S.view = null;
    await refreshWindow();
    showScreen("work");
    $("screen-work").focus();
  }

  // ----- the work screen ------------------------------------------------------------------------------
  async function refreshWindow() {
    if (!S.window || !S.token) return;
    var gen = ++S.gen;
    var view;
    try {
      view = await api("GET", winPath());
    } catch (err) {
      fail(err);
      return;
    }
    if (gen < S.applied) return;
    S.applied = gen;
    var wasMine = S.view && S.view.state !== "closed";
    S.view = view;
    if (S.screen === "work" && (view.state === "closed" || view.clerk_id !== S.user.id)) {
      // a supervisor closed the window, or this clerk signed out elsewhere
      var n = S.window;
      S.window = null; S.view = null; resetFilePanel();
      if (wasMine) notice(t("n.lost_window", {w: n}));
      await loadWindows().catch(fail);
      showScreen("picker");
      focusPicker();
      return;
    }
    renderWork();
  }

  function scheduleRefresh() {
    if (S.screen !== "work" && S.screen !== "picker") return;
    clearTimeout(S.refreshTimer);
    S.refreshTimer = setTimeout(function () {
      if (S.screen === "work") refreshWindow();
      else if (S.screen === "picker") loadWindows().catch(fail);
    }, REFRESH_DEBOUNCE_MS);
  }

  var ACTIONS = {
    next: {code: "KeyN", ok: function (v, c) { return v.state === "open" && (!c || c.status === "serving"); }},
    recall: {code: "KeyR", ok: function (v, c) { return !!c && c.status === "called"; }},
    start: {code: "KeyS", ok: function (v, c) { return !!c && c.status === "called"; }},
    complete: {code: "KeyC", ok: function (v, c) { return !!c; }},
    noshow: {code: "KeyX", ok: function (v, c) { return !!c && c.status === "called"; }},
    transfer: {code: "KeyT", ok: function (v, c) { return !!c; }},
    park: {code: "KeyP", ok: function (v, c) { return !!c; }},
    call: {code: "KeyF", ok: function (v, c) { return v.state === "open" && !c; }},
    pause: {code: "KeyB", ok: function (v) { return v.state === "open" || v.state === "paused"; }},
    signout: {code: "KeyL", ok: function (v, c) { return !c; }},
    file: {code: "KeyO", ok: function (v, c) { return !!panelMode(c); }},
  };
  var BY_CODE = {};
  Object.keys(ACTIONS).forEach(function (k) { BY_CODE[ACTIONS[k].code] = k; });

  function renderWork() {
    var v = S.view;
    if (!v) return;
    var c = v.current;
    $("who-window-number").textContent = String(v.number);
    $("window-state").dataset.state = v.state;
    $("window-state").textContent = t("state." + v.state);
    $("who-name").textContent = S.user ? (S.user.full_name || S.user.username || "") : "";
    $("paused-banner").hidden = v.state !== "paused";
    document.body.dataset.windowState = v.state;

    var cur = $("current");
    cur.dataset.status = c ? c.status : "none";
    cur.dataset.number = c ? c.number : "";
    $("current-empty").hidden = !!c;
    $("current-empty").textContent = t(v.state === "paused" ? "work.empty_paused" : "work.empty");
    $("current-body").hidden = !c;
    if (c) {
      $("current-number").textContent = c.number;
      $("current-status").textContent = t("status." + c.status);
      $("current-status").dataset.status = c.status;
      var pr = $("current-priority");
      pr.hidden = !c.priority;
      pr.textContent = c.priority ? priorityLabel(c.priority) : "";
      $("current-service").textContent = serviceName(c.service);
      $("current-issued").textContent = fmtTime(c.issued_at);
      $("current-waited").textContent = fmtDuration(c.wait_seconds);
      $("current-timer-label").textContent = t(c.status === "serving" ? "cur.serving" : "cur.since_call");
      $("current-timer").dataset.since = c.status === "serving" ? (c.started_at || "") : (c.called_at || "");
      var limit = S.recallLimit;
      $("current-recalls").textContent = c.recall_count + (limit !== null ? " / " + limit : "");
      $("recall-warning").hidden = !(c.status === "called" && limit !== null && c.recall_count >= limit);
      $("current-file").hidden = !c.request_file;
      $("current-file-number").textContent = c.request_file || "";
    }
    if (noshowArm.id !== null && (!c || c.id !== noshowArm.id)) disarmNoshow();
    var rc = $("recall-count");
    rc.textContent = c && S.recallLimit !== null ? "(" + c.recall_count + "/" + S.recallLimit + ")" : "";
    var atLimit = c && S.recallLimit !== null && c.recall_count >= S.recallLimit;
    document.querySelector('[data-action="recall"]').classList.toggle("danger", !!atLimit);

    $("pause-label").textContent = t(v.state === "paused" ? "act.resume" : "act.pause");
    document.querySelectorAll("#actions [data-action]").forEach(function (b) {
      var a = ACTIONS[b.dataset.action];
      b.disabled = !a.ok(v, c);
      b.setAttribute("aria-keyshortcuts", a.code.slice(3));
    });

    renderWaiting(v);
    renderParked(v);
    renderFilePanel();
    tick();
  }

  function ticketRow(ticket, rank) {
    var li = el("li", "ticket-row");
    li.dataset.number = ticket.number;
    if (rank) li.appendChild(el("span", "tr-rank", String(rank)));
    var num = el("span", "tr-number", ticket.number);
    num.dir = "ltr";
    li.appendChild(num);
    var svc = el("span", "tr-service", serviceName(ticket.service));
    li.appendChild(svc);
    if (ticket.priority) li.appendChild(el("span", "priority-badge small", priorityLabel(ticket.priority)));
    if (ticket.target_window) li.appendChild(el("span", "tag", t("list.to_here")));
    var wait = el("span", "tr-wait");
    wait.dir = "ltr";
    wait.dataset.since = ticket.queued_at;
    li.appendChild(wait);
    return li;
  }

  function renderWaiting(v) {
    var list = $("waiting-list");
    list.textContent = "";
    v.waiting.forEach(function (tk, i) {
      var li = ticketRow(tk, i + 1);
      li.title = t("act.call");
      li.addEventListener("click", function () { openCall(tk.number); });
      list.appendChild(li);
    });
    var more = v.waiting_total - v.waiting.length;
    $("waiting-total").textContent = "(" + v.waiting_total + ")";
    if (more > 0) list.appendChild(el("li", "ticket-more", "+" + more + " " + t("list.more")));
    $("waiting-empty").hidden = v.waiting_total > 0;
  }

  function renderParked(v) {
    var list = $("parked-list");
    list.textContent = "";
    v.parked.forEach(function (tk) {
      var li = ticketRow(tk, 0);
      var b = el("button", "small-btn", t("list.resume"));
      b.type = "button";
      b.dataset.resume = tk.number;
      b.disabled = v.state !== "open" || !!v.current;
      b.addEventListener("click", function () { callSpecific(tk.number, null); });
      li.appendChild(b);
      list.appendChild(li);
    });
    $("parked-total").textContent = v.parked.length ? "(" + v.parked.length + ")" : "";
    $("parked-empty").hidden = v.parked.length > 0;
  }

  // Live timers: every second, without refetching.
  function tick() {
    var clock = $("hall-clock");
    var locale = S.lang === "ar" ? "ar-EG-u-nu-latn" : "en-GB";
    clock.textContent = new Intl.DateTimeFormat(locale, {timeZone: TZ, hour: "2-digit", minute: "2-digit",
                                                        hour12: false}).format(new Date(now()));
    if (S.screen !== "work") return;
    document.querySelectorAll("#screen-work [data-since]").forEach(function (node) {
      node.textContent = node.dataset.since ? fmtDuration(since(node.dataset.since)) : "—";
    });
  }

  // ----- actions --------------------------------------------------------------------------------------
  // Runs one window action; returns true when the server accepted it.
  async function act(name, data) {
    if (S.busy || !S.window) return false;
    var c = S.view && S.view.current;
    var number = c ? c.number : "";
    var paths = {next: "/call-next", recall: "/recall", start: "/start", complete: "/complete", noshow: "/no-show",
                 transfer: "/transfer", park: "/park", signout: "/sign-out",
                 pause: S.view && S.view.state === "paused" ? "/resume" : "/pause"};
    var pausing = paths.pause === "/pause";
    S.busy = true;
    document.body.classList.add("busy");
    try {
      var res = await api("POST", winPath(paths[name]), data);
      hideError();
      if (name === "next") notice(res ? t("n.called", {n: res.number}) : t("n.nothing"));
      else if (name === "recall") notice(res.status === "no_show" ? t("n.recall_noshow", {n: number}) : t("n.recalled", {n: number}));
      else if (name === "start") notice(t("n.started", {n: number}));
      else if (name === "complete") notice(t("n.completed", {n: number, o: t("out." + data.outcome)}));
      else if (name === "noshow") notice(t("n.noshow", {n: number}));
      else if (name === "park") notice(t("n.parked", {n: number}));
      else if (name === "transfer") {
        notice(data.service ? t("n.transferred_service", {n: number, s: serviceName(data.service)})
                            : t("n.transferred_window", {n: number, w: data.window}));
      } else if (name === "pause") notice(t(pausing ? "n.paused" : "n.resumed"));
      if (name === "signout") {
        var w = S.window;
        S.window = null; S.view = null; resetFilePanel();
        notice(t("n.signed_out", {w: w}));
        S.busy = false;
        await loadWindows().catch(fail);
        showScreen("picker");
        focusPicker();
        return true;
      }
      S.busy = false;
      await refreshWindow();
      return true;
    } catch (err) {
      fail(err);
      S.busy = false;
      refreshWindow();
      return false;
    } finally {
      S.busy = false;
      document.body.classList.remove("busy");
      runPending();
    }
  }

  function runPending() {
    var name = S.pending;
    S.pending = null;
    if (name && S.screen === "work" && !openDialog()) setTimeout(function () { trigger(name); }, 0);
  }

  async function callSpecific(ref, reason) {
    if (S.busy || !S.window) return {ok: false};
    S.busy = true;
    try {
      var body = {ticket: ref};
      if (reason) body.reason = reason;
      var res = await api("POST", winPath("/call"), body);
      hideError();
      notice(t("n.called", {n: res.number}));
      S.busy = false;
      await refreshWindow();
      return {ok: true};
    } catch (err) {
      if (err.status === 401) fail(err);
      return {ok: false, err: err};
    } finally {
      S.busy = false;
      runPending();
    }
  }

  // A fast typist presses S then C before the server has answered S: keep the last key pressed
  // meanwhile and run it once the screen is fresh, if it is still allowed then.
  // X (no-show) before the recall limit is reached needs a second press within NOSHOW_CONFIRM_MS:
  // one stray key must not send away a citizen who was called once and is walking up. At the limit
  // the citizen has had every recall: one press does it.
  var NOSHOW_CONFIRM_MS = 4000;
  var noshowArm = {id: null, timer: null};
  function noshowNeedsConfirm(c) {
    return !(S.recallLimit !== null && c.recall_count >= S.recallLimit);
  }
  function disarmNoshow() {
    clearTimeout(noshowArm.timer);
    noshowArm.id = null;
    var b = document.querySelector('#actions [data-action="noshow"]');
    if (b) {
      b.classList.remove("armed");
      b.querySelector("[data-i18n]").textContent = t("act.noshow");
    }
  }
  function armNoshow(c) {
    disarmNoshow();
    noshowArm.id = c.id;
    noshowArm.timer = setTimeout(disarmNoshow, NOSHOW_CONFIRM_MS);
    var b = document.querySelector('#actions [data-action="noshow"]');
    b.classList.add("armed");
    b.querySelector("[data-i18n]").textContent = t("act.noshow_confirm");
    notice(t("n.noshow_confirm", {r: c.recall_count + (S.recallLimit !== null ? " / " + S.recallLimit : ""),
                                  s: NOSHOW_CONFIRM_MS / 1000}));
  }

  function trigger(name) {
    var v = S.view;
    if (S.busy) { S.pending = name; return; }
    if (!v) return;
    var a = ACTIONS[name];
    if (!a.ok(v, v.current)) { notice(t("n.unavailable")); return; }
    if (name === "noshow") {
      var armed = noshowArm.id === v.current.id;
      if (!armed && noshowNeedsConfirm(v.current)) { armNoshow(v.current); return; }
      disarmNoshow();
      return act(name);
    }
    if (noshowArm.id !== null) disarmNoshow();   // any other action cancels a half-given no-show
    if (name === "complete") return openComplete();
    if (name === "transfer") return openTransfer();
    if (name === "call") return openCall("");
    if (name === "file") return focusFilePanel();
    act(name);
  }

  // ----- dialogs --------------------------------------------------------------------------------------
  function openDialog() { return document.querySelector("dialog[open]"); }
  function dialogError(dlg, text) { dlg.querySelector(".form-error").textContent = text || ""; }
  function showDialog(dlg) {
    dialogError(dlg, "");
    var c = S.view && S.view.current;
    var num = dlg.querySelector(".dlg-number");
    if (num) num.textContent = c ? c.number : "";
    dlg.showModal();
  }
  // Closing returns focus to the work screen so the shortcuts work at once.
  function closeDialog(dlg) {
    if (dlg.open) dlg.close();
    if (S.screen === "work") $("screen-work").focus();
  }

  // complete: 1-5 pick and confirm at once; arrows move, Enter confirms
  var outcomeIndex = 0;
  function openComplete() {
    var dlg = $("dlg-complete"), list = $("outcome-list");
    outcomeIndex = 0;
    list.textContent = "";
    OUTCOMES.forEach(function (o, i) {
      var li = el("li", "choice");
      li.id = "outcome-" + o;
      li.dataset.outcome = o;
      li.setAttribute("role", "option");
      li.appendChild(el("kbd", null, String(i + 1)));
      li.appendChild(el("span", null, t("out." + o)));
      li.addEventListener("click", function () { outcomeIndex = i; submitComplete(); });
      list.appendChild(li);
    });
    markOutcome();
    showDialog(dlg);
    list.focus();
  }
  function markOutcome() {
    var items = $("outcome-list").children;
    for (var i = 0; i < items.length; i++) items[i].setAttribute("aria-selected", i === outcomeIndex ? "true" : "false");
    $("outcome-list").setAttribute("aria-activedescendant", "outcome-" + OUTCOMES[outcomeIndex]);
  }
  async function submitComplete() {
    var dlg = $("dlg-complete");
    if (S.busy) return;
    var ok = await act("complete", {outcome: OUTCOMES[outcomeIndex]});
    if (ok) closeDialog(dlg);
    else dialogError(dlg, $("banner-text").textContent);
  }
  function onCompleteKey(e) {
    var digit = /^(?:Digit|Numpad)([1-5])$/.exec(e.code) || /^([1-5١-٥])$/.exec(e.key);
    if (digit) {
      var d = digit[1];
      outcomeIndex = ("١٢٣٤٥".indexOf(d) >= 0 ? "١٢٣٤٥".indexOf(d) + 1 : +d) - 1;
      markOutcome();
      e.preventDefault();
      submitComplete();
    } else if (e.key === "ArrowDown") {
      outcomeIndex = (outcomeIndex + 1) % OUTCOMES.length; markOutcome(); e.preventDefault();
    } else if (e.key === "ArrowUp") {
      outcomeIndex = (outcomeIndex - 1 + OUTCOMES.length) % OUTCOMES.length; markOutcome(); e.preventDefault();
    } else if (e.key === "Enter" && e.target === $("outcome-list")) {
      e.preventDefault(); submitComplete();
    }
  }

  // transfer: type-ahead over the catalog, or a window number
  var matches = [], matchIndex = -1;
  function openTransfer() {
    $("transfer-service").value = "";
    $("transfer-window").value = "";
    filterServices();
    showDialog($("dlg-transfer"));
    $("transfer-service").focus();
    // fresh waiting counts for the list, without holding the clerk up
    loadServices().then(function () { if ($("dlg-transfer").open) { var i = matchIndex; filterServices(); if (i >= 0 && i < matches.length) { matchIndex = i; renderMatches(); } } });
  }
  function filterServices() {
    var q = fold($("transfer-service").value).trim();
    var words = q ? q.split(/\s+/) : [];
    var cur = S.view && S.view.current;
    matches = S.serviceList.filter(function (s) {
      if (cur && s.code === cur.service) return false;  // "transfer" to where it already is does nothing
      var hay = fold([s.name.ar, s.name.en, s.code, s.prefix].join(" "));
      return words.every(function (w) { return hay.indexOf(w) >= 0; });
    });
    matchIndex = words.length && matches.length ? 0 : -1;
    renderMatches();
  }
  function renderMatches() {
    var list = $("service-list");
    list.textContent = "";
    matches.forEach(function (s, i) {
      var li = el("li", "choice");
      li.id = "svc-" + s.code;
      li.dataset.service = s.code;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", i === matchIndex ? "true" : "false");
      li.appendChild(el("span", "svc-prefix", s.prefix));
      li.appendChild(el("span", "svc-name", s.name[S.lang]));
      var other = li.appendChild(el("span", "svc-other", s.name[S.lang === "ar" ? "en" : "ar"]));
      other.lang = S.lang === "ar" ? "en" : "ar";   // the other language's name, to search by either
      if (s.waiting) li.appendChild(el("span", "svc-waiting", t("dlg.waiting", {n: s.waiting})));
      li.addEventListener("mousedown", function (e) { e.preventDefault(); matchIndex = i; submitTransfer(); });
      list.appendChild(li);
    });
    if (!matches.length) list.appendChild(el("li", "choice-empty", t("dlg.no_match")));
    var input = $("transfer-service");
    if (matchIndex >= 0) {
      input.setAttribute("aria-activedescendant", "svc-" + matches[matchIndex].code);
      var sel = list.children[matchIndex];
      if (sel && sel.scrollIntoView) sel.scrollIntoView({block: "nearest"});
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }
  function onTransferKey(e) {
    if (e.target.id === "transfer-service" && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
      if (!matches.length) return;
      var step = e.key === "ArrowDown" ? 1 : -1;
      matchIndex = matchIndex < 0 ? (step > 0 ? 0 : matches.length - 1)
        : (matchIndex + step + matches.length) % matches.length;
      renderMatches();
      e.preventDefault();
    }
  }
  async function submitTransfer() {
    var dlg = $("dlg-transfer");
    if (S.busy) return;
    var winText = $("transfer-window").value.trim().replace(/[٠-٩]/g, function (d) { return "٠١٢٣٤٥٦٧٨٩".indexOf(d); });
    var data;
    if (winText) {
      if (!/^\d{1,3}$/.test(winText) || +winText < 1) { dialogError(dlg, t("v.window")); $("transfer-window").focus(); return; }
      data = {window: +winText};
    } else if (matchIndex >= 0 && matches[matchIndex]) {
      data = {service: matches[matchIndex].code};
    } else {
      dialogError(dlg, t("v.transfer"));
      return;
    }
    var ok = await act("transfer", data);
    if (ok) closeDialog(dlg);
    else dialogError(dlg, $("banner-text").textContent);
  }

  // call a specific ticket: number, and a reason unless it is parked at this window
  function parkedHere(ref) {
    return !!(S.view && S.view.parked.some(function (p) { return p.number === ref; }));
  }
  function openCall(prefill) {
    $("call-ticket").value = prefill || "";
    $("call-reason").value = "";
    showDialog($("dlg-call"));
    (prefill ? $("call-reason") : $("call-ticket")).focus();
  }
  async function submitCall(fromTicketField) {
    var dlg = $("dlg-call");
    if (S.busy) return;
    var ref = normalizeTicket($("call-ticket").value);
    if (!ref) { dialogError(dlg, t("v.ticket")); $("call-ticket").focus(); return; }
    $("call-ticket").value = ref;
    var reason = $("call-reason").value.trim();
    if (!reason && !parkedHere(ref)) {
      if (!fromTicketField) dialogError(dlg, t("v.reason"));
      $("call-reason").focus();
      return;
    }
    var res = await callSpecific(ref, reason || null);
    if (res.ok) { closeDialog(dlg); return; }
    dialogError(dlg, res.err.code === "not_found" ? t("err.no_such_ticket") : errorText(res.err));
    dlg.querySelector(".form-error").dataset.code = res.err.code || "";
    if (res.err.code === "reason_required") $("call-reason").focus();
  }

  // ----- request-file panel -------------------------------------------------------------------------
  // While a ticket is current: its linked file (GET /files/<n>), or for a new submission (a service
  // of kind "submit") the "open a file" form. The form keeps what was typed across the page's many
  // refetches: it is reset only when another ticket becomes current.
  var REVEAL_MS = 60000;  // a shown national ID masks itself again after a minute
  var F = {
    key: null,             // "<ticket id>:<file number>": what the panel shows now
    mode: null,            // null | "open" | "file"
    ticketId: null,
    formFor: null,         // the ticket id the form's checklist was built for
    file: null,            // the file as the API returned it (masked)
    fileError: null,
    revealed: null, revealedAt: null, revealTimer: null,
    departments: null,
    busy: false,
    version: 0,            // bumped by every load and write: a slower, older GET never repaints over a newer answer
  };

  // A file number inside Arabic text: without isolation the bidi rules show 2026-000001 as 000001-2026.
  function ltr(text) { return "\u2066" + text + "\u2069"; }
  // The server masks digits with a dot, which passes for the Eastern zero (٠): every masked
  // number on the page shows a star instead.
  var MASK = "*";
  function masked(text) { return String(text || "").replace(/[\u2022\u25CF\u00B7]/g, MASK); }
  function filesPath(suffix) { return "/halls/" + encodeURIComponent(HALL) + "/files" + (suffix || ""); }
  function westernDigits(text) {
    return String(text || "").replace(/[٠-٩]/g, function (d) { return "٠١٢٣٤٥٦٧٨٩".indexOf(d); })
      .replace(/[۰-۹]/g, function (d) { return "۰۱۲۳۴۵۶۷۸۹".indexOf(d); });
  }
  function panelMode(c) {
    if (!c) return null;
    if (c.request_file) return "file";
    var svc = S.services[c.service];
    return svc && svc.kind === "submit" ? "open" : null;
  }
  function fmtDate(isoDate) {
    if (!isoDate) return "—";
    var locale = S.lang === "ar" ? "ar-EG-u-nu-latn" : "en-GB";
    return new Intl.DateTimeFormat(locale, {timeZone: "UTC", day: "numeric", month: "long", year: "numeric"})
      .format(new Date(isoDate + "T00:00:00Z"));
  }
  function hallToday() {
    // en-CA formats as YYYY-MM-DD: the hall's calendar day, whatever this PC's time zone
    return new Intl.DateTimeFormat("en-CA", {timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit"})
      .format(new Date(now()));
  }
  function daysLate(isoDate) {
    return Math.round((Date.parse(hallToday() + "T00:00:00Z") - Date.parse(isoDate + "T00:00:00Z")) / 86400000);
  }
  // Arabic counts: 1 and 2 have their own words, 3-10 take a plural, 11 and up a singular
  function daysText(n) {
    if (S.lang === "en") return n + (n === 1 ? " day" : " days");
    if (n === 1) return "يومًا";
    if (n === 2) return "يومين";
    return n + (n <= 10 ? " أيام" : " يومًا");
  }
  function departmentName(code) {
    var d = (F.departments || []).filter(function (x) { return x.code === code; })[0];
    return d ? d.name[S.lang] || d.name.ar : code;
  }
  async function loadDepartments() {
    if (F.departments) return;
    try {
      F.departments = await api("GET", "/halls/" + encodeURIComponent(HALL) + "/departments");
      paintFile();
    } catch (err) { if (err.status === 401) fail(err); }
  }

  function renderFilePanel() {
    var c = S.view && S.view.current;
    var mode = panelMode(c);
    var key = mode ? c.id + ":" + (c.request_file || "") : null;
    if (key !== F.key) {
      var sameTicket = c && F.ticketId === c.id;
      var created = F.file && c && F.file.number === c.request_file ? F.file : null;
      F.key = key;
      F.ticketId = c ? c.id : null;
      F.file = created;
      F.fileError = null;
      hideRevealed();
      if (!sameTicket) F.formFor = null;
      if (mode === "file" && !created) loadFile(c.request_file);
      if (mode) loadDepartments();
    }
    F.mode = mode;
    var panel = $("file-panel");
    panel.hidden = !mode;
    panel.dataset.mode = mode || "";
    document.body.dataset.filePanel = mode || "";
    if (!mode) {
      if (panel.contains(document.activeElement)) $("screen-work").focus();
      return;
    }
    $("fp-title-text").textContent = t(mode === "open" ? "fp.title_open" : "fp.title");
    $("fp-keys").textContent = t(mode === "open" ? "fp.keys_open" : "fp.keys_file");
    $("fp-open").hidden = mode !== "open";
    $("fp-file").hidden = mode !== "file";
    if (mode === "open") {
      $("fp-number").textContent = "";
      $("fp-status").textContent = "";
      $("fp-status").dataset.status = "";
      $("fp-late").hidden = true;
      if (F.formFor !== c.id && S.services[c.service]) resetOpenForm(c);
      else relabelDocs($("fp-open-docs"), S.services[c.service].documents);
    } else {
      $("fp-number").textContent = c.request_file;
      paintFile();
    }
  }

  // ----- "open a file" ----------------------------------------------------------------------------
  function docItem(listId, i, text, checked, locked) {
    var li = el("li", "doc-item" + (locked ? " received" : ""));
    var label = el("label");
    var box = document.createElement("input");
    box.type = "checkbox";
    box.value = String(i);
    box.id = listId + "-" + i;
    box.checked = !!checked;
    box.disabled = !!locked;
    label.appendChild(box);
    label.appendChild(el("span", "doc-n", String(i + 1)));
    label.appendChild(el("span", "doc-text", text));
    li.appendChild(label);
    return li;
  }
  function relabelDocs(list, docs) {
    if (!docs) return;
    list.querySelectorAll(".doc-text").forEach(function (node, i) {
      var d = docs.ar ? (S.lang === "en" ? docs.en[i] : docs.ar[i]) : (S.lang === "en" ? docs[i].en : docs[i].ar);
      if (d) node.textContent = d;
    });
  }
  function resetOpenForm(c) {
    F.formFor = c.id;
    $("fp-name").value = "";
    $("fp-nid").value = "";
    $("fp-mobile").value = "";
    $("fp-open-error").textContent = "";
    var docs = S.services[c.service].documents;
    var list = $("fp-open-docs");
    list.textContent = "";
    var texts = S.lang === "en" ? docs.en : docs.ar;
    texts.forEach(function (text, i) { list.appendChild(docItem("fp-open-doc", i, text, false, false)); });
  }
  function checkedIndexes(list) {
    return Array.prototype.slice.call(list.querySelectorAll("input[type=checkbox]:checked:not(:disabled)"))
      .map(function (b) { return +b.value; });
  }
  function fieldFor(code) {
    if (/national_id/.test(code)) return $("fp-nid");
    if (code === "invalid_mobile") return $("fp-mobile");
    if (code === "invalid_name") return $("fp-name");
    return null;
  }
  async function submitOpen() {
    var c = S.view && S.view.current;
    var errBox = $("fp-open-error");
    if (F.busy || !c || F.mode !== "open") return;
    var name = $("fp-name").value.trim().replace(/\s+/g, " ");
    var nid = westernDigits($("fp-nid").value).replace(/[\s-]/g, "");
    var mobile = westernDigits($("fp-mobile").value).trim();
    if (name.length < 3) { errBox.textContent = t("fv.name"); $("fp-name").focus(); return; }
    if (!/^\d{14}$/.test(nid)) { errBox.textContent = t("fv.nid"); $("fp-nid").focus(); return; }
    $("fp-nid").value = nid;
    errBox.textContent = "";
    var body = {service: c.service, citizen_name: name, national_id: nid,
                documents_received: checkedIndexes($("fp-open-docs")), window: S.window};
    if (mobile) body.mobile = mobile;
    F.busy = true;
    $("fp-open-submit").disabled = true;
    try {
      var file = await api("POST", filesPath(), body);
      F.version++;
      F.file = file;
      F.formFor = null;
      notice(t("fn.opened", {f: ltr(file.number), n: ltr(c.number)}));
      hideError();
      // the server linked the ticket to its file (the phone hears it through ticket_status);
      // show it at once, then refetch the window for everything else
      var cur = S.view && S.view.current;
      if (cur && cur.id === c.id) { cur.request_file = file.number; renderWork(); }
      $("screen-work").focus();
      await refreshWindow();
    } catch (err) {
      if (err.status === 401) { fail(err); return; }
      errBox.textContent = errorText(err);
      errBox.dataset.code = err.code || "";
      var f = fieldFor(err.code);
      if (f) { f.focus(); f.select(); }
    } finally {
      F.busy = false;
      $("fp-open-submit").disabled = false;
    }
  }

  // ----- the linked file ----------------------------------------------------------------------------
  async function loadFile(number) {
    var key = F.key, version = ++F.version;
    try {
      var file = await api("GET", filesPath("/" + encodeURIComponent(number)));
      if (F.key !== key || F.version !== version) return;  // another ticket, or a newer answer, meanwhile
      F.file = file;
      F.fileError = null;
    } catch (err) {
      if (err.status === 401) { fail(err); return; }
      if (F.key !== key || F.version !== version) return;
      F.fileError = errorText(err);
    }
    paintFile();
  }

  function paintFile() {
    if (F.mode !== "file") return;
    var f = F.file;
    $("fp-loading").hidden = !!f;
    $("fp-loading").textContent = F.fileError || t("fp.loading");
    $("fp-body").hidden = !f;
    if (!f) return;
    $("fp-number").textContent = f.number;
    $("fp-status").textContent = t("fstatus." + f.status);
    $("fp-status").dataset.status = f.status;
    var late = $("fp-late");
    late.hidden = !f.late;
    late.textContent = f.late ? t("fp.late", {d: daysText(daysLate(f.due_date))}) : "";
    $("fp-service").textContent = f.service_name[S.lang] || f.service_name.ar;
    $("fp-due").textContent = fmtDate(f.due_date);
    $("fp-department").textContent = departmentName(f.department);
    $("fp-citizen").textContent = f.citizen_name;
    $("fp-nid-value").textContent = F.revealed || masked(f.national_id);
    $("fp-nid-value").classList.toggle("revealed", !!F.revealed);
    $("fp-reveal").textContent = t(F.revealed ? "fp.hide" : "fp.reveal");
    $("fp-reveal").setAttribute("aria-pressed", F.revealed ? "true" : "false");
    $("fp-reveal-note").textContent = F.revealed ? t("fp.revealed", {t: fmtTime(F.revealedAt)}) : t("fp.reveal_hint");
    $("fp-reveal-note").classList.toggle("recorded", !!F.revealed);
    $("fp-mobile-value").textContent = f.mobile ? masked(f.mobile) : "—";
    var reason = $("fp-reason");
    reason.hidden = !(f.reason && (f.status === "needs_documents" || f.status === "rejected"));
    reason.textContent = reason.hidden ? "" : t(f.status === "rejected" ? "fp.reason_rejected" : "fp.reason_needs", {r: f.reason});

    // keep ticks the clerk made but has not recorded yet, and the focus, across repaints
    var list = $("fp-file-docs");
    var open = ["received", "under_review", "needs_documents", "ready"].indexOf(f.status) >= 0;
    // nothing changed (a refresh after any change in the hall): the list is left as it is, so a
    // repaint never lands between a key's down and up on a checkbox (the tick would be lost)
    var sig = [f.number, S.lang, open].concat(f.documents.map(function (d) { return d.received ? 1 : 0; })).join("|");
    if (list.dataset.sig !== sig) {
      var pending = checkedIndexes(list);
      var sameFile = list.dataset.file === f.number;
      var focused = list.contains(document.activeElement) ? +document.activeElement.value : null;
      list.textContent = "";
      list.dataset.file = f.number;
      list.dataset.sig = sig;
      f.documents.forEach(function (d, i) {
        var ticked = d.received || (sameFile && pending.indexOf(i) >= 0);
        list.appendChild(docItem("fp-file-doc", i, S.lang === "en" ? d.en : d.ar, ticked, d.received || !open));
      });
      if (focused !== null && sameFile) {
        var again = list.querySelectorAll("input")[focused];
        if (again && !again.disabled) again.focus();
        else (list.querySelector("input:not(:disabled)") || $("fp-reveal")).focus();
      }
    }
    var got = f.documents.filter(function (d) { return d.received; }).length;
    $("fp-docs-count").textContent = "(" + got + "/" + f.documents.length + ")";
    $("fp-docs-submit").hidden = f.documents_complete || !open;
    $("fp-deliver").hidden = f.status !== "ready";
  }

  async function submitDocuments() {
    var f = F.file;
    if (F.busy || !f) return;
    var received = checkedIndexes($("fp-file-docs"));
    var errBox = $("fp-file-error");
    if (!received.length) { errBox.textContent = t("fv.no_docs"); return; }
    errBox.textContent = "";
    F.busy = true;
    try {
      var updated = await api("POST", filesPath("/" + encodeURIComponent(f.number) + "/documents"), {received: received});
      F.version++;
      F.file = updated;
      notice(t("fn.docs", {f: ltr(f.number)}));
      paintFile();
      $("screen-work").focus();
    } catch (err) {
      if (err.status === 401) { fail(err); return; }
      errBox.textContent = errorText(err);
      errBox.dataset.code = err.code || "";
    } finally { F.busy = false; }
  }

  async function deliverFile() {
    var f = F.file;
    if (F.busy || !f) return;
    F.busy = true;
    try {
      var delivered = await api("POST", filesPath("/" + encodeURIComponent(f.number) + "/status"), {status: "delivered"});
      F.version++;
      F.file = delivered;
      notice(t("fn.delivered", {f: ltr(f.number)}));
      paintFile();
      $("screen-work").focus();
    } catch (err) {
      if (err.status === 401) { fail(err); return; }
      $("fp-file-error").textContent = errorText(err);
    } finally { F.busy = false; }
  }

  // The full national ID only on an explicit request; the server records who asked.
  async function toggleReveal() {
    var f = F.file;
    if (F.busy || !f) return;
    if (F.revealed) { hideRevealed(); paintFile(); return; }
    F.busy = true;
    try {
      var full = await api("GET", filesPath("/" + encodeURIComponent(f.number)) + "?reveal=national_id");
      if (!F.file || F.file.number !== full.number) return;
      F.revealed = full.national_id;
      F.revealedAt = new Date(now()).toISOString();
      clearTimeout(F.revealTimer);
      F.revealTimer = setTimeout(function () { hideRevealed(); paintFile(); }, REVEAL_MS);
      paintFile();
    } catch (err) {
      if (err.status === 401) { fail(err); return; }
      $("fp-file-error").textContent = errorText(err);
    } finally { F.busy = false; }
  }
  function resetFilePanel() {
    hideRevealed();
    F.key = null; F.mode = null; F.ticketId = null; F.formFor = null; F.file = null; F.fileError = null;
    ["fp-name", "fp-nid", "fp-mobile"].forEach(function (id) { $(id).value = ""; });
    $("fp-nid-value").textContent = "";
    $("fp-citizen").textContent = "";
    $("file-panel").hidden = true;
  }
  function hideRevealed() {
    clearTimeout(F.revealTimer);
    F.revealed = null;
    F.revealedAt = null;
  }

  // O: into the panel, at the first thing that still needs the clerk
  function focusFilePanel() {
    var panel = $("file-panel");
    if (panel.hidden) { notice(t("n.unavailable")); return; }
    var target;
    if (F.mode === "open") {
      target = ["fp-name", "fp-nid"].map($).filter(function (i) { return !i.value.trim(); })[0] || $("fp-name");
    } else if (F.file) {
      // a ready file is handed over; otherwise the first document still missing
      target = F.file.status === "ready" ? $("fp-deliver")
        : $("fp-file-docs").querySelector("input:not(:disabled)") || $("fp-reveal");
      if (!F.revealed && !F.busy) loadFile(F.file.number);  // fresh status from the back office
    }
    (target || panel).focus();
    if (panel.scrollIntoView) panel.scrollIntoView({block: "nearest"});
  }

  function onPanelKey(e) {
    if (e.key === "Escape") {
      e.preventDefault();
      $("screen-work").focus();
    } else if (e.key === "Enter" && e.target.type === "checkbox") {
      // Space ticks, Enter submits the form the box belongs to (browsers do not do it for boxes)
      e.preventDefault();
      if (e.target.closest("#fp-open")) submitOpen(); else submitDocuments();
    }
  }

  // ----- keyboard ---------------------------------------------------------------------------------------
  // A field of a dialog that has just closed is not typing: Escape closes the dialog at once, but focus
  // leaves it only at the close event (a task of its own), and a shortcut pressed meanwhile was lost.
  function inClosedDialog(target) {
    var dlg = target.closest ? target.closest("dialog") : null;
    return !!dlg && !dlg.open;
  }
  function isTyping(target) {
    if (!target || !target.tagName || inClosedDialog(target)) return false;
    var tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }

  // Shortcuts use the physical key (e.code): they work with the Arabic keyboard layout too.
  function onKey(e) {
    if (e.defaultPrevented || e.ctrlKey || e.altKey || e.metaKey) return;
    if (openDialog()) return;
    if (e.key === "Escape" && !$("banner").hidden) { hideError(); return; }
    if (e.target && e.target.tagName && inClosedDialog(e.target) && S.screen === "work") $("screen-work").focus();
    if (isTyping(e.target)) return;
    if (S.screen === "picker") { onPickerKey(e); return; }
    if (S.screen !== "work" || e.repeat) return;
    var name = BY_CODE[e.code];
    if (!name) return;
    e.preventDefault();
    trigger(name);
  }

  // ----- live --------------------------------------------------------------------------------------------
  function startLive() {
    if (S.live || typeof window.HallLive !== "function" || typeof window.io !== "function") return;
    S.live = new window.HallLive({
      hall: HALL, role: "counter", auth: S.token,
      onSnapshot: function () { scheduleRefresh(); },
      onEvent: function (name) {
        if (name === "queue_changed" || name === "window_changed" || name === "ticket_called") scheduleRefresh();
      },
      onStatus: function (state, detail) {
        S.liveState = state;
        $("live").title = detail && detail.message ? detail.message : "";
        renderLive();
      },
    }).connect();
  }
  function stopLive() {
    if (S.live && S.live.socket) S.live.socket.disconnect();
    S.live = null;
    S.liveState = "offline";
    renderLive();
  }
  function renderLive() {
    var state = S.liveState === "online" || S.liveState === "error" ? S.liveState : "offline";
    $("live").dataset.state = state;
    $("live-text").textContent = t("live." + state);
  }

  // ----- start --------------------------------------------------------------------------------------------
  async function boot() {
    $("login-form").addEventListener("submit", onLogin);
    $("logout").addEventListener("click", logout);
    $("lang-toggle").addEventListener("click", function () {
      S.lang = S.lang === "ar" ? "en" : "ar";
      localStorage.setItem(KEY_LANG, S.lang);
      $("notice").classList.remove("shown");  // it was written in the other language
      applyLang();
    });
    $("banner-close").addEventListener("click", hideError);
    document.addEventListener("keydown", onKey);
    document.querySelectorAll("#actions [data-action]").forEach(function (b) {
      b.addEventListener("click", function () { trigger(b.dataset.action); });
    });
    $("dlg-complete").addEventListener("keydown", onCompleteKey);
    $("complete-form").addEventListener("submit", function (e) { e.preventDefault(); });
    $("transfer-service").addEventListener("input", filterServices);
    $("dlg-transfer").addEventListener("keydown", onTransferKey);
    $("transfer-form").addEventListener("submit", function (e) { e.preventDefault(); submitTransfer(); });
    $("call-form").addEventListener("submit", function (e) {
      e.preventDefault();
      submitCall(document.activeElement === $("call-ticket"));
    });
    $("dlg-complete").querySelector("[data-confirm]").addEventListener("click", submitComplete);
    $("file-panel").addEventListener("keydown", onPanelKey);
    $("fp-open").addEventListener("submit", function (e) { e.preventDefault(); submitOpen(); });
    $("fp-docs-form").addEventListener("submit", function (e) { e.preventDefault(); submitDocuments(); });
    $("fp-reveal").addEventListener("click", toggleReveal);
    $("fp-deliver").addEventListener("click", deliverFile);
    document.querySelectorAll("dialog [data-cancel]").forEach(function (b) {
      b.addEventListener("click", function () { closeDialog(b.closest("dialog")); });
    });
    document.querySelectorAll("dialog").forEach(function (d) {
      d.addEventListener("close", function () { if (S.screen === "work") $("screen-work").focus(); });
    });
    setInterval(tick, 1000);
    setInterval(function () {
      // without the live stream, still catch up now and then
      if (S.liveState !== "online" && S.screen === "work") refreshWindow();
    }, OFFLINE_POLL_MS);

    applyLang();
    var hallLoaded = loadHall();
    S.token = sessionStorage.getItem(KEY_TOKEN);
    try { S.user = JSON.parse(sessionStorage.getItem(KEY_USER) || "null"); } catch (e) { S.user = null; }
    if (!S.token || !S.user) { dropSession(); showScreen("login"); return; }
    try {
      var me = await api("GET", "/me");
      if (me.user_id !== S.user.id) throw new ApiError(401, "unauthorized", "token of another user");
      await hallLoaded;
      await afterLogin();
    } catch (err) {
      dropSession();
      showScreen("login");
      if (err.status !== 401) showError(err);
    }
  }

  boot();
})();
