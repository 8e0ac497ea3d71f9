// Points on one canvas of their own: a Leaflet layer that draws every point of a kind (alerts,
// devices, units) in one pass, grouped by style so that each colour is one path and one fill,
// and clusters them on a screen grid below a zoom. It redraws only when the view settles
// (moveend, zoomend) and follows a drag or a zoom animation by a CSS transform of the canvas, as
// Leaflet's own renderers do, so a frame while panning costs nothing per point. Clicks and hovers
// are found through a grid of what was drawn, not by asking 10,000 layers.

const L = window.L;
const HIT_CELL = 24; // px of the hit grid; the largest point is smaller than this
const HIT_SLOP = 3; // px a click may miss a point by

// options: style(data) -> a shared style {radius, fill, stroke, width, alpha, rank, shape, alone};
// tip(data) -> text; onClick(data); cluster: false or {belowZoom, cell}; pane.
export const PointsLayer = L.Layer.extend({
  options: { pane: "overlayPane", padding: 0.3, cluster: false },

  initialize(options) {
    L.setOptions(this, options);
    this.points = new Map(); // id -> {id, data, at: zoom-0 pixel point, style}
    this._hits = new Map();
    this._queued = false;
  },

  onAdd(map) {
    const canvas = (this._canvas = L.DomUtil.create("canvas", "leaflet-zoom-animated qzx-points"));
    canvas.style.pointerEvents = "none"; // the map's container answers for it (see _onClick)
    this.getPane().appendChild(canvas);
    this._ctx = canvas.getContext("2d");
    const box = map.getContainer();
    this._click = (e) => this._onClick(e);
    this._move = (e) => this._onMove(e);
    box.addEventListener("click", this._click, true); // before the shared canvas takes it
    box.addEventListener("mousemove", this._move, { passive: true });
    box.addEventListener("mouseleave", this._move, { passive: true });
    this._tip = L.tooltip({ direction: "top", offset: [0, -6] });
    this._reset();
  },

  onRemove(map) {
    const box = map.getContainer();
    box.removeEventListener("click", this._click, true);
    box.removeEventListener("mousemove", this._move);
    box.removeEventListener("mouseleave", this._move);
    map.closeTooltip(this._tip);
    L.DomUtil.remove(this._canvas);
    this._hits.clear();
  },

  getEvents() {
    return { viewreset: this._reset, zoom: this._onZoom, zoomanim: this._onZoomAnim, moveend: this._reset, resize: this._reset };
  },

  // Replaces the whole set; points whose data and style did not change keep their projection.
  setPoints(items, key = (d) => d.id, latLng = (d) => d.location) {
    const crs = L.CRS.EPSG3857; // the map's (Leaflet's default); a layer off the map projects too
    const seen = new Set();
    for (const d of items) {
      const ll = latLng(d);
      if (!ll || typeof ll.lat !== "number" || typeof ll.lon !== "number") continue;
      const id = key(d);
      seen.add(id);
      const old = this.points.get(id);
      const style = this.options.style(d);
      if (old && old.lat === ll.lat && old.lon === ll.lon) {
        old.data = d;
        old.style = style;
      } else {
        this.points.set(id, { id, data: d, lat: ll.lat, lon: ll.lon, at: crs.latLngToPoint(L.latLng(ll.lat, ll.lon), 0), style });
      }
    }
    for (const id of this.points.keys()) if (!seen.has(id)) this.points.delete(id);
    if (this._map) this._draw(); // callers batch their updates in a frame already
  },

  redraw() {
    if (this._queued || !this._map) return;
    this._queued = true;
    requestAnimationFrame(() => {
      this._queued = false;
      if (this._map) this._draw();
    });
  },

  _reset() {
    const map = this._map;
    const size = map.getSize();
    const pad = this.options.padding;
    const min = map.containerPointToLayerPoint(size.multiplyBy(-pad)).round();
    this._bounds = L.bounds(min, min.add(size.multiplyBy(1 + 2 * pad)).round());
    this._center = map.getCenter();
    this._zoom = map.getZoom();
    const dpr = window.devicePixelRatio || 1;
    const extent = this._bounds.getSize();
    L.DomUtil.setPosition(this._canvas, min);
    this._canvas.width = Math.round(extent.x * dpr);
    this._canvas.height = Math.round(extent.y * dpr);
    this._canvas.style.width = `${extent.x}px`;
    this._canvas.style.height = `${extent.y}px`;
    this._draw();
  },

  _onZoom() {
    this._transform(this._map.getCenter(), this._map.getZoom());
  },

  _onZoomAnim(e) {
    this._transform(e.center, e.zoom);
  },

  // The drawn picture scaled and moved to where the coming view puts it (Leaflet's Renderer).
  _transform(center, zoom) {
    const map = this._map;
    if (!this._center) return;
    const scale = map.getZoomScale(zoom, this._zoom);
    const half = map.getSize().multiplyBy(0.5 + this.options.padding);
    const offset = half.multiplyBy(-scale).add(map.project(this._center, zoom)).subtract(map._getNewPixelOrigin(center, zoom));
    L.DomUtil.setTransform(this._canvas, offset, scale);
  },

  _draw() {
    const ctx = this._ctx;
    const b = this._bounds;
    if (!ctx || !b) return;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this._canvas.width, this._canvas.height);
    ctx.setTransform(dpr, 0, 0, dpr, -b.min.x * dpr, -b.min.y * dpr);
    const zoom = this._map.getZoom();
    const scale = this._map.options.crs.scale(zoom) / this._map.options.crs.scale(0);
    const origin = this._map.getPixelOrigin();
    const cluster = this.options.cluster;
    const shown = cluster && zoom < cluster.belowZoom
      ? this._clusters(scale, origin, cluster.cell)
      : this._singles(scale, origin);
    this._hits.clear();
    const groups = new Map(); // style -> [[x, y, item]]
    for (const s of shown) {
      if (!groups.has(s.style)) groups.set(s.style, []);
      groups.get(s.style).push(s);
      const k = `${Math.floor(s.x / HIT_CELL)},${Math.floor(s.y / HIT_CELL)}`;
      if (!this._hits.has(k)) this._hits.set(k, []);
      this._hits.get(k).push(s);
    }
    for (const [style, items] of [...groups].sort((a, b) => (a[0].rank || 0) - (b[0].rank || 0))) {
      paint(ctx, style, items);
    }
    const counted = shown.filter((s) => s.count > 1);
    if (counted.length) {
      ctx.font = "bold 10px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillStyle = "#06101f";
      for (const s of counted) ctx.fillText(s.count > 999 ? `${Math.round(s.count / 1000)}k` : String(s.count), s.x, s.y + 0.5);
    }
    this.drawn = shown.length; // for the tests and the benchmark
  },

  _singles(scale, origin) {
    const b = this._bounds;
    const out = [];
    for (const p of this.points.values()) {
      const x = p.at.x * scale - origin.x;
      const y = p.at.y * scale - origin.y;
      if (x < b.min.x || y < b.min.y || x > b.max.x || y > b.max.y) continue;
      out.push({ x, y, style: p.style, point: p, count: 1 });
    }
    return out;
  },

  // One disc per grid cell, at the members' centroid, in the colour of its most urgent member.
  _clusters(scale, origin, cell) {
    const b = this._bounds;
    const cells = new Map();
    const out = [];
    for (const p of this.points.values()) {
      const x = p.at.x * scale - origin.x;
      const y = p.at.y * scale - origin.y;
      if (x < b.min.x || y < b.min.y || x > b.max.x || y > b.max.y) continue;
      if (p.style.alone) {
        out.push({ x, y, style: p.style, point: p, count: 1 }); // the selection stays itself
        continue;
      }
      const k = `${Math.floor(x / cell)},${Math.floor(y / cell)}`;
      const c = cells.get(k);
      if (!c) cells.set(k, { sx: x, sy: y, count: 1, point: p, top: p.style });
      else {
        c.sx += x;
        c.sy += y;
        c.count += 1;
        if ((p.style.rank || 0) > (c.top.rank || 0)) c.top = p.style;
      }
    }
    for (const c of cells.values()) {
      const x = c.sx / c.count;
      const y = c.sy / c.count;
      out.push(c.count === 1
        ? { x, y, style: c.point.style, point: c.point, count: 1 }
        : { x, y, style: clusterStyle(c.top, c.count), count: c.count });
    }
    return out;
  },

  _hit(e) {
    const map = this._map;
    const at = map.containerPointToLayerPoint(map.mouseEventToContainerPoint(e));
    const cx = Math.floor(at.x / HIT_CELL);
    const cy = Math.floor(at.y / HIT_CELL);
    let best = null;
    let bestD = Infinity;
    for (let i = -1; i <= 1; i += 1) {
      for (let j = -1; j <= 1; j += 1) {
        for (const s of this._hits.get(`${cx + i},${cy + j}`) || []) {
          const d = Math.hypot(s.x - at.x, s.y - at.y);
          // The most urgent wins among overlapping points, then the nearest.
          if (d <= s.style.radius + HIT_SLOP && (!best || s.style.rank > best.style.rank || (s.style.rank === best.style.rank && d < bestD))) {
            best = s;
            bestD = d;
          }
        }
      }
    }
    return best;
  },

  _onClick(e) {
    const map = this._map;
    if (map.dragging && map.dragging.moved()) return;
    const hit = this._hit(e);
    if (!hit) return;
    e.stopPropagation(); // the shared canvas under it (hazard circles) does not take this click
    if (hit.count > 1) {
      const p = map.layerPointToLatLng(L.point(hit.x, hit.y));
      map.setView(p, Math.max(this.options.cluster.belowZoom, map.getZoom() + 2));
    } else if (this.options.onClick) {
      this.options.onClick(hit.point.data);
    }
  },

  _onMove(e) {
    const map = this._map;
    const hit = e.type === "mousemove" && !map.dragging?.moved?.() ? this._hit(e) : null;
    map.getContainer().classList.toggle("qzx-points-hover", Boolean(hit));
    if (!hit) {
      if (this._tipFor) map.closeTooltip(this._tip);
      this._tipFor = null;
      return;
    }
    if (this._tipFor === hit) return;
    this._tipFor = hit;
    const text = hit.count > 1
      ? `${hit.count} · ${this.options.clusterTip ? this.options.clusterTip(hit.count) : ""}`
      : this.options.tip(hit.point.data);
    const content = document.createElement("span");
    content.textContent = text; // data (plates, names) never becomes markup
    this._tip.setLatLng(map.layerPointToLatLng(L.point(hit.x, hit.y))).setContent(content);
    if (!map.hasLayer(this._tip)) map.openTooltip(this._tip);
  },
});

