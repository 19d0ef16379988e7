// Chart interaction: a cursor and a readout of every line's value at the pointer
// (or at the arrow keys' position when the chart has focus). Works on charts that
// the status page swaps in, through event delegation.
"use strict";
(function () {
  function lines(svg) {
    return Array.from(svg.querySelectorAll("polyline.line")).map((pl) => {
      const xy = pl.getAttribute("points").split(" ").map((p) => Number(p.split(",")[0]));
      const data = pl.dataset.points.split(";").map((p) => p.split(":").map(Number));
      return { name: pl.dataset.name, x: xy, data: data };
    });
  }
  function nearest(xs, x) {
    let best = 0;
    for (let i = 1; i < xs.length; i++) if (Math.abs(xs[i] - x) < Math.abs(xs[best] - x)) best = i;
    return best;
  }
  function clock(t) {
    return new Date(t * 1000).toISOString().slice(11, 19) + " UTC";
  }
  function format(v, unit) {
    if (unit === "s") return v < 1e-3 ? (v * 1e6).toPrecision(3) + " µs" : v < 1 ? (v * 1e3).toPrecision(3) + " ms" : v.toPrecision(3) + " s";
    return (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3)) + (unit ? " " + unit : "");
  }
  function point(svg, x) {
    const all = lines(svg);
    if (!all.length) return;
    let cursor = svg.querySelector("line.cursor");
    if (!cursor) {
      cursor = document.createElementNS("http://www.w3.org/2000/svg", "line");
      cursor.setAttribute("class", "cursor");
      svg.appendChild(cursor);
    }
    const i = nearest(all[0].x, x);
    const cx = all[0].x[i];
    cursor.setAttribute("x1", cx);
    cursor.setAttribute("x2", cx);
    cursor.setAttribute("y1", 8);
    cursor.setAttribute("y2", 176);
    svg.dataset.at = String(cx);
    const parts = all.map((ln) => {
      const j = nearest(ln.x, cx);
      return ln.name + " " + format(ln.data[j][1], svg.dataset.unit);
    });
    const readout = svg.parentElement.querySelector(".readout");
    if (readout) readout.textContent = clock(all[0].data[i][0]) + ": " + parts.join(", ");
  }
  function toView(svg, event) {
    const m = svg.getScreenCTM();
    if (!m) return 0;
    return new DOMPoint(event.clientX, event.clientY).matrixTransform(m.inverse()).x;
  }
  document.addEventListener("pointermove", (event) => {
    const svg = event.target.closest && event.target.closest("svg.plot");
    if (svg && svg.querySelector("polyline.line")) point(svg, toView(svg, event));
  });
  document.addEventListener("keydown", (event) => {
    const svg = document.activeElement;
    if (!svg || !svg.matches || !svg.matches("svg.plot") || !svg.querySelector("polyline.line")) return;
    if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
    event.preventDefault();
    const xs = lines(svg)[0].x;
    const at = svg.dataset.at === undefined ? xs[xs.length - 1] : Number(svg.dataset.at);
    const i = nearest(xs, at) + (event.key === "ArrowLeft" ? -1 : 1);
    point(svg, xs[Math.max(0, Math.min(xs.length - 1, i))]);
  });
})();
