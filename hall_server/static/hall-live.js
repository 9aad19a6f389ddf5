// HallLive: one page's live connection to a hall (contract: DESIGN.md "Real time").
// join -> `snapshot` first; then events carrying the hall's `seq`. A gap in seq, or a reconnect,
// asks for a fresh snapshot, so a board left on for days never needs a manual refresh. A board (or
// opts.missedCalls) first fetches the calls it missed (GET /api/v1/halls/<hall>/calls?since_seq=N) and
// gets them as `ticket_called` events ({missed: true}) in seq order before the snapshot: with the
// message queue down, pushes from other processes never arrive, yet every call is still shown.
(function (global) {
  "use strict";
  var EVENTS = ["ticket_called", "ticket_issued", "queue_changed", "ticket_status", "window_changed",
                "board_message", "device_status", "print_ticket", "print_status"];

  function HallLive(opts) {
    this.opts = opts;               // {hall, role, auth?, token?, window?, device?, onSnapshot, onEvent, onStatus}
    this.seq = null;                // last seq applied; null until the first snapshot
    this.buffer = [];               // events that arrived before the snapshot
    this.socket = null;
    this.joins = 0;
    this.lastSeen = null;           // newest seq ever applied (kept across resyncs and reconnects)
    this.callIds = [];              // the latest calls handed on (ids): a call is never handed on twice
    this.missedCalls = opts.missedCalls !== undefined ? !!opts.missedCalls : opts.role === "board";
  }

  HallLive.prototype.connect = function () {
    var self = this;
    var s = global.io({transports: ["websocket", "polling"], reconnectionDelayMax: 5000});
    this.socket = s;
    s.on("connect", function () { self._status("online"); self.join(); });
    s.on("disconnect", function () { self.seq = null; self._status("offline"); });
    s.on("connect_error", function () { self._status("offline"); });
    s.on("snapshot", function (snap) { self._snapshot(snap); });
    EVENTS.forEach(function (name) {
      s.on(name, function (data) { self._event(name, data); });
    });
    return this;
  };

  HallLive.prototype.join = function () {
    var o = this.opts, self = this;
    this.seq = null;
    this.buffer = [];
    this.joins += 1;
    var msg = {hall: o.hall, role: o.role};
    if (o.auth) msg.auth = o.auth;
    if (o.token) msg.token = o.token;
    if (o.window) msg.window = o.window;
    if (o.device) msg.device = o.device;
    this.socket.emit("join", msg, function (ack) {
      if (!ack || !ack.ok) self._status("error", ack && ack.error);
    });
  };

  HallLive.prototype._snapshot = function (snap) {
    var self = this, since = this.lastSeen, joins = this.joins;
    if (!this.missedCalls || since === null || !(snap.seq > since) || !global.fetch) {
      this._apply(snap);
      return;
    }
    // events keep buffering (seq is null) while the missed calls load; a failed fetch still applies
    var url = "/api/v1/halls/" + encodeURIComponent(this.opts.hall) + "/calls?since_seq=" + since;
    global.fetch(url, {cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : {calls: []}; })
      .catch(function () { return {calls: []}; })
      .then(function (body) {
        if (joins !== self.joins) return;            // a newer join is on its way: it catches up itself
        var calls = (body && body.calls) || [];
        for (var i = 0; i < calls.length; i++) {
          var c = calls[i];
          if (typeof c.seq !== "number" || c.seq <= since || c.seq > snap.seq) continue;
          c.missed = true;
          self._hand("ticket_called", c);
        }
        self._apply(snap);
      });
  };

  HallLive.prototype._apply = function (snap) {
    this.seq = snap.seq;
    this.lastSeen = Math.max(this.lastSeen || 0, snap.seq);  // never back: a call fetched is not fetched again
    if (this.opts.onSnapshot) this.opts.onSnapshot(snap);
    var pending = this.buffer;
    this.buffer = [];
    for (var i = 0; i < pending.length; i++) {
      if (pending[i][1].seq > this.seq) this._event(pending[i][0], pending[i][1]);
    }
  };

  HallLive.prototype._event = function (name, data) {
    if (this.seq === null) { this.buffer.push([name, data]); return; }
    if (typeof data.seq === "number") {
      if (data.seq > this.seq + 1) { this.join(); return; }   // missed something: resync
      // the server read a newer seq than it pushed (another process, the message queue down): the
      // events up to it never came here, even if the number looks next
      if (data.resync && data.seq > this.seq) { this.join(); return; }
      if (data.seq < this.seq) return;                        // already in the snapshot
      this.seq = data.seq;
      this.lastSeen = Math.max(this.lastSeen || 0, data.seq);
    }
    this._hand(name, data);
  };

  // A call reaches the page once, however it came (live, fetched after a gap, or both in a race
  // between a resync and the message queue): its id is remembered for the latest 500 calls.
  HallLive.prototype._hand = function (name, data) {
    if (name === "ticket_called" && data.call_id !== undefined) {
      if (this.callIds.indexOf(data.call_id) >= 0) return;
      this.callIds.push(data.call_id);
      if (this.callIds.length > 500) this.callIds.shift();
    }
    if (this.opts.onEvent) this.opts.onEvent(name, data);
  };

  HallLive.prototype._status = function (state, detail) {
    if (this.opts.onStatus) this.opts.onStatus(state, detail);
  };

  HallLive.prototype.emit = function (name, data, ack) { this.socket.emit(name, data, ack); };

  // Eastern Arabic digits for signs and cards: "A-023" -> "A-٠٢٣".
  HallLive.easternDigits = function (text) {
    return String(text).replace(/[0-9]/g, function (d) { return "٠١٢٣٤٥٦٧٨٩"[+d]; });
  };

  global.HallLive = HallLive;
})(window);
