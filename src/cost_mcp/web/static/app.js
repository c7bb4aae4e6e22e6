/* cost-mcp dashboard. Renders a Dashboard result (the same pydantic models the MCP tools return);
   computes no figure of its own: every amount shown is one the server sent. Sums below only size
   the bars of a chart. Runs as the web page (data from api/dashboard) or as an MCP App (data from
   the show_dashboard tool result the host passes in). No request ever leaves this server. */
"use strict";
(function () {
  var SVG = "http://www.w3.org/2000/svg";
  var mode = document.documentElement.getAttribute("data-mode") || "web";
  var REFRESH_MS = 60000;
  var state = { data: null, dim: "model", stack: "provider", host: null, renders: 0, generation: 0, query: "" };

  /* Money, rounded half-even on the exact decimal the server sent (as format_usd does). A JSON
     number's shortest form (String(x), as Python's repr writes it) is that decimal: the digits of
     the double itself (toFixed(9)) are off in the ninth place above $8M, and a half cent there
     read a cent apart from `cost-mcp report`. */
  function decimal(x) {
    var m = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(Math.abs(x)));
    var digits = m[1] + (m[2] || ""), point = m[1].length + Number(m[3] || 0);
    if (point <= 0) { digits = "0".repeat(1 - point) + digits; point = 1; }
    while (digits.length < point) digits += "0";
    return { int: digits.slice(0, point), frac: digits.slice(point) };
  }
  /* The digits of d rounded half-even to p places, the point left out. */
  function rounded(d, p) {
    var frac = d.frac + "0".repeat(p);
    var digits = (d.int + frac.slice(0, p)).split("").map(Number);
    // What is cut, trailing zeros dropped, against "5": "" and "4..." are under, "5" a tie, "5..1" over.
    var rest = d.frac.slice(p).replace(/0+$/, "");
    if (rest > "5" || (rest === "5" && digits[digits.length - 1] % 2 === 1)) {
      var k = digits.length - 1;
      while (k >= 0 && digits[k] === 9) { digits[k] = 0; k--; }
      if (k < 0) digits.unshift(1); else digits[k]++;
    }
    return digits.join("");
  }
  function usd(x, places) {
    if (x === null || x === undefined) return "unpriced";
    var p = places === undefined ? 2 : places;
    if (p === 2 && x !== 0 && Math.abs(x) < 0.01) p = 4;
    var d = decimal(x), all = rounded(d, p);
    // As format_usd: as many places as the first significant digit needs, never "$0.0000" for
    // money spent (amounts are whole nano-dollars, so nine places always reach it).
    while (x !== 0 && p < 9 && /^0*$/.test(all)) all = rounded(d, ++p);
    var ip = all.slice(0, all.length - p).replace(/^0+(?=\d)/, "") || "0";
    var fp = all.slice(all.length - p);
    var zero = /^0*$/.test(all);
    return (x < 0 && !zero ? "-" : "") + "$" + ip.replace(/\B(?=(\d{3})+(?!\d))/g, ",") + (p ? "." + fp : "");
  }
  function int(n) { return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"); }
  /* A moment in this browser's own timezone, named: beside "days in Etc/UTC", a bare
     "12/6/2026, 10:41 AM" (in Kiritimati) read as a time of the figures' zone. */
  function when(iso) {
    if (!iso) return "never";
    var d = new Date(iso);
    return isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { timeZoneName: "short" });
  }

  function h(tag, attrs) {
    var el = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "text") el.textContent = attrs[k];
      else if (attrs[k] !== null && attrs[k] !== undefined) el.setAttribute(k, attrs[k]);
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return el;
  }
  function s(tag, attrs) {
    var el = document.createElementNS(SVG, tag);
    for (var k in attrs || {}) el.setAttribute(k, attrs[k]);
    for (var i = 2; i < arguments.length; i++) if (arguments[i]) el.appendChild(arguments[i]);
    return el;
  }
  /* Drawn again (the minute's refresh, a choice), a section's "Numbers" toggle or table box focused
     before is focused again: it was removed with the rest, and the keyboard's place fell back to the
     top. A table scrolled sideways stays scrolled where it was (it went back to its first column). */
  function fill(id) {
    var el = document.getElementById(id), a = document.activeElement;
    var kind = a && a !== el && el.contains(a) && (a.tagName === "SUMMARY" ? "summary" : a.classList.contains("scroll") ? ".scroll" : null);
    var at = kind ? Array.prototype.indexOf.call(el.querySelectorAll(kind), a) : -1;
    var lefts = Array.prototype.map.call(el.querySelectorAll(".scroll"), function (box) { return box.scrollLeft; });
    while (el.firstChild) el.removeChild(el.firstChild);
    for (var i = 1; i < arguments.length; i++) if (arguments[i]) el.appendChild(arguments[i]);
    scrollable();
    Array.prototype.forEach.call(el.querySelectorAll(".scroll"), function (box, k) { if (lefts[k]) box.scrollLeft = lefts[k]; });
    var again = kind && el.querySelectorAll(kind)[at];
    if (again && (kind === "summary" || again.hasAttribute("tabindex"))) again.focus({ preventScroll: true });
    return el;
  }
  /* A table wider than the window scrolls in its own box (the page itself never scrolls sideways),
     and a keyboard reaches that box only if it takes the focus: at 320 px (or 400% zoom) the
     sources' "Last error" column could be seen only with a mouse or a finger. Focusable, and named
     by the table's caption, only while it does scroll: no idle stop on a wide screen. */
  function scrollable() {
    Array.prototype.forEach.call(document.querySelectorAll(".scroll"), function (box) {
      if (box.scrollWidth > box.clientWidth) {
        box.setAttribute("tabindex", "0"); box.setAttribute("role", "region");
        box.setAttribute("aria-label", box.querySelector("caption").textContent + " (scrolls sideways)");
      } else { box.removeAttribute("tabindex"); box.removeAttribute("role"); box.removeAttribute("aria-label"); }
    });
  }
  function table(caption, head, rows, numeric) {
    var t = h("table", {}, h("caption", { text: caption }));
    var tr = h("tr");
    head.forEach(function (c, i) { tr.appendChild(h("th", { scope: "col", class: numeric[i] ? "num" : null, text: c })); });
    t.appendChild(h("thead", {}, tr));
    var body = h("tbody");
    rows.forEach(function (r) {
      var row = h("tr");
      r.forEach(function (c, i) {
        var cell = h("td", { class: numeric[i] ? "num" : null });
        if (c instanceof Node) cell.appendChild(c); else cell.textContent = c;
        row.appendChild(cell);
      });
      body.appendChild(row);
    });
    // Headers over no cell at all read, to a screen reader, as a table that failed to load.
    if (!rows.length) body.appendChild(h("tr", {}, h("td", { colspan: String(head.length), class: "muted", text: "Nothing in this period." })));
    t.appendChild(body);
    return h("div", { class: "scroll" }, t);
  }
  /* Whether each chart's table of numbers is open: as the person left it, through every drawing
     (the minute's refresh closed the one they were reading, the chart's text alternative). */
  var opened = { daily: false, breakdown: true, hourly: false };
  /* ``what``: the chart the numbers are of, said to a screen reader only (the section shows it): a
     list of the page's controls read "Numbers (2 rows)", "Numbers (3 rows)", "Numbers (24 hours)". */
  function numbers(key, summary, what, tbl) {
    var d = h("details", opened[key] ? { open: "" } : {}, h("summary", {}, summary, h("span", { class: "sr-only", text: " of " + what })), tbl);
    d.addEventListener("toggle", function () { opened[key] = d.open; scrollable(); });
    return d;
  }
  function unpricedBadge(n) {
    return n ? h("span", { class: "badge unpriced", title: "calls with no known price: not in the amount", text: int(n) + " unpriced" }) : null;
  }
  function label(v, fallback) { return v === null || v === undefined || v === "" ? fallback : v; }
  /* A table row's cost, at least when what the answer lacks may be in it (row.complete false: a
     provider's bill missing, logs unread), as `cost-mcp report` marks its rows (money.bounded). */
  function rowCost(row) {
    var c = cost(row.cost_usd, row.unpriced_requests);
    return row.complete === false ? h("span", { class: "row-partial" }, "≥", c) : c;
  }
  function cost(x, unpriced) {
    // An amount made only of calls with no known price is unknown, never $0.
    // A null (every call unpriced) carries no amount at all: "null" or "0" would read as one.
    var span = h("span", { "data-usd": x === null ? null : String(x), text: !x && unpriced ? "unpriced" : usd(x) });
    if (!unpriced) return span;
    // Beside calls of no known price an amount is a lower bound: "$1.09 + 2 unpriced", as
    // money.format_cost writes "$1.09 + unpriced" (`cost-mcp report`, `budget status`). A row, a
    // gauge's spent alike: the rows read "$1.09 2 unpriced", an amount that looked whole.
    return h("span", {}, span, x ? " + " : " ", unpricedBadge(unpriced));
  }

  /* A total whose every call lacks a price is unknown, not $0.00 (as `cost-mcp report` writes it):
     a day of 500 calls to an unpriced model read "$0.00" in large type. ``rows``: the unpriced count. */
  function unpricedIn(rows) {
    return rows.reduce(function (n, row) { return n + row.unpriced_requests; }, 0);
  }
  /* A period as a reader names it, with its days: "last 7 days (2026-12-01 to 2026-12-07)" (which
     days a rolling period holds, today included or not, was said nowhere); dates from the address
     (?period=2026-11, ?start=&end=) by their days alone: the page read "Total custom: $33.02" and
     "Spent in custom" under a select saying "Chosen dates", and named no day of them anywhere. */
  function periodText(p) {
    var days = p.first_day === p.last_day ? p.first_day : p.first_day + " to " + p.last_day;
    return p.name === "custom" ? days : p.name.replace(/_/g, " ") + " (" + days + ")";
  }
  function totalText(x, unpriced) { return !x && unpriced ? "unpriced" : usd(x); }
  /* Beside a section's total of priced calls, the calls it leaves out, in words: "$10.00 + 1
     unpriced call not in the total", as the cards say it and `cost-mcp report` writes "$10.00 +
     unpriced". The daily, breakdown and hourly totals read "$10.00" alone, a quiet partial total.
     Nothing when the total itself reads "unpriced" (no call of it has a price: it says so). */
  function leftOut(id, x, unpriced) {
    if (!unpriced || !x) return null;
    return h("span", { id: id, class: "left-out" }, " + ", unpricedBadge(unpriced), " call" + (unpriced === 1 ? "" : "s") + " not in the total");
  }

  /* ---- totals ---- */
  /* What a partial answer lacks, from its first INCOMPLETE or PARTIAL warning ("INCOMPLETE: Claude
     Code logs are still being read"), "" for a complete one. */
  function partialOf(r) {
    if (!r || r.complete !== false) return "";
    var said = (r.warnings || []).filter(function (w) { return /^(INCOMPLETE|PARTIAL): /.test(w); })[0] || "";
    return said.split(/ \(|; /)[0] || "not everything is read yet";
  }
  /* A total of a part that lacks something (a provider's bill missing, logs unreadable: its
     complete false) or of a page whose logs are still being read, marked as the lower bound it is,
     as money.bounded marks the CLI's and the gauges mark theirs: "$0.45" read as the whole. */
  function bounded(text, r, d) { return partialOf(r) || (d && d.reading) ? "≥" + text : text; }
  /* A provider's bill counted on a day it may still grow (synced before the day was over plus its
     reporting lag), as the server words it: "billed $1.50" for today read as final as last week's,
     where `cost-mcp report` says "partial: openai: 2026-12-07 billed so far ...; may still grow". */
  var KEYS = { today: "today", week: "this_week", month: "this_month", period: "period" };
  function soFar(id, lines) {
    if (!lines || !lines.length) return null;
    return h("p", { id: id, class: "so-far" }, h("span", { class: "badge partial", text: "partial" }), " " + lines.join("; "));
  }
  function card(id, title, r, d) {
    var unpriced = r.rows.reduce(function (n, row) { return n + row.unpriced_requests; }, 0);
    var basis = Object.keys(r.by_basis).map(function (b) { return b + " " + totalText(r.by_basis[b], r.unpriced_by_basis[b] || 0); }).join(" · ");
    var errors = r.sources.filter(function (x) { return x.status === "error" || x.status === "stale"; });
    // A partial answer says so on its card, not only in the line at the top: with the logs still
    // being read (the dashboard's ``reading``: every card's figures; no source in error) a card
    // showed "$0.45" and nothing else.
    var partial = errors.length ? errors.map(function (x) { return x.source + " " + x.status; }).join(", ")
      : partialOf(r) || (d && d.reading ? partialOf(d) : "");
    var fresh = r.sources.map(function (x) { return x.source + " " + (x.last_success ? when(x.last_success) : "never"); }).join("; ");
    return h("article", { class: "card", id: "card-" + id, "aria-labelledby": "t-" + id },
      h("h3", { id: "t-" + id, text: title + " (" + r.period.first_day + (r.period.last_day !== r.period.first_day ? " to " + r.period.last_day : "") + ")" }),
      h("p", { class: "total", id: "total-" + id, "data-usd": String(r.total_usd), text: bounded(totalText(r.total_usd, unpriced), r, d) }),
      h("p", { class: "muted", text: basis || "nothing spent" }),
      unpriced ? h("p", {}, unpricedBadge(unpriced), " not in the total") : null,
      partial ? h("p", {}, h("span", { class: "badge partial", text: "partial" }), " " + partial) : null,
      soFar("so-far-" + id, d && d.partial_reports && d.partial_reports[KEYS[id]]),
      h("p", { class: "muted", text: "as of: " + (fresh || "no source yet") }));
  }

  /* ---- budgets and forecast ---- */
  var STATUS_TEXT = { ok: "on track", warning: "threshold passed", forecast_exceeded: "heading over", exceeded: "over budget" };
  var dayFormats = {};
  /* The local day holding the instant before period_end (exclusive) in the budget's timezone: its
     last day, "" when this browser cannot tell (an unknown zone), as the state carries no last day. */
  function lastDay(st) {
    try {
      var f = dayFormats[st.timezone] || (dayFormats[st.timezone] = new Intl.DateTimeFormat("en-US",
        { timeZone: st.timezone, year: "numeric", month: "2-digit", day: "2-digit" }));
      var part = {};
      f.formatToParts(new Date(Date.parse(st.period_end) - 1)).forEach(function (x) { part[x.type] = x.value; });
      return part.year + "-" + part.month + "-" + part.day;
    } catch (e) { return ""; }
  }
  /* Which days a budget counts: its own period in the configured timezone, whatever the page's
     period and timezone. With ?timezone=, "Today" above and a daily budget's day differ, so the
     gauge names its timezone then. */
  function budgetDays(st, pageZone) {
    var last = st.timezone ? lastDay(st) : "";
    var span = last === st.first_day ? st.first_day : last ? st.first_day + " to " + last : "from " + st.first_day;
    var zone = st.timezone && st.timezone !== pageZone
      ? " (days in " + st.timezone + ", the configured timezone; the figures above are in " + pageZone + ")" : "";
    return "counts " + span + zone;
  }
  /* ``left``: what is left as shown beside the limit and spent (the server's money.shown_left, as
     `cost-mcp budget status` shows it): the exact remainder rounded on its own read "$5.00 spent,
     $5.00 left" of $10.01, a cent short. ``n``: its place among the gauges, for the ids. */
  function gauge(st, pageZone, left, n) {
    // A provider's bill the budget counts is missing, or log files of its calls could not be opened
    // (complete false; lacking says which, a PARTIAL note more): every figure is then a bound, its
    // spent and projection too, as `cost-mcp budget status` marks its row (money.bounded); "$0.00
    // spent (0%), $100.00 left" read as nothing spent.
    var missing = st.complete === false, marked = missing ? "≥" : "";
    var why = (st.lacking && st.lacking.length ? st.lacking : ["a provider's bill the budget counts is missing"]).join("; ");
    var b = st.budget, limit = b.amount_usd, atLeast = st.unpriced_requests || missing ? "≥" : "";
    var projectedPct = limit ? (st.projected_usd / limit) * 100 : 0;
    var scale = Math.min(Math.max(110, st.percent * 1.05, projectedPct * 1.05), 300);
    var W = 400, x = function (pct) { return Math.max(0, Math.min(W, (pct / scale) * W)); };
    var svg = s("svg", { viewBox: "0 0 " + W + " 34", role: "img", preserveAspectRatio: "none",
      "aria-label": b.name + ": " + (atLeast ? "at least " : "") + st.percent + "% of " + usd(limit) + " spent, projected " +
        (missing ? "at least " : "") + usd(st.projected_usd) + (st.unpriced_requests ? " and calls of no known price" : "") +
        (missing ? "; " + why : "") });
    svg.appendChild(s("rect", { class: "track", x: 0, y: 8, width: W, height: 18, rx: 3 }));
    svg.appendChild(s("rect", { class: "fill", x: 0, y: 8, width: x(st.percent), height: 18, rx: 3 }));
    b.thresholds.forEach(function (t) {
      var px = x(Number(t) * 100);
      svg.appendChild(s("line", { class: "tick", x1: px, x2: px, y1: 2, y2: 32 }));
    });
    var pp = x(projectedPct);
    svg.appendChild(s("line", { class: "proj", x1: pp, x2: pp, y1: 4, y2: 30 }));
    var scope = Object.keys(b.scope).filter(function (k) { return b.scope[k].length; })
      .map(function (k) { return k + ": " + b.scope[k].map(isolated).join(", "); }).join("; ");
    // Named by its heading, as the cards are: a screen reader's list of the page's articles read
    // "article" three times for the budgets.
    return h("article", { class: "gauge", "data-status": st.status, "data-budget": b.name, "aria-labelledby": "g-" + n },
      h("h3", { id: "g-" + n, text: b.name + " · " + usd(limit) + " per " + b.period + (b.hard ? " (hard)" : "") }),
      st.first_day ? h("p", { class: "muted budget-days", text: budgetDays(st, pageZone) }) : null,
      svg,
      h("p", {}, h("span", { class: "state", text: STATUS_TEXT[st.status] || st.status }),
        " · ", marked, cost(st.spent_usd, st.unpriced_requests),
        // Past the limit, what is left is negative: "-$7.50 left" read oddly; say how far over.
        // Calls with no known price count nothing against it, so with any the percent and how far
        // over are at least these, and what is left at most, as `cost-mcp budget status` marks
        // them (≥, ≤): "$3.93 left" read as a sure remainder beside two calls of unknown cost.
        " spent (" + atLeast + st.percent + "%), ", left < 0 ? h("span", { class: "left", "data-usd": String(-left), text: atLeast + usd(-left) + " over" })
          : h("span", { class: "left", "data-usd": String(left), text: (atLeast ? "≤" : "") + usd(left) + " left" })),
      missing ? h("p", { class: "bill-missing" }, h("span", { class: "badge partial", text: "partial" }),
        " " + why + " (see the notes): ≥ at least, ≤ at most") : null,
      // Calls with no known price count nothing against the budget: the projection lacks them too.
      // Not the forecast panel's rule (the last 7 whole days): this one reacts to today, as
      // `cost-mcp budget status` says; each figure names its own.
      h("p", { class: "muted", text: "projected at this period's average per hour so far, today included: " + marked + usd(st.projected_usd) +
        (st.unpriced_requests ? " + unpriced calls" : "") +
        " · thresholds " + b.thresholds.map(function (t) { return Math.round(Number(t) * 100) + "%"; }).join(", ") +
        (st.fired_thresholds.length ? " · fired " + st.fired_thresholds.map(function (t) { return Math.round(Number(t) * 100) + "%"; }).join(", ") : "") }),
      scope ? h("p", { class: "muted", text: "counts " + scope }) : null);
  }
  /* A name set apart from the text around it, whatever its direction: a name in Hebrew or Arabic,
     or one holding a right-to-left override, reordered the words after it in the same line. */
  function isolated(name) { return "\u2068" + name + "\u2069"; }
  /* The filters chosen, in words ("members ⁨a@x.com⁩; projects ⁨web⁩"), each name set apart; "" for none. */
  function filtersOn(d) {
    return Object.keys(d.filters || {}).filter(function (k) { return d.filters[k].length; })
      .map(function (k) { return k + " " + d.filters[k].map(isolated).join(", "); }).join("; ");
  }
  function renderBudgets(d) {
    var f = d.forecast;
    // The filters chosen apply to every other section; these figures stayed the organisation's,
    // with nothing saying so: a finance lead filtered to one project read the whole month's
    // spend and forecast under it (the tools say it: budgets and forecast are never filtered).
    var on = filtersOn(d);
    var unfiltered = document.getElementById("budgets-unfiltered");
    unfiltered.hidden = !on;
    unfiltered.textContent = on ? "Not filtered by " + on + ": the forecast counts all spend, and each budget what its own scope counts." : "";
    // Calls with no known price are in none of these amounts: said beside them, as on the cards, and
    // an amount of such calls only reads "unpriced" (a month of a new model read "$0.00" three times).
    var n = f.unpriced_requests || 0;
    fill("forecast",
      h("div", {}, h("p", { class: "muted", text: "Spent in " + periodText(f.period) }), h("p", { class: "figure", id: "forecast-spent", "data-usd": String(f.spent_usd), text: bounded(totalText(f.spent_usd, n), f, d) })),
      h("div", {}, h("p", { class: "muted", text: "Burn rate (period / 7 days before today)" }), h("p", { class: "figure", text: totalText(f.burn_rate_period_usd_per_day, n) + " / " + usd(f.burn_rate_7d_usd_per_day) + " per day" })),
      h("div", {}, h("p", { class: "muted", text: "Projected by " + f.period.last_day + " at the last 7 whole days' rate" }), h("p", { class: "figure", id: "forecast-projected", "data-usd": String(f.projected_usd), text: bounded(totalText(f.projected_usd, n), f, d) })),
      h("div", {}, h("p", { class: "muted", text: "Days" }), h("p", { class: "figure", text: f.days_elapsed + " of " + f.days_in_period })),
      n ? h("div", { id: "forecast-unpriced" }, h("p", { class: "muted", text: "Not in these amounts" }), h("p", { class: "figure" }, unpricedBadge(n))) : null);
    var list = d.budgets.budgets;
    if (!list.length) fill("budgets", h("p", { class: "muted", text: "No budgets yet: cost-mcp budget set NAME AMOUNT, or set_budget from your assistant." }));
    else fill.apply(null, ["budgets"].concat(list.map(function (st, n) {
      var left = d.budgets_left_usd && d.budgets_left_usd[st.budget.name];
      return gauge(st, d.daily_by_provider.period.timezone, left === undefined ? st.remaining_usd : left, n);
    })));
  }

  /* ---- charts ---- */
  /* A chart's width in its own units: the box it is drawn in, up to 900. A fixed 900-unit drawing
     scaled down to a phone's 400 px shrank its 11 px labels to 5 px; drawn at the box's width, a
     label is 11 px on any screen narrower than 900 px (and the layout makes room for it). */
  function chartWidth(id) {
    var w = document.getElementById(id).clientWidth;
    return w > 0 ? Math.max(Math.min(Math.round(w), 900), 240) : 900;
  }
  /* The daily chart's bars, each a run of whole days: one a day up to MAX_BARS days, else 7 a bar
     (14, 21... past 2,800 days), so that every day of the period is drawn. The chart drew its first
     400 days only: a longer range left its latest days out of the chart while the table listed them. */
  var MAX_BARS = 400;
  function bars(period) {
    var all = [], d = new Date(period.first_day + "T00:00:00Z"), end = new Date(period.last_day + "T00:00:00Z");
    while (d <= end) { all.push(d.toISOString().slice(0, 10)); d.setUTCDate(d.getUTCDate() + 1); }
    var per = all.length <= MAX_BARS ? 1 : 7 * Math.ceil(all.length / (MAX_BARS * 7)), out = [];
    for (var i = 0; i < all.length; i += per) {
      var run = all.slice(i, i + per);
      out.push({ first: run[0], last: run[run.length - 1], days: run });
    }
    return { per: per, days: all.length, list: out };
  }
  function seriesClass(key, keys, byBasis) { return byBasis ? "b-" + key : "c" + Math.min(keys.indexOf(key), 7); }
  function legend(keys, byBasis) {
    var ul = h("ul", { class: "legend", "aria-hidden": "true" });
    keys.forEach(function (k) { ul.appendChild(h("li", {}, h("span", { class: "sw " + seriesClass(k, keys, byBasis) }), k)); });
    return ul;
  }
  function renderDaily(d) {
    var byBasis = state.stack === "basis";
    // Every row of get_spend has one basis, so the same rows stack by provider or by basis.
    var r = d.daily_by_provider, dim = byBasis ? "basis" : "provider";
    var drawn = bars(r.period), barList = drawn.list, barOf = {}, stacks = {}, weight = {};
    barList.forEach(function (bar, i) { bar.days.forEach(function (day) { barOf[day] = i; }); });
    r.rows.forEach(function (row) {
      var at = barOf[row.group.day], key = byBasis ? row.basis : label(row.group.provider, "(unknown)");
      if (at === undefined) return;
      stacks[at] = stacks[at] || {};
      // A null cost (calls with no known price only) draws nothing: it is unknown, not $0.
      stacks[at][key] = (stacks[at][key] || 0) + Math.max(row.cost_usd || 0, 0);
      weight[key] = (weight[key] || 0) + Math.max(row.cost_usd || 0, 0);
    });
    var keys = Object.keys(weight).sort(function (a, b) { return weight[b] - weight[a]; });
    var top = Math.max.apply(null, [0].concat(barList.map(function (bar, i) {
      var st = stacks[i] || {}; return keys.reduce(function (n, k) { return n + (st[k] || 0); }, 0);
    })));
    var W = chartWidth("daily"), H = 220, L = 56, B = 22, bw = (W - L) / Math.max(barList.length, 1);
    var unit = drawn.per === 1 ? "Daily spend" : "Spend per " + drawn.per + " days";
    var svg = s("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": unit + " by " + dim + ", " + r.period.first_day + " to " + r.period.last_day + "; the numbers are in the table below" });
    svg.appendChild(s("line", { class: "axis", x1: L, x2: W, y1: H - B, y2: H - B }));
    if (top > 0) {
      svg.appendChild(s("text", { x: 4, y: 12 }, document.createTextNode(usd(top))));
      barList.forEach(function (bar, i) {
        var y = H - B, st = stacks[i] || {}, days = bar.first + (bar.last !== bar.first ? " to " + bar.last : "");
        keys.forEach(function (k) {
          if (!st[k]) return;
          var hgt = (st[k] / top) * (H - B - 16);
          y -= hgt;
          var rect = s("rect", { x: L + i * bw + 1, y: y, width: Math.max(bw - 2, 1), height: hgt, class: seriesClass(k, keys, byBasis) });
          rect.appendChild(s("title", {}, document.createTextNode(days + " " + k + ": " + usd(st[k]))));
          svg.appendChild(rect);
        });
      });
    }
    // At most one "MM-DD" label per 44 units, ten at most: narrow, they ran into each other.
    var step = Math.ceil(barList.length / Math.max(Math.min(10, Math.floor((W - L) / 44)), 1));
    barList.forEach(function (bar, i) {
      // None too near the right edge: it ran past the chart (or, pulled in, into its neighbour).
      // Bars of several days span years: their month and year, where a day's is its month and day.
      var name = drawn.per === 1 ? bar.first.slice(5) : bar.first.slice(0, 7);
      if (i % step === 0 && L + i * bw + 32 <= W) svg.appendChild(s("text", { x: L + i * bw, y: H - 6 }, document.createTextNode(name)));
    });
    var rows = r.rows.map(function (row) {
      return [row.group.day, label(row.group.provider, "(unknown)"), row.basis, rowCost(row), int(row.requests)];
    });
    fill("daily",
      h("p", {}, "Total " + periodText(r.period) + ": ", h("strong", { id: "period-total", "data-usd": String(r.total_usd), text: bounded(totalText(r.total_usd, unpricedIn(r.rows)), r, d) }),
        leftOut("period-unpriced", r.total_usd, unpricedIn(r.rows)),
        r.attribution.length ? h("span", { class: "muted", text: " · " + r.attribution.length + " estimate row(s) only attribute billed days (not added)" }) : null),
      soFar("so-far-period", d.partial_reports && d.partial_reports.period),
      // A new ledger's month drew an empty box with only day labels under it: looked broken.
      r.rows.length ? legend(keys, byBasis) : null, r.rows.length ? svg : h("p", { class: "muted empty", id: "daily-empty", text: "Nothing in this period." }),
      // Said on the chart, not only in its label: a bar of 7 days read as a day's spend.
      r.rows.length && drawn.per > 1 ? h("p", { class: "muted", id: "daily-bars", text: "Each bar is " + drawn.per + " days of the " + drawn.days + " (the first from " + r.period.first_day + "); the table below lists every day." }) : null,
      numbers("daily", "Numbers (" + rows.length + " rows)", "daily spend", table("Daily spend by provider and basis", ["Day", "Provider", "Basis", "Cost", "Calls"], rows, [0, 0, 0, 1, 1])),
      // Worked out by the server (money.rounding_note), as under the breakdown's table.
      d.daily_rounding_note ? h("p", { class: "muted", id: "daily-rounding", text: d.daily_rounding_note }) : null);
  }
  /* A name as the characters a reader sees (an emoji, a flag, a letter and its accent are one each):
     cut between UTF-16 units, "🦄" lost half of itself and showed as "�". */
  function graphemes(text) {
    if (window.Intl && Intl.Segmenter) return Array.from(new Intl.Segmenter().segment(text), function (x) { return x.segment; });
    return Array.from(text);
  }
  /* Each bar's name cut, between characters, to the width its column has, measured once drawn: a
     count of characters at an average width let wide ones ("WWW…", emoji, CJK) run over the bars. */
  function fitNames(svg) {
    Array.prototype.forEach.call(svg.querySelectorAll("text.name"), function (t) {
      var room = Number(t.getAttribute("data-room"));
      if (t.getComputedTextLength() <= room) return;
      var g = graphemes(t.getAttribute("data-name")), lo = 0, hi = g.length - 1;
      while (lo < hi) {  // the most characters that fit with the "…"
        var mid = (lo + hi + 1) >> 1;
        t.textContent = g.slice(0, mid).join("") + "…";
        if (t.getComputedTextLength() <= room) lo = mid; else hi = mid - 1;
      }
      t.textContent = g.slice(0, lo).join("") + "…";
    });
  }
  /* The first column's header, as its tab names it: the bare key ("model" beside "Basis", "Cost")
     was the one header a screen reader read out of its table's style. */
  var TAB_NAMES = { model: "Model", agent: "Agent", project: "Project", member: "Member", session: "Session" };
  /* A basis in a word short enough to sit beside a bar on a phone (their titles say it in full). */
  var BASIS_SHORT = { billed: "billed", estimated: "est.", subscription: "sub." };
  // Seat fees have no model, agent, project or session: named as every answer names them
  // (analytics/vocabulary.py SEAT_FEES), not "(not reported)", which read as spend that lost its name.
  var SEAT_FEES = "(seat fees)";
  function hbars(items, caption, W) {
    var top = Math.max.apply(null, [0].concat(items.map(function (it) { return Math.max(it.value, 0); })));
    // Names, bars and amounts share the width: on a narrow screen the names are cut shorter and
    // the amount beside a bar has its basis abbreviated ("est."), in full in its title. The amount
    // alone left the basis to the bar's colour, which not every reader can tell apart (WCAG 1.4.1).
    // The calls with no known price beside a priced amount ("+ 2 unpriced") have no room beside
    // a narrow bar: they get a line of their own under it, never only the amount's title (an
    // unknown price must never read as nothing).
    var narrow = W < 600, row = 22, below = 14, L = Math.min(260, Math.round(W * 0.36)), R = Math.min(240, Math.round(W * 0.26));
    var chars = Math.max(Math.floor((L - 8) / 6.5), 6);
    var H = items.reduce(function (n, it) { return n + row + (narrow && it.unpricedBeside ? below : 0); }, items.length ? 6 : row + 6);
    var svg = s("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": caption + "; the numbers are in the table below" });
    var y = 3;
    items.forEach(function (it) {
      var w = top > 0 ? (Math.max(it.value, 0) / top) * (W - L - R) : 0;
      var g = graphemes(it.name);
      svg.appendChild(s("text", { x: 4, y: y + 15, class: "name", "data-name": it.name, "data-room": L - 8 },
        document.createTextNode(g.length > chars ? g.slice(0, chars - 1).join("") + "…" : it.name)));
      var rect = s("rect", { x: L, y: y + 3, width: Math.max(w, 0.5), height: row - 8, class: it.cls });
      rect.appendChild(s("title", {}, document.createTextNode(isolated(it.name) + ": " + it.text)));
      svg.appendChild(rect);
      var amount = s("text", { x: L + w + 6, y: y + 15, class: "amount" }, document.createTextNode(narrow ? it.short : it.text));
      if (narrow) amount.appendChild(s("title", {}, document.createTextNode(it.text)));
      svg.appendChild(amount);
      if (narrow && it.unpricedBeside) {
        svg.appendChild(s("text", { x: L, y: y + row + 10, class: "unpriced" }, document.createTextNode(it.unpricedBeside)));
        y += below;
      }
      y += row;
    });
    return svg;
  }
  function renderBreakdown(d) {
    var dim = state.dim, r = d.breakdowns[dim];
    // The tab pattern: the panel is named by its tab, and Tab reaches the chosen tab only (the
    // arrows move between them), not five stops before the panel.
    Array.prototype.forEach.call(document.querySelectorAll("#tabs button"), function (b) {
      var on = b.getAttribute("data-dim") === dim;
      b.setAttribute("aria-selected", String(on));
      b.setAttribute("tabindex", on ? "0" : "-1");
    });
    document.getElementById("breakdown").setAttribute("aria-labelledby", "tab-" + dim);
    if (!r) { fill("breakdown", h("p", { class: "muted", text: "Loading the breakdown by " + dim + "…" })); return; }
    var unknown = "(not reported)";
    var items = r.rows.map(function (row) {
      var name = label(row.group[dim], row.basis === "subscription" ? SEAT_FEES : unknown);
      var amount = !row.cost_usd && row.unpriced_requests ? "unpriced" : usd(row.cost_usd);
      // A row of unpriced calls only read "unpriced estimated + 1 unpriced": say it once, as calls.
      var text = amount === "unpriced"
        ? int(row.unpriced_requests) + " unpriced " + row.basis + " call" + (row.unpriced_requests === 1 ? "" : "s")
        : amount + " " + row.basis + (row.unpriced_requests ? " + " + int(row.unpriced_requests) + " unpriced" : "");
      // On a phone the count of unpriced calls is shown as well, never only in a title: "1 unpriced
      // est." for a row of them only, "+ 2 unpriced" on its own line under a priced amount.
      var basis = BASIS_SHORT[row.basis] || row.basis;
      return { name: name, value: row.cost_usd || 0, cls: "b-" + row.basis, text: text,
        short: amount === "unpriced" ? int(row.unpriced_requests) + " unpriced " + basis : amount + " " + basis,
        unpricedBeside: amount !== "unpriced" && row.unpriced_requests ? "+ " + int(row.unpriced_requests) + " unpriced" : "" };
    });
    var rows = r.rows.map(function (row) {
      return [label(row.group[dim], row.basis === "subscription" ? SEAT_FEES : unknown), row.basis, rowCost(row), int(row.requests), row.tokens ? int(row.tokens.total_tokens) : "–"];
    });
    // Bounded rows say so: "(other)" alone did not say how much it folds.
    var shown = r.rows.filter(function (row) { return row.group[dim] !== "(other)"; }).length;
    fill("breakdown",
      h("p", {}, "By " + dim + ": total ", h("strong", { id: "breakdown-total", "data-usd": String(r.total_usd), text: bounded(totalText(r.total_usd, unpricedIn(r.rows)), r, d) }),
        leftOut("breakdown-unpriced", r.total_usd, unpricedIn(r.rows)),
        r.truncated ? h("span", { class: "muted", id: "breakdown-cut", text: " · the " + int(shown) + " largest of " + int(r.total_rows) + " rows; the other " + int(r.total_rows - shown) + " are summed in (other)" }) : null),
      items.length ? hbars(items, "Spend by " + dim, chartWidth("breakdown")) : h("p", { class: "muted", text: "Nothing in this period." }),
      numbers("breakdown", "Numbers (" + rows.length + " rows)", "spend by " + dim, table("Spend by " + dim + " (bars coloured by basis)", [TAB_NAMES[dim], "Basis", "Cost", "Calls", "Tokens"], rows, [0, 0, 1, 1, 1])),
      // Worked out once, by the server (money.rounding_note), as `cost-mcp report` prints it.
      r.rounding_note ? h("p", { class: "muted", id: "breakdown-rounding", text: r.rounding_note }) : null);
    var chart = document.querySelector("#breakdown > svg");
    if (chart) fitNames(chart);
  }
  function renderHourly(d) {
    var hr = d.hourly, top = Math.max.apply(null, [0].concat(hr.hours.map(function (x) { return x.cost_usd || 0; })));
    var W = chartWidth("hourly"), H = 160, B = 20, bw = W / 24;
    var svg = s("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "Estimated cost of locally recorded calls by hour of day; the numbers are in the table below" });
    svg.appendChild(s("line", { class: "axis", x1: 0, x2: W, y1: H - B, y2: H - B }));
    hr.hours.forEach(function (x) {
      // A null cost (calls with no known price only) draws nothing, and its title says unpriced.
      var hgt = top > 0 ? ((x.cost_usd || 0) / top) * (H - B - 10) : 0;
      var rect = s("rect", { x: x.hour * bw + 2, y: H - B - hgt, width: bw - 4, height: hgt, class: "b-estimated" });
      rect.appendChild(s("title", {}, document.createTextNode(("0" + x.hour).slice(-2) + ":00 " + usd(x.cost_usd))));
      svg.appendChild(rect);
      if (x.hour % 3 === 0) svg.appendChild(s("text", { x: x.hour * bw + 2, y: H - 5 }, document.createTextNode(("0" + x.hour).slice(-2) + "h")));
    });
    var rows = hr.hours.map(function (x) { return [("0" + x.hour).slice(-2) + ":00", cost(x.cost_usd, x.unpriced_requests), int(x.requests)]; });
    fill("hourly",
      h("p", { class: "muted" }, "Estimated, calls recorded one by one only (not billed amounts): ", h("strong", { id: "hourly-total", "data-usd": String(hr.total_usd), text: bounded(totalText(hr.total_usd, unpricedIn(hr.hours)), hr, d) }),
        leftOut("hourly-unpriced", hr.total_usd, unpricedIn(hr.hours)), " · hours in " + hr.period.timezone),
      // No call recorded at any hour: an empty box with hour labels under it looked broken. Not
      // "nothing in this period": a period of billed amounts only (no time of day) is not empty.
      hr.hours.some(function (x) { return x.requests; }) ? svg : h("p", { class: "muted empty", id: "hourly-empty", text: "No call recorded one by one in this period." }),
      numbers("hourly", "Numbers (24 hours)", "cost by hour of day", table("Cost by hour of day", ["Hour", "Cost", "Calls"], rows, [0, 1, 1])),
      d.hourly_rounding_note ? h("p", { class: "muted", id: "hourly-rounding", text: d.hourly_rounding_note }) : null);
  }
  function renderAnomalies(d) {
    var a = d.forecast.anomalies, on = filtersOn(d);
    // The forecast's, so never filtered: filtered to a member who spent nothing, the page listed
    // the team's unusual days under that member's $0.00 with nothing saying whose they were.
    var whose = on ? h("p", { class: "muted", id: "anomalies-unfiltered", text: "Not filtered by " + on + ": unusual days are of all spend, as the forecast counts it." }) : null;
    if (!a.length) { fill("anomalies", whose, h("p", { class: "muted", text: "No unusual day in this period (a day counts when it is above twice the median of the 14 days before, with at least 7 days of history and $1 spent)." })); return; }
    fill("anomalies", whose, table("Days above twice their baseline", ["Day", "Cost", "Baseline", "Ratio", "Top models", "Top agents"],
      a.map(function (x) { return [x.day, usd(x.cost_usd), usd(x.baseline_usd), x.ratio === null ? "–" : x.ratio + "x", x.top_models.join(", "), x.top_agents.join(", ")]; }), [0, 1, 1, 1, 0, 0]));
  }
  function renderSources(d) {
    var src = d.this_month.sources;
    if (!src.length) { fill("sources", h("p", { class: "muted", text: "No source has run yet." })); return; }
    fill("sources", table("Where the numbers come from", ["Source", "Kind", "Status", "Last success", "Last error", "Last refresh"],
      src.map(function (x) {
        return [x.source, x.kind, h("span", { class: "badge " + (x.status === "ok" ? "ok" : x.status === "error" ? "error" : "partial"), text: x.status }),
          when(x.last_success), x.last_error || "–", x.last_refresh || "–"];
      }), [0, 0, 0, 0, 0, 0]));
  }
  function renderNotes(d) {
    var seen = {}, list = [];
    // The hours count calls on billed days too (the totals count the bill there), so their notes
    // differ: "acme: 1 call(s) ... not in the total" beside "acme: 2 call(s) ... not in these
    // amounts" read as two answers to one question. Each of theirs names its chart.
    [d, d.today, d.this_week, d.this_month, d.daily_by_provider, d.breakdowns[state.dim], d.budgets, d.forecast, d.hourly].forEach(function (r) {
      var of = r === d.hourly ? "Cost by hour of day: " : "";
      (r && r.warnings || []).forEach(function (w) { if (!seen[w]) { seen[w] = 1; list.push(of + w); } });
    });
    Object.keys(d.partial_reports || {}).forEach(function (k) {
      d.partial_reports[k].forEach(function (w) { w = "partial: " + w; if (!seen[w]) { seen[w] = 1; list.push(w); } });
    });
    fill.apply(null, ["notes"].concat(list.length ? list.map(function (w) { return h("li", { text: w }); }) : [h("li", { text: "Nothing to report." })]));
  }
  function setOptions(name, values) {
    var sel = document.querySelector('#controls select[name="' + name + '"]');
    var current = sel.value, seen = {};
    while (sel.options.length > 1) sel.remove(1);
    values.concat(current ? [current] : []).forEach(function (v) {
      if (v === null || v === undefined || v === "" || seen[v]) return;
      seen[v] = 1; sel.appendChild(h("option", { value: v, text: v }));
    });
    sel.value = current;
  }
  /* The names to filter by: a breakdown's rows, largest first, then the names its "(other)" rows
     sum, A to Z (an admin of a 40-person team could pick none of the 25 who spent least). Not the
     "(other)" row itself: chosen, it filtered for a model of that name, and every figure read $0.00. */
  function values(r, dim) {
    return r ? r.rows.filter(function (row) { return !(r.truncated && row.group[dim] === "(other)"); })
      .map(function (row) { return row.group[dim]; }).concat(r.folded_names || []) : [];
  }
  function options(d) {
    setOptions("providers", values(d.daily_by_provider, "provider"));
    setOptions("models", values(d.breakdowns.model, "model"));
    setOptions("projects", values(d.breakdowns.project, "project"));
    setOptions("agents", values(d.breakdowns.agent, "agent"));
    setOptions("members", values(d.breakdowns.member, "member"));
  }

  /* Filters of the answer that no select shows: sessions and sources (only a link sets them), or a
     filter's second value. The minute's refresh, built from the selects, dropped them: the
     figures changed to unfiltered ones with nothing on the page saying so. */
  function unshown(d) {
    var out = {};
    Object.keys(d.filters || {}).forEach(function (name) {
      var v = d.filters[name], sel = document.querySelector('#controls select[name="' + name + '"]');
      if (v.length && (!sel || v.length > 1)) out[name] = v;
    });
    return out;
  }
  function render(d) {
    state.data = d;
    var sel = document.querySelector('#controls select[name="period"]');
    if (d.period && sel.querySelector('option[value="' + d.period + '"]')) sel.value = d.period;
    // A filter the answer has not (Back to before it was chosen) shows "all" again.
    Array.prototype.forEach.call(document.querySelectorAll("#controls select"), function (f) {
      if (f.name !== "period" && !(d.filters && d.filters[f.name] && d.filters[f.name].length)) f.value = "";
    });
    Object.keys(d.filters || {}).forEach(function (name) {
      var f = document.querySelector('#controls select[name="' + name + '"]');
      if (!f || !d.filters[name].length) return;
      if (name !== "basis") setOptions(name, d.filters[name]);
      f.value = d.filters[name][0];
    });
    options(d);
    // A brand-new ledger with nothing set up read $0.00 everywhere, what to connect only in the
    // last of the notes at the foot of the page: it is said first, above the figures.
    var first = document.getElementById("first-run");
    first.hidden = !d.nothing_connected;
    first.textContent = d.nothing_connected || "";
    fill("cards", card("today", "Today", d.today, d), card("week", "This week", d.this_week, d), card("month", "This month", d.this_month, d));
    renderBudgets(d); renderDaily(d); renderBreakdown(d); renderHourly(d); renderAnomalies(d); renderSources(d); renderNotes(d);
    // A partial answer (logs still being read) says so where the time of the figures is, not
    // only among the notes: its first warning is the one to read.
    var also = unshown(d), filtered = Object.keys(also).map(function (name) { return name + " " + also[name].map(isolated).join(", "); }).join("; ");
    filtered = filtered ? " · filtered by " + filtered : "";
    if (d.complete === false) status(((d.warnings || [])[0] || "These figures are partial.") + filtered, true);
    else status("Figures of " + when(d.generated_at) + " · days in " + d.daily_by_provider.period.timezone + filtered + (mode === "web" ? " · refreshes every minute" : ""), false);
    state.renders++;
    document.body.setAttribute("data-ready", d.generated_at);
    document.body.setAttribute("data-renders", String(state.renders));
  }
  function status(text, error) {
    var el = document.getElementById("status");
    if (error) el.setAttribute("aria-live", "polite");
    el.textContent = text;
    el.className = error ? "status error" : "status";
  }

  /* ---- where the data comes from ---- */
  function selection() {
    var out = {};
    Array.prototype.forEach.call(document.querySelectorAll("#controls select"), function (sel) {
      if (sel.value) out[sel.name] = sel.name === "period" ? sel.value : [sel.value];
    });
    if (state.data) {
      // The timezone of the figures on show (one the address or the tool call asked for) stays
      // for every later load: a period switch or the minute's refresh without it answered in the
      // configured timezone, and "today" changed meaning with nothing on the page saying so.
      var p = state.data.daily_by_provider.period;
      out.timezone = p.timezone;
      var kept = unshown(state.data);
      Object.keys(kept).forEach(function (name) {
        // Unless its select was changed since: then the choice made there is the filter.
        var sel = document.querySelector('#controls select[name="' + name + '"]');
        if (!sel || sel.value === kept[name][0]) out[name] = kept[name];
      });
      if (out.period === "custom") {
        // Dates that came from the address stay as they are while the filters change.
        delete out.period;
        out.start = p.first_day; out.end = p.last_day;
      }
    }
    return out;
  }
  var fromAddress = mode === "web" ? window.location.search.slice(1) : "";
  /* What is on show of the figures (the breakdown's tab, how the daily bars stack) is in the
     address too, beside the period and filters: a reload, Back or a copied link came back "by
     model, by provider" whatever the person had been reading. The page's own: taken out of the
     address before a question is asked (the API refuses a parameter it does not take). */
  var DIMS = ["model", "agent", "project", "member", "session"];
  function viewFrom(q) {
    state.dim = DIMS.indexOf(q.get("view")) >= 0 ? q.get("view") : "model";
    state.stack = q.get("stack") === "basis" ? "basis" : "provider";
    document.querySelector('input[name="stack"][value="' + state.stack + '"]').checked = true;
    q.delete("view"); q.delete("stack");
  }
  function address() {
    var q = new URLSearchParams(state.query);
    if (state.dim !== "model") q.set("view", state.dim);
    if (state.stack !== "provider") q.set("stack", state.stack);
    return "?" + q.toString();
  }
  /* A view changed on the page: the address follows, as one step with the figures it shows. */
  function viewChanged() { if (mode === "web" && state.data) window.history.replaceState(null, "", address()); }
  /* ``how``: "choice" (a select changed), "quiet" (the minute's refresh) or "address" (the first
     load, Back or Forward: the address says what to show). The status line is a live region: a
     screen reader read out "Loading…" and then the new time every minute, whatever its user was
     reading. Only a load someone asked for, a partial answer or an error is announced. */
  function loadWeb(how) {
    var quiet = how === "quiet";
    var args = selection(), q = new URLSearchParams();
    Object.keys(args).forEach(function (k) { [].concat(args[k]).forEach(function (v) { q.append(k, v); }); });
    // The first load follows the address (period, start, end, timezone, filters): links can be shared.
    if (fromAddress) { q = new URLSearchParams(fromAddress); fromAddress = ""; viewFrom(q); }
    q.delete("breakdowns");
    var generation = ++state.generation;
    document.body.removeAttribute("data-complete");
    state.query = q.toString();
    // The address follows the choice, so a reload or a copied link shows the same figures; each
    // choice is a step in the history, so Back shows the figures before it (it left the page).
    var where = address();
    if (how === "choice" && window.location.search !== where) window.history.pushState(null, "", where);
    else window.history.replaceState(null, "", where);
    document.getElementById("status").setAttribute("aria-live", quiet ? "off" : "polite");
    if (!quiet) status("Loading…", false);
    // The tab on show comes with the rest; the other breakdowns follow, one at a time, so the page
    // is drawn as soon as its first answer is in.
    return getJSON("api/dashboard?" + state.query + "&breakdowns=" + state.dim)
      .then(function (d) { if (generation === state.generation) { render(d); return more(generation); } })
      // A failure of an answer no longer wanted (a newer choice's figures are drawn, or on their
      // way) is not news: said, it wrote "Could not load" over the figures of the latest choice.
      .catch(function (e) { if (generation === state.generation) failed(e); });
  }
  function failed(e) {
    // The figures of the last answer stay on show: say how old they are, not only that the
    // newest could not be had (the line that said so is the one replaced).
    status("Could not load: " + e.message + (state.data ? " · the figures shown are from " + when(state.data.generated_at) : ""), true);
  }
  function more(generation) {
    var missing = ["model", "agent", "project", "member", "session"].filter(function (dim) { return !state.data.breakdowns[dim]; });
    if (generation !== state.generation) return null;
    if (!missing.length) { document.body.setAttribute("data-complete", state.query); return null; }
    var dim = missing.indexOf(state.dim) >= 0 ? state.dim : missing[0];
    return getJSON("api/breakdown?" + state.query + "&dim=" + dim).then(function (r) {
      if (generation !== state.generation) return null;
      state.data.breakdowns[dim] = r;
      options(state.data);
      if (dim === state.dim) { renderBreakdown(state.data); renderNotes(state.data); }
      return more(generation);
    });
  }
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).catch(function () {
      // fetch's own "Failed to fetch" said nothing of why: the server did not answer at all.
      throw new Error("the server did not answer (is cost-mcp still running?)");
    }).then(function (res) {
      // A team server's sign-in ended (expired, signed out elsewhere, token revoked): the page
      // loaded again is the sign-in form.
      if (res.status === 401 && document.getElementById("signout")) window.location.reload();
      return res.text().then(function (body) {
        if (!res.ok) {
          var msg = res.status + " " + res.statusText;
          try { msg = JSON.parse(body).error || msg; } catch (e) { msg = body || msg; }
          throw new Error(msg);
        }
        return JSON.parse(body);
      });
    });
  }

  var nextId = 1, pending = {};
  function post(msg) { window.parent.postMessage(msg, "*"); }
  function request(method, params) {
    var id = nextId++;
    post({ jsonrpc: "2.0", id: id, method: method, params: params });
    return new Promise(function (resolve, reject) { pending[id] = { resolve: resolve, reject: reject }; });
  }
  function fromToolResult(result) {
    if (result && result.structuredContent) render(result.structuredContent);
    else if (result && result.isError) status("The tool failed: " + ((result.content || [])[0] || {}).text, true);
  }
  /* Answers come in any order: a slow get of last month's figures, come after the person chose
     today and today's were drawn, drew last month's under "Today". Only the answer to the latest
     request is drawn (state.generation, which a keyboard user's pending choice moves on too), and
     the result of the tool call that opened the view only while no answer to a request has been. */
  var answered = false;
  function fromOpeningCall(result) { if (!answered) fromToolResult(result); }
  function startApp() {
    window.addEventListener("message", function (e) {
      if (e.source !== window.parent) return;
      var m = e.data;
      if (!m || m.jsonrpc !== "2.0") return;
      if (m.method === undefined && pending[m.id]) {
        var p = pending[m.id]; delete pending[m.id];
        if (m.error) p.reject(new Error(m.error.message)); else p.resolve(m.result);
      } else if (m.method === "ui/notifications/tool-result") {
        fromOpeningCall(m.params);
      } else if (m.method === "ui/notifications/tool-cancelled") {
        status("The tool call was cancelled.", true);
      } else if (m.method === "ui/resource-teardown" && m.id !== undefined) {
        post({ jsonrpc: "2.0", id: m.id, result: {} });
      } else if (m.method === "ping" && m.id !== undefined) {
        post({ jsonrpc: "2.0", id: m.id, result: {} });
      }
    });
    request("ui/initialize", {
      appCapabilities: {}, appInfo: { name: "cost-mcp dashboard", version: "1" }, protocolVersion: "2026-01-26"
    }).then(function (result) {
      state.host = result || {};
      post({ jsonrpc: "2.0", method: "ui/notifications/initialized", params: {} });
      // Only once initialized: the host learns the view's size as it grows with the data.
      if (window.ResizeObserver) {
        new ResizeObserver(function () {
          post({ jsonrpc: "2.0", method: "ui/notifications/size-changed", params: { width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight } });
        }).observe(document.body);
      }
    }, function (e) { status("The host did not answer: " + e.message, true); });
  }
  function reloadApp() {
    var caps = (state.host && state.host.hostCapabilities) || {};
    if (!caps.serverTools) { status("This host does not let the dashboard ask for other periods: ask your assistant to show_dashboard with them.", true); return; }
    status("Loading…", false);
    var generation = ++state.generation;
    request("tools/call", { name: "show_dashboard", arguments: selection() }).then(function (result) {
      if (generation !== state.generation) return;
      answered = answered || !!(result && result.structuredContent);
      fromToolResult(result);
    }, function (e) { if (generation === state.generation) failed(e); });
  }

  /* A keyboard user passing through a closed select (the arrows, Home, End, its first letters)
     makes a change at each key on Linux and Windows: each one loaded the figures, said "Loading…"
     and was a step for Back, five of each from "Today" to "Last month". A run of such changes is
     one choice: applied after a pause, or at once on Enter or on leaving the select. A pick with
     the mouse, or from the opened list, is applied at once as before. */
  var KEY_PAUSE_MS = 800, keyed = null, keyedChoice = null;
  function start() {
    var reload = mode === "web" ? function () { loadWeb("choice"); } : reloadApp;
    var controls = document.getElementById("controls");
    function apply() { clearTimeout(keyedChoice); keyedChoice = null; reload(); }
    controls.addEventListener("keydown", function (e) {
      if (e.target.tagName !== "SELECT") return;
      keyed = e.target;  // the change this key makes, if any, comes before its keyup
      if (e.key === "Enter" && keyedChoice !== null) apply();
    });
    document.addEventListener("keyup", function () { keyed = null; });
    controls.addEventListener("focusout", function () { if (keyedChoice !== null) apply(); });
    controls.addEventListener("change", function (e) {
      if (e.target !== keyed) { apply(); return; }
      clearTimeout(keyedChoice);
      keyedChoice = setTimeout(apply, KEY_PAUSE_MS);
      // An answer still on its way (the last choice's, the minute's refresh) is for figures no
      // longer wanted: drawn, it put the select back under the keyboard user's hand.
      state.generation++;
    });
    if (mode === "web") {
      window.addEventListener("popstate", function () {
        clearTimeout(keyedChoice); keyedChoice = null;  // Back in a keyboard user's pause: the choice is left
        fromAddress = window.location.search.slice(1); loadWeb("address");
      });
    }
    document.getElementById("controls").addEventListener("submit", function (e) { e.preventDefault(); });
    // The skip link moves the focus itself: followed as a link, "#main" was a step for Back,
    // and its popstate loaded the figures again.
    document.getElementById("skip").addEventListener("click", function (e) {
      e.preventDefault(); document.getElementById("main").focus();
    });
    Array.prototype.forEach.call(document.querySelectorAll('input[name="stack"]'), function (r) {
      r.addEventListener("change", function () { state.stack = r.value; viewChanged(); if (state.data) renderDaily(state.data); });
    });
    document.getElementById("tabs").addEventListener("click", function (e) {
      var dim = e.target && e.target.getAttribute && e.target.getAttribute("data-dim");
      if (dim) { state.dim = dim; viewChanged(); if (state.data) { renderBreakdown(state.data); renderNotes(state.data); } }
      if (dim && mode === "web" && state.data && !state.data.breakdowns[dim]) more(state.generation);
    });
    // The tab pattern a keyboard expects of a tablist: arrows, Home and End move to a tab and show it.
    document.getElementById("tabs").addEventListener("keydown", function (e) {
      var tabs = Array.prototype.slice.call(document.querySelectorAll("#tabs button"));
      var i = tabs.indexOf(document.activeElement), next = null;
      if (i < 0) return;
      if (e.key === "ArrowRight") next = tabs[(i + 1) % tabs.length];
      else if (e.key === "ArrowLeft") next = tabs[(i - 1 + tabs.length) % tabs.length];
      else if (e.key === "Home") next = tabs[0];
      else if (e.key === "End") next = tabs[tabs.length - 1];
      if (!next) return;
      e.preventDefault(); next.focus(); next.click();
    });
    // The charts are drawn at their box's width: drawn again when it changes (a phone turned).
    var drawnAt = null, resized = null;
    window.addEventListener("resize", function () {
      clearTimeout(resized);
      resized = setTimeout(function () {
        var w = chartWidth("daily");
        if (state.data && w !== drawnAt) { drawnAt = w; renderDaily(state.data); renderBreakdown(state.data); renderHourly(state.data); }
        scrollable();
      }, 150);
    });
    // The minute's refresh in a keyboard user's pause is their choice, made then: refreshed
    // quietly, it took the new figures without a step for Back, and the choice that followed
    // found the address already its own and added none either.
    if (mode === "web") { loadWeb("address"); setInterval(function () { if (keyedChoice !== null) apply(); else loadWeb("quiet"); }, REFRESH_MS); }
    else startApp();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
