/*
 * planner-map.js — draws a coverage-planner map from its data (MIT licence, part of coverage-planner).
 *
 * A map page carries what it shows as JSON in <script type="application/json"> (layers of features,
 * title, legend); this file turns it into Leaflet layers.  Every text from the data (site, unit and
 * team names, popups, tooltips, layer names) reaches the page as text (textContent, or escaped where
 * Leaflet takes HTML), never as markup or code.  Styles and icons are checked against short lists.
 *
 * Test hooks: "#open-all" opens every popup and tooltip at once; "#base-only" draws the basemap
 * without the data layers; "#search=text" types text into the search box.
 */
(function (global) {
  'use strict';

  var COLOUR = /^#[0-9a-fA-F]{3,8}$/;
  var GLYPH = /^[a-z0-9-]{1,40}$/;
  var DASH = /^[0-9 ,.]{1,40}$/;
  var NUMERIC_STYLE = ['weight', 'opacity', 'fillOpacity', 'radius'];
  var COLOUR_STYLE = ['color', 'fillColor'];

  function openAll() {
    return /(^#|&)open-all(&|$)/.test(global.location.hash || '');
  }

  function baseOnly() {
    return /(^#|&)base-only(&|$)/.test(global.location.hash || '');
  }

  function hashSearch() {
    var found = /(?:^#|&)search=([^&]*)/.exec(global.location.hash || '');
    return found ? decodeURIComponent(found[1]) : null;
  }

  function escapeHtml(value) {
    return String(value == null ? '' : value).replace(/[&<>"'`]/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;'}[c];
    });
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text != null) { node.textContent = String(text); }
    return node;
  }

  function colour(value, fallback) {
    return (typeof value === 'string' && COLOUR.test(value)) ? value : fallback;
  }

  function number(value, fallback) {
    return (typeof value === 'number' && isFinite(value)) ? value : fallback;
  }

  /* Leaflet path options from the data: known keys with values of the right kind only. */
  function pathStyle(style) {
    var out = {};
    style = style || {};
    COLOUR_STYLE.forEach(function (k) { if (style[k] != null) { out[k] = colour(style[k], '#3388ff'); } });
    NUMERIC_STYLE.forEach(function (k) { if (style[k] != null) { out[k] = number(style[k], 1); } });
    if (typeof style.fill === 'boolean') { out.fill = style.fill; }
    if (typeof style.dashArray === 'string' && DASH.test(style.dashArray)) { out.dashArray = style.dashArray; }
    return out;
  }

  function popupContent(popup) {
    var box = el('div', 'planner-popup');
    if (popup.title != null) { box.appendChild(el('b', 'planner-popup-title', popup.title)); }
    var table = el('table');
    (popup.rows || []).forEach(function (row) {
      var tr = el('tr');
      tr.appendChild(el('th', null, row[0]));
      tr.appendChild(el('td', null, row[1]));
      table.appendChild(tr);
    });
    box.appendChild(table);
    return box;
  }

  function bindTexts(layer, feature, opened) {
    if (feature.popup) {
      layer.bindPopup(popupContent(feature.popup), {maxWidth: 360, autoClose: !openAll(), closeOnClick: !openAll()});
      if (openAll()) { opened.push(function () { layer.openPopup(); }); }
    }
    if (feature.tooltip != null) {
      layer.bindTooltip(el('span', 'planner-tooltip', feature.tooltip), {permanent: openAll(), sticky: false});
    }
  }

  function icon(spec) {
    var size = number(spec.size, 26);
    var labelPx = number(spec.label_px, 12);
    var disc = el('div', 'planner-icon planner-stop-label');
    disc.style.width = size + 'px';
    disc.style.height = size + 'px';
    disc.style.background = colour(spec.colour, '#1f5fbf');
    disc.style.fontSize = Math.round(size / 2) + 'px';
    if (spec.number != null) {
      var b = el('b', null, String(Math.round(number(spec.number, 0))));
      b.style.fontSize = labelPx + 'px';
      disc.appendChild(b);
    } else {
      var glyph = (typeof spec.glyph === 'string' && GLYPH.test(spec.glyph)) ? spec.glyph : 'circle';
      disc.appendChild(el('i', 'fa-solid fa-' + glyph));
    }
    return L.divIcon({html: disc, className: 'planner-div-icon', iconSize: [size, size], iconAnchor: [size / 2, size / 2]});
  }

  function feature(f, project) {
    var kind = f.k;
    if (kind === 's') {
      return L.geoJSON(f.geometry, {style: pathStyle(f.style), coordsToLatLng: function (c) { return L.latLng(project([c[1], c[0]])); }});
    }
    if (kind === 'c') {
      var options = pathStyle(f.style);
      options.radius = number(f.radius, 4);
      return L.circleMarker(project(f.at), options);
    }
    if (kind === 'm') { return L.marker(project(f.at), {icon: icon(f.icon || {})}); }
    if (kind === 'l') {
      var path = f.path.map(project);
      var line = L.polyline(path, pathStyle(f.style));
      if (f.arrows) {
        var group = L.featureGroup([line]);
        arrowsOn(path, colour((f.style || {}).color, '#333333'), number(f.arrow_px, 12)).forEach(function (a) { group.addLayer(a); });
        return group;
      }
      return line;
    }
    throw new Error('unknown feature kind');
  }

  /* Arrowheads along a path, one per 'every' pixels at zoom 16 (at least one, at the middle). */
  function arrowsOn(path, fill, px) {
    if (path.length < 2) { return []; }
    var crs = L.CRS.EPSG3857;
    var pts = path.map(function (p) { return crs.latLngToPoint(L.latLng(p), 16); });
    var lengths = [0];
    for (var i = 1; i < pts.length; i++) { lengths.push(lengths[i - 1] + pts[i].distanceTo(pts[i - 1])); }
    var total = lengths[lengths.length - 1];
    if (total < 1) { return []; }
    var count = Math.max(1, Math.min(4, Math.floor(total / 900)));
    var out = [];
    for (var k = 1; k <= count; k++) {
      var at = total * k / (count + 1);
      var j = 1;
      while (j < lengths.length - 1 && lengths[j] < at) { j++; }
      var a = pts[j - 1], b = pts[j];
      var f = (at - lengths[j - 1]) / Math.max(lengths[j] - lengths[j - 1], 1e-9);
      var mid = L.point(a.x + f * (b.x - a.x), a.y + f * (b.y - a.y));
      var angle = Math.atan2(b.y - a.y, b.x - a.x) * 180 / Math.PI;
      var arrow = el('div', 'planner-arrow');
      arrow.style.borderLeftColor = fill;
      arrow.style.borderWidth = (px / 2) + 'px 0 ' + (px / 2) + 'px ' + px + 'px';
      arrow.style.transform = 'rotate(' + angle + 'deg)';
      out.push(L.marker(crs.pointToLatLng(mid, 16), {icon: L.divIcon({html: arrow, className: 'planner-div-icon planner-arrow-icon', iconSize: [px, px], iconAnchor: [px / 2, px / 2]}),
                                                     interactive: false, keyboard: false}));
    }
    return out;
  }

  function box(map, className, fontPx) {
    var div = el('div', className);
    div.style.fontSize = number(fontPx, 13) + 'px';
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    map.getContainer().appendChild(div);
    return div;
  }

  function title(map, spec) {
    var div = box(map, 'planner-title', spec.font_px);
    div.appendChild(el('div', 'planner-title-main', spec.title));
    if (spec.note) { div.appendChild(el('div', 'planner-title-note', spec.note)); }
  }

  function legend(map, spec) {
    var div = box(map, 'planner-legend', spec.font_px);
    var head = el('div', 'planner-legend-title', spec.title);
    var toggle = el('button', 'planner-legend-toggle', '\u2013');
    toggle.type = 'button';
    toggle.setAttribute('aria-label', 'legend');
    head.appendChild(toggle);
    div.appendChild(head);
    L.DomEvent.on(toggle, 'click', function () {
      var collapsed = div.classList.toggle('planner-collapsed');
      toggle.textContent = collapsed ? '+' : '\u2013';
    });
    if (map.getContainer().clientWidth < 600 && !openAll()) {  // a phone: the legend starts folded
      div.classList.add('planner-collapsed');
      toggle.textContent = '+';
    }
    (spec.rows || []).forEach(function (row) {
      var line = el('div', 'planner-legend-row');
      (row.swatches || []).forEach(function (s) {
        var sw = el('span', 'planner-swatch' + (s[1] === 'square' ? ' planner-swatch-square' : ''));
        sw.style.background = colour(s[0], '#888888');
        line.appendChild(sw);
      });
      line.appendChild(document.createTextNode(' '));
      line.appendChild(el('span', null, row.text));
      div.appendChild(line);
    });
  }

  function fullscreen(map, label) {
    var Control = L.Control.extend({
      options: {position: 'topleft'},
      onAdd: function () {
        var a = el('a', 'leaflet-bar leaflet-control planner-fullscreen');
        a.href = '#';
        a.title = String(label || 'Fullscreen');
        a.setAttribute('role', 'button');
        a.appendChild(el('i', 'fa-solid fa-expand'));
        L.DomEvent.on(a, 'click', function (e) {
          L.DomEvent.preventDefault(e);
          var container = map.getContainer();
          if (!document.fullscreenElement) { if (container.requestFullscreen) { container.requestFullscreen(); } } else { document.exitFullscreen(); }
        });
        return a;
      }
    });
    map.addControl(new Control());
  }

  /* ------------------------------------------------------------------ basemaps */

  /* A PMTiles source over bytes already in the page (a <script> file sets plannerTiles[id] to
     base64): browsers refuse fetch() of file:// pages, but they run their scripts. */
  function memorySource(id) {
    var cache = memorySource.decoded || (memorySource.decoded = {});
    if (!cache[id]) {
      var text = (global.plannerTiles || {})[id];
      if (typeof text !== 'string') { return null; }
      var raw = global.atob(text);
      var bytes = new Uint8Array(raw.length);
      for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
      cache[id] = bytes;
    }
    var data = cache[id];
    return {
      getKey: function () { return id; },
      getBytes: function (offset, length) {
        return Promise.resolve({data: data.buffer.slice(data.byteOffset + offset, data.byteOffset + offset + length)});
      }
    };
  }

  function basemapRules(style, hidePlaces) {
    var P = global.protomapsL;
    var font = style.font_family;
    function kind(value) { return function (z, f) { return f.props.kind === value; }; }
    function width(base) { return function (z) { return base * Math.pow(1.6, Math.max(0, z - 14)); }; }
    var paint = [
      {dataLayer: 'green', symbolizer: new P.PolygonSymbolizer({fill: style.green})},
      {dataLayer: 'water', filter: function (z, f) { return f.geomType === 3; }, symbolizer: new P.PolygonSymbolizer({fill: style.water})},
      {dataLayer: 'water', filter: function (z, f) { return f.geomType === 2; }, symbolizer: new P.LineSymbolizer({color: style.water_line, width: 2})},
      {dataLayer: 'buildings', symbolizer: new P.PolygonSymbolizer({fill: style.building, stroke: style.building_line, width: 0.5})},
      {dataLayer: 'rail', symbolizer: new P.LineSymbolizer({color: style.rail, width: 1.5, dash: [4, 3]})},
      {dataLayer: 'roads', filter: kind('path'), symbolizer: new P.LineSymbolizer({color: style.path, width: width(1.2)})},
      {dataLayer: 'roads', filter: kind('minor'), symbolizer: new P.LineSymbolizer({color: style.road_casing, width: width(4.5)})},
      {dataLayer: 'roads', filter: kind('major'), symbolizer: new P.LineSymbolizer({color: style.major_casing, width: width(6.5)})},
      {dataLayer: 'roads', filter: kind('minor'), symbolizer: new P.LineSymbolizer({color: style.road, width: width(3)})},
      {dataLayer: 'roads', filter: kind('major'), symbolizer: new P.LineSymbolizer({color: style.major_road, width: width(5)})},
      {dataLayer: 'boundaries', filter: kind('community'), symbolizer: new P.LineSymbolizer({color: style.boundary, width: 0.8, dash: [3, 3], opacity: 0.7})},
      {dataLayer: 'boundaries', filter: function (z, f) { return f.props.kind !== 'community'; }, symbolizer: new P.LineSymbolizer({color: style.boundary, width: 2, dash: [8, 4]})}
    ];
    var labels = [
      {dataLayer: 'roads', minzoom: 15, filter: function (z, f) { return f.props.kind !== 'path'; },
       symbolizer: new P.LineLabelSymbolizer({font: '12px ' + font, fill: style.label, stroke: '#ffffff', width: 3})},
      {dataLayer: 'water', minzoom: 13, filter: function (z, f) { return f.geomType === 3; },
       symbolizer: new P.CenteredTextSymbolizer({font: 'italic 12px ' + font, fill: style.water_label, stroke: '#ffffff', width: 2})}
    ];
    if (!hidePlaces) {
      labels.push({dataLayer: 'places', filter: kind('town'), symbolizer: new P.CenteredTextSymbolizer({font: 'bold 15px ' + font, fill: style.place, stroke: '#ffffff', width: 3})});
      labels.push({dataLayer: 'places', minzoom: 14, filter: kind('community'), symbolizer: new P.CenteredTextSymbolizer({font: '12px ' + font, fill: style.place, stroke: '#ffffff', width: 3})});
    }
    return {paint: paint, labels: labels};
  }

  /* The offline vector basemap as a Leaflet layer, or null (and a notice) when it cannot draw. */
  function offlineLayer(map, base) {
    var o = base.offline;
    if (!o || !global.protomapsL || !global.pmtiles) { return null; }
    var source = memorySource(o.id);
    if (!source) { notice(map, base.missing || 'basemap data missing'); return null; }
    var rules = basemapRules(base.style, !!base.hide_places);
    var archive = new global.pmtiles.PMTiles(source);
    return global.protomapsL.leafletLayer({url: archive, paintRules: rules.paint, labelRules: rules.labels, maxDataZoom: number(o.max_zoom, 16),
                                          backgroundColor: base.style.land, attribution: String(o.attribution || ''), plannerCrs: 'wgs84'});
  }

  function onlineLayer(map, spec, unreachable) {
    var layer = L.tileLayer(String(spec.url), {attribution: String(spec.attribution || ''), subdomains: String(spec.subdomains || 'abc'),
                                               maxZoom: 19, plannerCrs: spec.crs === 'gcj02' ? 'gcj02' : 'wgs84'});
    var told = false;
    layer.on('tileerror', function () {
      if (!told && map.hasLayer(layer)) { told = true; notice(map, String(unreachable || 'unreachable') + ': ' + String(spec.name)); }
    });
    if (spec.overlay_url) {
      var labels = L.tileLayer(String(spec.overlay_url), {subdomains: String(spec.subdomains || 'abc'), maxZoom: 19});
      var both = L.layerGroup([layer, labels]);
      both.options.plannerCrs = layer.options.plannerCrs;
      return both;
    }
    return layer;
  }

  function notice(map, text) {
    var div = map.getContainer().querySelector('.planner-notice') || box(map, 'planner-notice', 13);
    div.textContent = String(text);
  }

  /* WGS-84 → GCJ-02 for the drawn data, interpolated in a grid of offsets made by the planner
     (geodata.chinacoords), so one implementation of the conversion serves Python and the page. */
  function shifter(grid) {
    if (!grid) { return function (p) { return p; }; }
    var b = grid.bounds, n = grid.n;
    function at(values, i, j) { return values[j * n + i]; }
    return function (p) {
      var fx = Math.min(Math.max((p[1] - b[0]) / (b[2] - b[0]) * (n - 1), 0), n - 1.000001);
      var fy = Math.min(Math.max((p[0] - b[1]) / (b[3] - b[1]) * (n - 1), 0), n - 1.000001);
      var i = Math.floor(fx), j = Math.floor(fy), u = fx - i, v = fy - j;
      function lerp(values) {
        return (1 - u) * (1 - v) * at(values, i, j) + u * (1 - v) * at(values, i + 1, j) + (1 - u) * v * at(values, i, j + 1) + u * v * at(values, i + 1, j + 1);
      }
      return [p[0] + lerp(grid.dlat), p[1] + lerp(grid.dlon)];
    };
  }

  function identity(p) { return p; }

  /* Layers drawn from the map's own vector tiles (city scale), each a switchable overlay. */
  function tiledLayers(map, tiled) {
    var out = [];
    if (!tiled || !global.protomapsL || !global.pmtiles) { return out; }
    var source = memorySource(tiled.id);
    if (!source) { return out; }
    if (!map.getPane('plannerTiled')) { map.createPane('plannerTiled').style.zIndex = 450; }
    var archive = new global.pmtiles.PMTiles(source);
    (tiled.layers || []).forEach(function (spec) {
      var fill = colour(spec.colour, '#c92a2a');
      var rule = {dataLayer: String(spec.data_layer), symbolizer: new global.protomapsL.CircleSymbolizer({
        fill: fill, stroke: '#ffffff', width: 0.6, opacity: 0.9,
        radius: function (z, f) { var w = f && f.props ? Number(f.props.persons) || 1 : 1; return Math.max(2.5, Math.min(9, 1.5 + Math.sqrt(w))) * (z >= 16 ? 1.3 : 1); }})};
      if (spec.served != null) { rule.filter = function (z, f) { return Number(f.props.served) === Number(spec.served); }; }
      var layer = global.protomapsL.leafletLayer({url: archive, paintRules: [rule], labelRules: [], maxDataZoom: number(tiled.max_zoom, 15),
                                                 minZoom: number(tiled.min_zoom, 14), pane: 'plannerTiled'});
      out.push({name: spec.name, layer: layer, show: spec.show !== false});
    });
    return out;
  }

  /* Base layers: the offline one first and shown; online ones offered, off. */
  function baseLayers(map, base) {
    var layers = [];
    if (!base) { return layers; }
    var offline = offlineLayer(map, base);
    if (offline) { layers.push({name: base.offline.name, layer: offline}); }
    (base.online || []).forEach(function (spec) { layers.push({name: spec.name, layer: onlineLayer(map, spec, base.unreachable)}); });
    return layers;
  }

  /* Grey over what lies outside the region (the basemap has no data there), under the data. */
  function outside(map, outline, fill) {
    if (!map.getPane('plannerOutside')) { map.createPane('plannerOutside').style.zIndex = 250; }
    var holes = [];
    var polygons = outline.type === 'Polygon' ? [outline.coordinates] : (outline.type === 'MultiPolygon' ? outline.coordinates : []);
    polygons.forEach(function (poly) { holes.push(poly[0].map(function (c) { return [c[1], c[0]]; })); });
    if (!holes.length) { return; }
    var b = L.latLngBounds(holes[0]);
    holes.forEach(function (h) { b.extend(L.latLngBounds(h)); });
    var s = b.getSouth() - 1, n = b.getNorth() + 1, w = b.getWest() - 1.5, e = b.getEast() + 1.5;  // far beyond any view of the region
    var world = [[s, w], [s, e], [n, e], [n, w]];
    L.polygon([world].concat(holes), {pane: 'plannerOutside', stroke: false, fillColor: colour(fill, '#cfc9bf'), fillOpacity: 0.55, interactive: false}).addTo(map);
  }

  /* ------------------------------------------------------------------ search */
  function searchIndex(spec) {
    var index = [];
    (spec.layers || []).forEach(function (layer) {
      (layer.features || []).forEach(function (f) {
        if (typeof f.name !== 'string' || !f.name) { return; }
        var at = f.at;
        if (!at && f.k === 's') {
          var b = L.geoJSON(f.geometry).getBounds();
          at = [b.getCenter().lat, b.getCenter().lng];
        }
        if (!at && f.path) { at = f.path[Math.floor(f.path.length / 2)]; }
        if (at) { index.push({name: f.name, key: f.name.toLowerCase(), at: at, layer: layer.name}); }
      });
    });
    return index;
  }

  function search(map, spec, project) {
    var index = searchIndex(spec);
    if (!index.length || !spec.search) { return; }
    var Control = L.Control.extend({
      options: {position: 'topright'},
      onAdd: function () {
        var div = el('div', 'leaflet-bar planner-search');
        var input = el('input');
        input.type = 'search';
        input.placeholder = String(spec.search.placeholder || 'Search');
        input.setAttribute('aria-label', input.placeholder);
        var list = el('ul', 'planner-search-results');
        div.appendChild(input);
        div.appendChild(list);
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        var marker = null;
        function show() {
          var q = input.value.trim().toLowerCase();
          while (list.firstChild) { list.removeChild(list.firstChild); }
          if (!q) { return; }
          var found = index.filter(function (item) { return item.key.indexOf(q) >= 0; });
          found.sort(function (a, b) {  // exact, then starting with the text, then shorter names
            var ra = a.key === q ? 0 : (a.key.indexOf(q) === 0 ? 1 : 2), rb = b.key === q ? 0 : (b.key.indexOf(q) === 0 ? 1 : 2);
            return ra - rb || a.key.length - b.key.length;
          });
          found.slice(0, 8).forEach(function (item) {
            var li = el('li', null, item.name);
            if (item.layer) { li.appendChild(el('span', 'planner-search-layer', ' · ' + item.layer)); }
            L.DomEvent.on(li, 'click', function () {
              var at = project.current(item.at);
              map.setView(at, Math.max(map.getZoom(), 16));
              if (marker) { map.removeLayer(marker); }
              marker = L.circleMarker(at, {radius: 18, color: '#f03e3e', weight: 3, fill: false}).addTo(map);
              while (list.firstChild) { list.removeChild(list.firstChild); }
              input.value = item.name;
            });
            list.appendChild(li);
          });
        }
        L.DomEvent.on(input, 'input', show);
        if (hashSearch() !== null) { input.value = hashSearch(); show(); }
        return div;
      }
    });
    map.addControl(new Control());
  }

  /* ------------------------------------------------------------------ markers that overlap */
  /* Markers closer than their size on screen are moved apart around their place, with a thin
     leader line to where they really are (redone after every zoom). */
  function declutter(map, markers) {
    var leaders = L.layerGroup().addTo(map);
    function run() {
      leaders.clearLayers();
      var placed = [];
      markers.forEach(function (m) {
        m.setLatLng(m.plannerAt);
        if (!map.hasLayer(m)) { return; }
        var size = m.plannerSize || 26;
        var p = map.latLngToContainerPoint(m.plannerAt);
        var q = p, step = 0;
        function clash(point) { return placed.some(function (o) { return o.distanceTo(point) < size * 0.95; }); }
        while (clash(q) && step < 24) {
          var ring = 1 + Math.floor(step / 8), angle = (step % 8) * Math.PI / 4 + ring * 0.4;
          q = L.point(p.x + Math.cos(angle) * size * 1.05 * ring, p.y + Math.sin(angle) * size * 1.05 * ring);
          step++;
        }
        placed.push(q);
        if (q !== p) {
          var moved = map.containerPointToLatLng(q);
          m.setLatLng(moved);
          leaders.addLayer(L.polyline([m.plannerAt, moved], {color: '#212529', weight: 1, interactive: false}));
        }
      });
    }
    map.on('zoomend', run);
    run();
    return run;
  }

  /* ------------------------------------------------------------------ picking sites */
  /* A page embedded in another (the app's scenario form) reports clicks on features that carry a
     ``pick`` id: {type: 'planner-pick', site: id} to its parent, which answers with every site's
     state, {type: 'planner-picked', states: {id: 'keep' | 'forbid'}}; states are drawn with the
     spec's styles.  Only messages from the parent window are read, and only known states drawn. */
  var PICKED_RADIUS = 9;

  function picking(options) {
    var styles = {}, states = {}, drawn = {};
    Object.keys(options.styles || {}).forEach(function (k) { styles[k] = pathStyle(options.styles[k]); });
    function restyle(id) {
      var state = states[id];
      (drawn[id] || []).forEach(function (layer) {
        layer.setStyle(state ? styles[state] : layer.plannerStyle);
        layer.setRadius(state ? PICKED_RADIUS : layer.plannerRadius);
        if (state) { layer.bringToFront(); }
      });
    }
    global.addEventListener('message', function (ev) {
      if (ev.source !== global.parent || global.parent === global || !ev.data || ev.data.type !== 'planner-picked') { return; }
      var next = ev.data.states || {};
      var before = states;
      states = {};
      Object.keys(next).forEach(function (id) { if (typeof next[id] === 'string' && styles[next[id]]) { states[id] = next[id]; } });
      Object.keys(drawn).forEach(function (id) { if (before[id] !== states[id]) { restyle(id); } });
    });
    return {
      add: function (id, layer) {
        layer.plannerStyle = {color: layer.options.color, weight: layer.options.weight, fillColor: layer.options.fillColor,
                              fillOpacity: layer.options.fillOpacity, opacity: layer.options.opacity, dashArray: layer.options.dashArray || null};
        layer.plannerRadius = layer.getRadius();
        (drawn[id] = drawn[id] || []).push(layer);
        layer.on('click', function () { if (global.parent !== global) { global.parent.postMessage({type: 'planner-pick', site: id}, '*'); } });
        if (states[id]) { restyle(id); }
      },
      reset: function () { drawn = {}; },
      ready: function () { if (global.parent !== global) { global.parent.postMessage({type: 'planner-pick-ready'}, '*'); } }
    };
  }

  /* ------------------------------------------------------------------ the map */
  function fillGroup(group, layer, project, opened, markers, picker) {
    (layer.features || []).forEach(function (f) {
      var drawn = feature(f, project);
      bindTexts(drawn, f, opened);
      if (picker && f.pick != null && f.k === 'c') { picker.add(String(f.pick), drawn); }
      if (f.label != null) {  // on the shape itself (a GeoJSON group's child): Leaflet places it at the polygon's centre
        var options = {permanent: true, direction: 'center', interactive: false, pane: 'plannerLabels',  // under the markers
                       className: 'planner-unit-label planner-label-' + (f.label_level || 'unit')};
        var target = drawn.getLayers ? drawn.getLayers()[0] : drawn;
        if (target) { target.bindTooltip(el('span', null, f.label), options); }
      }
      if (f.k === 'm' && layer.declutter) {
        drawn.plannerAt = drawn.getLatLng();
        drawn.plannerSize = number((f.icon || {}).size, 26);
        markers.push(drawn);
      }
      group.addLayer(drawn);
    });
  }

  function draw(map, spec) {
    var overlays = {};
    var opened = [];
    var groups = [];
    var markers = [];
    var base = spec.base || null;
    if (!map.getPane('plannerLabels')) { map.createPane('plannerLabels').style.zIndex = 580; }
    var dataCrs = (base && base.data_crs) || 'wgs84';
    var toGcj = shifter(base && base.gcj);
    var project = function (p) { return project.current(p); };
    project.current = identity;
    var picker = spec.pick ? picking(spec.pick) : null;
    (spec.layers || []).forEach(function (layer) {
      var group = L.featureGroup();
      fillGroup(group, layer, project, opened, markers, picker);
      groups.push({group: group, layer: layer});
      if (layer.show !== false && !baseOnly()) { group.addTo(map); }
      if (layer.name != null && layer.control !== false && (layer.features || []).length) { overlays[escapeHtml(layer.name)] = group; }
    });
    var tiled = tiledLayers(map, spec.tiled);
    tiled.forEach(function (t) {
      if (t.show && !baseOnly()) { t.layer.addTo(map); }
      overlays[escapeHtml(t.name)] = t.layer;
    });
    var bases = baseLayers(map, base);
    var baseControl = {};
    bases.forEach(function (b, k) {
      baseControl[escapeHtml(b.name)] = b.layer;
      if (k === 0) {
        b.layer.once('load', function () {  // first screen of the basemap: milliseconds since the page began (benchmarks read it)
          map.getContainer().setAttribute('data-basemap-ms', String(Math.round(global.performance.now())));
        });
        b.layer.addTo(map);
      }
    });
    if (dataCrs === 'wgs84' && base && base.gcj) {
      map.on('baselayerchange', function (e) {
        var wanted = (e.layer.options && e.layer.options.plannerCrs === 'gcj02') ? toGcj : identity;
        if (wanted === project.current) { return; }
        project.current = wanted;
        if (wanted !== identity && tiled.length) {  // tiled points are WGS-84: not drawn over GCJ-02 tiles
          tiled.forEach(function (t) { map.removeLayer(t.layer); });
          notice(map, String(base.tiled_hidden || 'tiled points hidden on this basemap'));
        }
        markers.length = 0;
        if (picker) { picker.reset(); }
        groups.forEach(function (g) { g.group.clearLayers(); fillGroup(g.group, g.layer, project, [], markers, picker); });
        if (declutterRun) { declutterRun(); }
      });
    }
    if (spec.layer_control && (Object.keys(overlays).length || bases.length > 1)) {
      var phone = map.getContainer().clientWidth < 600;
      L.control.layers(bases.length > 1 ? baseControl : null, overlays, {collapsed: !!spec.layer_control.collapsed || phone}).addTo(map);
    }
    map.getContainer().classList.toggle('planner-has-basemap', bases.length > 0);
    if (base && base.offline && base.offline.outline && bases.length) { outside(map, base.offline.outline, base.style.outside); }
    if (spec.bounds) { map.fitBounds(spec.bounds, {padding: [8, 8]}); }
    function zoomClass() { map.getContainer().classList.toggle('planner-zoom-close', map.getZoom() >= 15); }
    map.on('zoomend', zoomClass);
    zoomClass();
    var declutterRun = markers.length ? declutter(map, markers) : null;
    if (spec.title) { title(map, spec.title); }
    if (spec.legend) { legend(map, spec.legend); }
    if (spec.fullscreen) { fullscreen(map, spec.fullscreen); }
    search(map, spec, project);
    opened.forEach(function (open) { open(); });
    map.getContainer().setAttribute('data-drawn-ms', String(Math.round(global.performance.now())));
    if (picker) { picker.ready(); }
  }

  /* ------------------------------------------------------------------ print sheets */
  /* One A4 page per sheet (a patrol team): header, the route fitted to the page's map box, and a
     timetable.  The map box has a fixed size in millimetres, so the fit does not depend on the
     window; portrait or landscape follows the route's shape. */
  function sheets(map, spec) {
    map.getContainer().style.display = 'none';
    document.body.classList.add('planner-print');
    var holder = el('div', 'planner-sheets');
    document.body.appendChild(holder);
    var byName = {};
    (spec.layers || []).forEach(function (layer) { byName[layer.name] = layer; });
    (spec.sheets || []).forEach(function (sheet, k) {
      var landscape = typeof sheet.portrait === 'boolean' ? !sheet.portrait : (sheet.bounds ? sheetIsLandscape(sheet.bounds) : false);
      var page = el('section', 'planner-sheet ' + (landscape ? 'planner-landscape' : 'planner-portrait') + (sheet.bounds ? '' : ' planner-table-only'));
      page.setAttribute('data-team', String(sheet.team));
      var head = el('header', 'planner-sheet-head');
      head.appendChild(el('h1', null, sheet.title));
      (sheet.lines || []).forEach(function (line) { head.appendChild(el('div', 'planner-sheet-line', line)); });
      page.appendChild(head);
      var body = el('div', 'planner-sheet-body');
      var box = el('div', 'planner-sheet-map');
      if (sheet.bounds) { body.appendChild(box); }
      body.appendChild(timetable(sheet.table));
      page.appendChild(body);
      holder.appendChild(page);
      if (!sheet.bounds) { page.setAttribute('data-sheet', String(k + 1)); return; }
      var sheetMap = L.map(box, {zoomControl: false, attributionControl: true, dragging: false, scrollWheelZoom: false, doubleClickZoom: false,
                                 boxZoom: false, keyboard: false, touchZoom: false, zoomSnap: 0.25, fadeAnimation: false, zoomAnimation: false});
      sheetMap.createPane('plannerLabels').style.zIndex = 580;  // unit names (see draw)
      var bases = baseLayers(sheetMap, spec.base);
      if (bases.length) { bases[0].layer.addTo(sheetMap); }
      sheetMap.fitBounds(sheet.bounds, {padding: [28, 28]});
      L.control.scale({imperial: false}).addTo(sheetMap);
      var markers = [];
      (sheet.layers || []).forEach(function (name) {
        var layer = byName[name];
        if (!layer) { return; }
        var group = L.featureGroup();
        fillGroup(group, {features: layer.features, declutter: true}, identity, [], markers);
        group.addTo(sheetMap);
      });
      declutter(sheetMap, markers);
      var size = sheetMap.getSize(), inside = 0;
      markers.forEach(function (m) {
        var p = sheetMap.latLngToContainerPoint(m.plannerAt);
        if (p.x >= 0 && p.y >= 0 && p.x <= size.x && p.y <= size.y) { inside++; }
      });
      page.setAttribute('data-markers', String(markers.length));
      page.setAttribute('data-inside', String(inside));
      page.setAttribute('data-sheet', String(k + 1));
    });
  }

  function sheetIsLandscape(bounds) {
    var south = bounds[0][0], west = bounds[0][1], north = bounds[1][0], east = bounds[1][1];
    var wide = (east - west) * Math.cos((south + north) / 2 * Math.PI / 180);
    return wide > (north - south) * 1.15;
  }

  function timetable(table) {
    var t = el('table', 'planner-timetable');
    var head = el('tr');
    (table.columns || []).forEach(function (c) { head.appendChild(el('th', null, c)); });
    t.appendChild(head);
    (table.rows || []).forEach(function (row) {
      var tr = el('tr');
      row.forEach(function (cell) { tr.appendChild(el('td', null, cell)); });
      t.appendChild(tr);
    });
    return t;
  }

  /* Draw the map whose data sits in the <script type="application/json"> element ``dataId``. */
  function drawFrom(map, dataId) {
    var spec = JSON.parse(document.getElementById(dataId).textContent);
    if (spec.sheets) { sheets(map, spec); } else { draw(map, spec); }
    return spec;
  }

  global.plannerMap = {draw: draw, drawFrom: drawFrom, escapeHtml: escapeHtml, shifter: shifter};
})(window);
