// Charts of the web UI's LLM tab: requests/s, failures/s, TTFT p50/p95,
// ITL p50/p99 and output tokens/s over time, one line per user class and tier.
// Plain SVG, no library and no CDN (the UI must work offline). The panel is one
// node of ours placed right after the tab's table and hidden on other tabs;
// React leaves a node it did not create alone, and a redraw that moves the
// table moves the panel back beside it.
(function () {
  "use strict";
  var POLL_MS = 2000;
  var COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
  var CHARTS = [
    { key: "requests", title: "Requests/s", lines: [["requests_per_s", ""]] },
    { key: "failures", title: "Failures/s", lines: [["failures_per_s", ""]] },
    { key: "ttft", title: "TTFT (ms): p50 solid, p95 dashed", lines: [["ttft_p50_ms", ""], ["ttft_p95_ms", "5,4"]] },
    { key: "itl", title: "ITL (ms): p50 solid, p99 dashed", lines: [["itl_p50_ms", ""], ["itl_p99_ms", "5,4"]] },
    { key: "tokens", title: "Output tokens/s", lines: [["output_tokens_per_s", ""]] },
  ];
  var W = 560, H = 200, L = 52, R = 10, T = 10, B = 24;
  var SVG_NS = "http://www.w3.org/2000/svg";
  var points = [];
  var generation = null;

  function el(ns, name, attrs, text) {
    var node = ns ? document.createElementNS(ns, name) : document.createElement(name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function onLlmTab() {
    return new URLSearchParams(window.location.search).get("tab") === "llm";
  }

  function panel() {
    var p = document.getElementById("llm-charts");
    if (!p) {
      p = el(null, "section", { id: "llm-charts", "aria-label": "LLM charts" });
      p.style.cssText = "margin:16px 0;display:none;";
      document.body.appendChild(p);
    }
    return p;
  }

  // Beside the LLM tab's table (found by one of its column keys) while that tab is shown.
  function place() {
    var p = panel();
    var th = document.querySelector('#root th[data-sortkey="ttftP50"]');
    var table = th && th.closest(".MuiTableContainer-root");
    if (!onLlmTab() || !table) {
      if (p.style.display !== "none") p.style.display = "none";
      return false;
    }
    if (table.nextElementSibling !== p) table.after(p);
    if (p.style.display !== "block") p.style.display = "block";
    return true;
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    var step = Math.pow(10, Math.floor(Math.log10(v)));
    var m = [1, 2, 2.5, 5, 10].find(function (f) { return f * step >= v; });
    return m * step;
  }

  function clock(t) {
    return new Date(t * 1000).toTimeString().slice(0, 8);
  }

  function drawChart(spec, series, t0, t1) {
    var fig = el(null, "figure", { "data-chart": spec.key });
    fig.style.cssText = "margin:0;padding:8px;border:1px solid rgba(128,128,128,.35);border-radius:4px;";
    fig.appendChild(el(null, "figcaption", { style: "font-size:14px;margin-bottom:4px;" }, spec.title));
    var svg = el(SVG_NS, "svg", { viewBox: "0 0 " + W + " " + H, width: "100%", role: "img",
                                  "aria-label": spec.title, style: "color:inherit;display:block;" });
    var max = 0;
    series.forEach(function (name) {
      points.forEach(function (p) {
        if (p.series !== name) return;
        spec.lines.forEach(function (line) { var v = p[line[0]]; if (v !== null && v > max) max = v; });
      });
    });
    max = niceMax(max);
    var span = Math.max(1, t1 - t0);
    var x = function (t) { return L + (W - L - R) * (t - t0) / span; };
    var y = function (v) { return T + (H - T - B) * (1 - v / max); };
    for (var i = 0; i <= 4; i++) {
      var v = max * i / 4;
      svg.appendChild(el(SVG_NS, "line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "currentColor",
                                          "stroke-opacity": i ? 0.15 : 0.5 }));
      svg.appendChild(el(SVG_NS, "text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11,
                                          fill: "currentColor" }, +v.toPrecision(3) + ""));
    }
    [t0, (t0 + t1) / 2, t1].forEach(function (t, k) {
      svg.appendChild(el(SVG_NS, "text", { x: x(t), y: H - 6, "font-size": 11, fill: "currentColor",
                                          "text-anchor": ["start", "middle", "end"][k] }, clock(t)));
    });
    series.forEach(function (name, s) {
      spec.lines.forEach(function (line) {
        var d = "", n = 0, pen = "M";
        points.forEach(function (p) {
          if (p.series !== name) return;
          var v = p[line[0]];
          if (v === null) { pen = "M"; return; }  // no data in that window: a gap, not a zero
          d += pen + x(p.time).toFixed(1) + " " + y(v).toFixed(1) + " ";
          pen = "L";
          n += 1;
        });
        svg.appendChild(el(SVG_NS, "path", { d: d.trim(), fill: "none", stroke: COLORS[s % COLORS.length],
                                            "stroke-width": 1.6, "stroke-dasharray": line[1] || "none",
                                            "data-series": name, "data-field": line[0], "data-points": n }));
      });
    });
    fig.appendChild(svg);
    return fig;
  }

  function draw() {
    var p = panel();
    if (!place()) return;
    var series = [];
    points.forEach(function (q) { if (series.indexOf(q.series) < 0) series.push(q.series); });
    p.replaceChildren();
    var head = el(null, "div", { style: "display:flex;gap:16px;align-items:center;flex-wrap:wrap;margin-bottom:8px;" });
    head.appendChild(el(null, "strong", {}, "Over time, per user class (tier), 10 s windows"));
    series.forEach(function (name, s) {
      var item = el(null, "span", { "data-legend": name }, name);
      item.style.cssText = "border-left:14px solid " + COLORS[s % COLORS.length] + ";padding-left:6px;";
      head.appendChild(item);
    });
    head.appendChild(el(null, "a", { href: "./llm/history.csv", download: "llm_history.csv" }, "Download as CSV"));
    p.appendChild(head);
    if (!points.length) {
      p.appendChild(el(null, "p", {}, "No requests finished yet."));
      return;
    }
    var grid = el(null, "div", { style: "display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:12px;" });
    var t0 = points[0].time, t1 = points[points.length - 1].time;
    CHARTS.forEach(function (spec) { grid.appendChild(drawChart(spec, series, t0, t1)); });
    p.appendChild(grid);
  }

  function poll() {
    var since = points.length ? points[points.length - 1].time : 0;
    fetch("./llm/history?since=" + since)
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        if (data.generation !== generation) { points = []; generation = data.generation; }  // stats were reset
        points = points.concat(data.points);
        draw();
      })
      .catch(function () { /* the UI is stopping; the next poll tries again */ })
      .finally(function () { window.setTimeout(poll, POLL_MS); });
  }

  function start() {
    // tabs change the URL without a page load: follow them as soon as React redraws
    new MutationObserver(function () {
      if (place() && !panel().firstChild) draw();
    }).observe(document.getElementById("root"), { childList: true, subtree: true });
    poll();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