// One path per style: every disc (or square) of that style, then one fill and one stroke.
function paint(ctx, style, items) {
  ctx.beginPath();
  const r = style.radius;
  for (const s of items) {
    if (style.shape === "square") ctx.rect(s.x - r, s.y - r, r * 2, r * 2);
    else {
      ctx.moveTo(s.x + r, s.y);
      ctx.arc(s.x, s.y, r, 0, Math.PI * 2);
    }
  }
  ctx.globalAlpha = style.alpha ?? 1;
  if (style.fill) {
    ctx.fillStyle = style.fill;
    ctx.fill();
  }
  if (style.stroke && style.width) {
    ctx.globalAlpha = style.strokeAlpha ?? style.alpha ?? 1;
    ctx.strokeStyle = style.stroke;
    ctx.lineWidth = style.width;
    ctx.stroke();
  }
  ctx.globalAlpha = 1;
}

const clusterStyles = new Map();
function clusterStyle(top, count) {
  const size = Math.min(5, Math.ceil(Math.log10(count + 1) * 2)); // a few sizes, shared styles
  const key = `${top.fill}|${size}`;
  if (!clusterStyles.has(key)) {
    clusterStyles.set(key, {
      radius: 7 + size * 2, fill: top.fill, stroke: "#06101f", width: 1.5, alpha: 0.85, rank: (top.rank || 0) + 100,
    });
  }
  return clusterStyles.get(key);
}

// Styles are shared objects (grouping is by identity): one per distinct look.
export function styleCache(build) {
  const cache = new Map();
  return (key, ...args) => {
    if (!cache.has(key)) cache.set(key, build(...args));
    return cache.get(key);
  };
}
