// The review page: draws data.js (window.REVIEW, written by `python -m pipeline.review`) into the page.
// Works from disk with no server. Filters are kept in the address (#type=motion&min=0.8&max=1&q=text),
// so a filtered view can be bookmarked, shared, or opened directly.
(function () {
  "use strict";
  var R = window.REVIEW;
  if (!R) {
    document.getElementById("run").textContent = "data.js is missing: rerun python -m pipeline.review.";
    return;
  }
  var SVG = "http://www.w3.org/2000/svg";
  var BLURRY_TYPES = ["gaussian", "motion", "minfilter", "defocus"];

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var key in attrs || {}) node.setAttribute(key, attrs[key]);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function svgEl(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    for (var key in attrs) node.setAttribute(key, attrs[key]);
    return node;
  }
  function fmt(n) { return Number(n).toLocaleString("en-US"); }
  function baseName(uri) { var parts = uri.split("/"); return parts[parts.length - 1] || uri; }

  // --- whole-run figures -----------------------------------------------------------------------------
  function drawRun() {
    var run = R.run;
    document.getElementById("run").textContent =
      run.scores + " \u00b7 " + run.shards + " shard(s)" + (run.manifest ? "" : " (no manifest: older run)") +
      " \u00b7 model " + (run.model_versions.join(", ") || "?") +
      " \u00b7 blurry at blur_probability \u2265 " + run.blur_threshold +
      " \u00b7 Laplacian rule: laplacian_var < " + run.laplacian_threshold +
      (run.generated_at ? " \u00b7 made " + run.generated_at : "");
    var counts = document.getElementById("counts");
    [["files", "files"], ["ok", "scored"], ["errors", "errors"], ["skipped", "skipped"],
     ["blurry", "blurry"], ["kept", "kept"]].forEach(function (pair) {
      var box = el("div");
      box.appendChild(el("dt", {}, pair[1]));
      box.appendChild(el("dd", { "data-count": pair[0] }, fmt(R.counts[pair[0]])));
      counts.appendChild(box);
    });
    var types = document.getElementById("types");
    var most = Math.max.apply(null, BLURRY_TYPES.map(function (t) { return R.counts.by_type[t] || 0; }).concat([1]));
    BLURRY_TYPES.concat(["bokeh", "none"]).forEach(function (t) {
      var n = R.counts.by_type[t] || 0;
      var row = el("tr", { "data-type": t });
      var name = el("td");
      name.appendChild(el("a", { href: "#type=" + t }, t));
      row.appendChild(name);
      row.appendChild(el("td", { "class": "n", "data-count": t }, fmt(n)));
      var bar = el("td", { "class": "bar" });
      if (BLURRY_TYPES.indexOf(t) >= 0) bar.appendChild(el("span", { style: "width:" + Math.round(120 * n / most) + "px" }));
      else bar.appendChild(el("small", {}, "kept"));
      row.appendChild(bar);
      types.appendChild(row);
    });
    histogram(document.getElementById("hist-probability"), R.histograms.probability, [0, 0.25, 0.5, 0.75, 1],
              function (v) { return String(Math.round(v * 100) / 100); });
    var lap = R.histograms.laplacian_log10, powers = [];
    for (var e = Math.ceil(lap.edges[0]); e <= lap.edges[lap.edges.length - 1]; e++) powers.push(e);
    histogram(document.getElementById("hist-laplacian"), lap, powers, function (v) {
      var x = Math.pow(10, v); return x >= 1000 ? Math.round(x / 1000) + "k" : String(Math.round(x * 10) / 10);
    });
    var errors = document.getElementById("errors");
    if (!R.errors.length) { errors.appendChild(el("tr")).appendChild(el("td", { "class": "empty" }, "none")); return; }
    var head = el("tr");
    ["reason", "files", "for example"].forEach(function (h) { head.appendChild(el("th", {}, h)); });
    errors.appendChild(head);
    R.errors.forEach(function (e) {
      var row = el("tr", { "class": "error-kind" });
      row.appendChild(el("td", {}, e.kind));
      row.appendChild(el("td", { "class": "n" }, fmt(e.count)));
      row.appendChild(el("td", { "class": "example", title: e.example }, e.uri + ": " + e.example));
      errors.appendChild(row);
    });
  }

  function histogram(svg, h, ticks, label) {
    var W = 380, H = 170, left = 34, right = 14, bottom = 22, top = 8, n = h.blurry.length;
    var totals = h.blurry.map(function (b, i) { return b + h.kept[i]; });
    var peak = Math.max.apply(null, totals.concat([1]));
    var lo = h.edges[0], hi = h.edges[n], bw = (W - left - right) / n;
    function x(v) { return left + (v - lo) / (hi - lo) * (W - left - right); }
    function y(c) { return (H - bottom) - c / peak * (H - bottom - top); }
    svg.appendChild(svgEl("line", { "class": "axis", x1: left, y1: H - bottom, x2: W - right, y2: H - bottom }));
    for (var i = 0; i < n; i++) {
      var kept = svgEl("rect", { "class": "kept", x: left + i * bw + 0.5, width: Math.max(bw - 1, 1), y: y(h.kept[i]),
                                 height: (H - bottom) - y(h.kept[i]), "data-count": h.kept[i] });
      var blurry = svgEl("rect", { "class": "blurry", x: left + i * bw + 0.5, width: Math.max(bw - 1, 1),
                                   y: y(totals[i]), height: y(h.kept[i]) - y(totals[i]), "data-count": h.blurry[i] });
      var tip = svgEl("title", {});
      tip.textContent = label(h.edges[i]) + "\u2013" + label(h.edges[i + 1]) + ": " + h.blurry[i] + " blurry, " + h.kept[i] + " kept";
      kept.appendChild(tip); blurry.appendChild(tip.cloneNode(true));
      svg.appendChild(kept); svg.appendChild(blurry);
    }
    ticks.forEach(function (v) {
      var t = svgEl("text", { x: x(v), y: H - 6, "text-anchor": "middle" });
      t.textContent = label(v); svg.appendChild(t);
    });
    var peakText = svgEl("text", { x: left - 4, y: top + 8, "text-anchor": "end" });
    peakText.textContent = fmt(peak); svg.appendChild(peakText);
    var zero = svgEl("text", { x: left - 4, y: H - bottom, "text-anchor": "end" });
    zero.textContent = "0"; svg.appendChild(zero);
    if (h.threshold >= lo && h.threshold <= hi) {
      svg.appendChild(svgEl("line", { "class": "threshold", x1: x(h.threshold), x2: x(h.threshold), y1: top, y2: H - bottom }));
    }
  }

  // --- filters ---------------------------------------------------------------------------------------
  function readFilter() {
    var text = (location.hash || location.search || "").replace(/^[#?]/, "");
    var params = new URLSearchParams(text), f = { type: params.get("type") || "", q: params.get("q") || "" };
    var min = parseFloat(params.get("min")), max = parseFloat(params.get("max"));
    f.min = isNaN(min) ? null : min;
    f.max = isNaN(max) ? null : max;
    return f;
  }
  function writeFilter(f) {
    var params = new URLSearchParams();
    if (f.type) params.set("type", f.type);
    if (f.min !== null) params.set("min", f.min);
    if (f.max !== null) params.set("max", f.max);
    if (f.q) params.set("q", f.q);
    var text = params.toString();
    history.replaceState(null, "", text ? "#" + text : location.pathname);
  }
  function matches(tile, f) {
    if (f.type && tile.y !== f.type) return false;
    if (f.min !== null && tile.p < f.min) return false;
    if (f.max !== null && tile.p > f.max) return false;
    if (f.q && tile.u.toLowerCase().indexOf(f.q.toLowerCase()) < 0) return false;
    return true;
  }
  var inputs = { type: document.getElementById("f-type"), min: document.getElementById("f-min"),
                 max: document.getElementById("f-max"), q: document.getElementById("f-q") };
  BLURRY_TYPES.concat(["bokeh", "none"]).forEach(function (t) { inputs.type.appendChild(el("option", { value: t }, t)); });
  function showFilter(f) {
    inputs.type.value = f.type; inputs.q.value = f.q;
    inputs.min.value = f.min === null ? "" : f.min; inputs.max.value = f.max === null ? "" : f.max;
  }
  function filterFromInputs() {
    var min = parseFloat(inputs.min.value), max = parseFloat(inputs.max.value);
    return { type: inputs.type.value, q: inputs.q.value.trim(), min: isNaN(min) ? null : min, max: isNaN(max) ? null : max };
  }

  // --- keep / reject marks, downloaded as overrides.csv (pipeline/results/overrides.py) ---------------
  var tileOf = {};
  R.tiles.forEach(function (t) { tileOf[t.u] = t; });
  var STORE = "blur-review-overrides:" + R.run.scores;
  // A mark holds the photo's facts as it was when marked: a mark kept from an earlier review of a photo
  // since replaced (another size, time or CRC32C in this run) is dropped, never carried to the new photo.
  function facts(t) { return [t.fs, t.fm, t.fc].join("|"); }
  var marks = {};
  try { marks = JSON.parse(localStorage.getItem(STORE) || "{}") || {}; } catch (e) { marks = {}; }
  for (var markedUri in marks) {
    var known = tileOf[markedUri], mark = marks[markedUri];
    if (!known || !mark || mark.f !== facts(known) || (mark.d !== "keep" && mark.d !== "reject")) delete marks[markedUri];
  }
  var markCount = document.getElementById("o-count");

  function showMarks() {
    var n = Object.keys(marks).length;
    markCount.textContent = n ? n + " marked" : "none marked";
    markCount.setAttribute("data-marked", n);
    document.querySelectorAll("figure.tile").forEach(function (fig) {
      var mark = marks[fig.getAttribute("data-uri")], decision = mark ? mark.d : "";
      fig.setAttribute("data-decision", decision);
      fig.querySelectorAll("button[data-mark]").forEach(function (b) {
        b.setAttribute("aria-pressed", b.getAttribute("data-mark") === decision ? "true" : "false");
      });
    });
  }
  function setMark(uri, decision) {
    if (marks[uri] && marks[uri].d === decision) delete marks[uri];  // a second click clears
    else marks[uri] = { d: decision, f: facts(tileOf[uri]) };
    try { localStorage.setItem(STORE, JSON.stringify(marks)); } catch (e) { /* private mode: this page only */ }
    showMarks();
  }
  function csvField(v) { return v === null || v === undefined ? "" : "\"" + String(v).replace(/"/g, "\"\"") + "\""; }
  function overridesCsv() {
    var lines = ["uri,decision,file_size,modified_at,crc32c"];
    Object.keys(marks).sort().forEach(function (uri) {
      var t = tileOf[uri];
      lines.push([uri, marks[uri].d, t.fs, t.fm, t.fc].map(csvField).join(","));
    });
    return lines.join("\r\n") + "\r\n";
  }
  document.getElementById("o-download").addEventListener("click", function () {
    var link = el("a", { href: URL.createObjectURL(new Blob([overridesCsv()], { type: "text/csv" })),
                         download: "overrides.csv" });
    document.body.appendChild(link); link.click(); link.remove();
  });
  document.getElementById("o-clear").addEventListener("click", function () {
    marks = {}; try { localStorage.removeItem(STORE); } catch (e) { /* nothing kept */ }
    showMarks();
  });

  // --- galleries -------------------------------------------------------------------------------------
  function tileNode(tile, sectionId) {
    var fig = el("figure", { "class": "tile", "data-uri": tile.u, "data-p": tile.p, "data-type": tile.y });
    var views = el("div", { "class": "views" });
    var frame = el("a", { "class": "frame", href: tile.h, target: "_blank", rel: "noopener", title: tile.u });
    if (tile.t) frame.appendChild(el("img", { src: tile.t, loading: "lazy", alt: baseName(tile.u) }));
    else frame.appendChild(el("span", { "class": "placeholder" }, "no preview (the original could not be read)"));
    views.appendChild(frame);
    if (tile.c && tile.d) {
      // Shown at its own pixels (object-fit: none): the middle of the region, as the sensor recorded it.
      var crop = el("a", { "class": "crop", href: tile.c, target: "_blank", rel: "noopener",
        title: "1:1 crop of the most detailed region the model judged: " + tile.d[2] + "\u00d7" + tile.d[2] +
               " px at " + tile.d[0] + ", " + tile.d[1] + " (click: all of it)" });
      crop.appendChild(el("img", { src: tile.c, loading: "lazy", alt: "1:1 detail of " + baseName(tile.u),
                                   "data-box": tile.d.join(",") }));
      views.appendChild(crop);
    }
    fig.appendChild(views);
    var cap = el("figcaption"), facts = el("div", { "class": "facts" });
    if (sectionId === "bursts") {
      facts.appendChild(el("span", { "class": "rank" + (tile.r === 1 ? " best" : ""), "data-rank": tile.r },
                           tile.r === 1 ? "#1 best" : "#" + tile.r));
    }
    facts.appendChild(el("span", { "class": "p", title: "blur_probability" }, tile.p.toFixed(3)));
    facts.appendChild(el("span", { "class": "type" + (tile.b ? " b" : "") }, tile.y));
    if (tile.w) facts.appendChild(el("span", { "class": "size" }, tile.w + "\u00d7" + tile.hh));
    cap.appendChild(facts);
    cap.appendChild(el("a", { "class": "name", href: tile.h, target: "_blank", rel: "noopener", title: tile.u }, baseName(tile.u)));
    var folder = tile.u.slice(0, tile.u.length - baseName(tile.u).length);
    if (folder) cap.appendChild(el("span", { "class": "folder", title: tile.u }, folder));
    if (sectionId === "disagree") {
      cap.appendChild(el("div", { "class": "rules" }, "model: " + (tile.b ? "blurry" : "keep") + " \u00b7 Laplacian " +
        (tile.l === null ? "?" : tile.l) + ": " + (tile.lb ? "blurry" : "sharp")));
    }
    var buttons = el("div", { "class": "marks" });
    [["keep", "keep"], ["reject", "reject"]].forEach(function (pair) {
      var b = el("button", { type: "button", "data-mark": pair[0], "aria-pressed": "false",
                             title: pair[0] === "keep" ? "cull never touches this photo" : "cull acts on this photo" }, pair[1]);
      b.addEventListener("click", function () { setMark(tile.u, pair[0]); });
      buttons.appendChild(b);
    });
    cap.appendChild(buttons);
    fig.appendChild(cap);
    return fig;
  }

  var galleries = document.getElementById("galleries"), toc = document.getElementById("toc");
  R.sections.concat([{ id: "bursts", title: "Bursts", total: R.bursts.total }]).forEach(function (s) {
    var a = el("a", { href: "#" }, s.title + " (" + fmt(s.total) + ")");
    a.addEventListener("click", function (event) {
      event.preventDefault(); document.getElementById(s.id).scrollIntoView();
    });
    toc.appendChild(a);
  });

  function drawBursts(f) {
    var B = R.bursts, section = el("section", { id: "bursts", "class": "gallery", "data-total": B.total });
    var shown = B.groups.filter(function (g) { return g.tiles.some(function (i) { return matches(R.tiles[i], f); }); });
    var heading = el("h2", {}, "Bursts");
    heading.appendChild(el("span", { "class": "count", "data-shown": shown.length },
      B.total > B.groups.length ? "the " + fmt(B.groups.length) + " largest of " + fmt(B.total) + " bursts"
                                : fmt(B.total) + " burst(s)"));
    section.appendChild(heading);
    section.appendChild(el("p", { "class": "note" }, "near-identical frames of one camera, the sharpest first (#1 is the " +
      "one to keep; probabilities within 0.01 are a tie, won by the more detailed frame); most frames first. " +
      "A burst is shown when any of its frames matches the filter."));
    shown.forEach(function (g) {
      var box = el("div", { "class": "burst", "data-burst": g.id, "data-size": g.size });
      box.appendChild(el("h3", {}, g.size + " frames" + (g.size > g.tiles.length ? " (the best " + g.tiles.length + " shown)" : "")));
      var strip = el("div", { "class": "strip" });
      g.tiles.forEach(function (i) { strip.appendChild(tileNode(R.tiles[i], "bursts")); });
      box.appendChild(strip);
      section.appendChild(box);
    });
    if (!shown.length) section.appendChild(el("p", { "class": "empty" }, B.total ? "no burst here matches the filter" : "none in this run"));
    galleries.appendChild(section);
  }

  function drawGalleries(f) {
    galleries.textContent = "";
    R.sections.forEach(function (s) {
      var section = el("section", { id: s.id, "class": "gallery", "data-total": s.total });
      var shown = s.tiles.filter(function (i) { return matches(R.tiles[i], f); });
      var heading = el("h2", {}, s.title);
      var count = shown.length === s.tiles.length
        ? (s.total > s.tiles.length ? "the first " + fmt(s.tiles.length) + " of " + fmt(s.total) : fmt(s.total) + " photo(s)")
        : fmt(shown.length) + " match the filter, of " + fmt(s.tiles.length) + " shown here (" + fmt(s.total) + " in the run)";
      heading.appendChild(el("span", { "class": "count", "data-shown": shown.length }, count));
      section.appendChild(heading);
      section.appendChild(el("p", { "class": "note" }, s.note));
      var grid = el("div", { "class": "tiles" });
      shown.forEach(function (i) { grid.appendChild(tileNode(R.tiles[i], s.id)); });
      if (!shown.length) grid.appendChild(el("p", { "class": "empty" }, s.total ? "no photo here matches the filter" : "none in this run"));
      section.appendChild(grid);
      galleries.appendChild(section);
    });
    drawBursts(f);
    showMarks();
  }

  function apply(f) { showFilter(f); drawGalleries(f); }
  document.getElementById("filters").addEventListener("input", function () {
    var f = filterFromInputs(); writeFilter(f); drawGalleries(f);
  });
  document.getElementById("f-reset").addEventListener("click", function () {
    var f = { type: "", q: "", min: null, max: null }; writeFilter(f); apply(f);
  });
  window.addEventListener("hashchange", function () { apply(readFilter()); });

  drawRun();
  apply(readFilter());
  // How long the page took to draw itself, for bench/review_scale.py (read back from the rendered DOM).
  document.body.setAttribute("data-drawn-ms", Math.round(performance.now()));
})();
