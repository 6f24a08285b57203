/*
 * planner-map.js — draws a coverage-planner map from its data (MIT licence, part of coverage-planner).
 *
 * A map page carries what it shows as JSON in <script type="application/json"> (layers of features,
 * title, legend); this file turns it into Leaflet layers.  Every text from the data (site, unit and
 * team names, popups, tooltips, layer names) reaches the page as text (textContent, or escaped where
 * Leaflet takes HTML), never as markup or code.  Styles and icons are checked against short lists.
 *
 * Test hook: a page opened with "#open-all" opens every popup and tooltip at once.
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

  function feature(f) {
    var kind = f.k;
    if (kind === 's') { return L.geoJSON(f.geometry, {style: pathStyle(f.style)}); }
    if (kind === 'c') {
      var options = pathStyle(f.style);
      options.radius = number(f.radius, 4);
      return L.circleMarker(f.at, options);
    }
    if (kind === 'm') { return L.marker(f.at, {icon: icon(f.icon || {})}); }
    if (kind === 'l') { return L.polyline(f.path, pathStyle(f.style)); }
    throw new Error('unknown feature kind');
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
    div.appendChild(el('div', 'planner-legend-title', spec.title));
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

  function draw(map, spec) {
    var overlays = {};
    var opened = [];
    (spec.layers || []).forEach(function (layer) {
      var group = L.featureGroup();
      (layer.features || []).forEach(function (f) {
        var drawn = feature(f);
        bindTexts(drawn, f, opened);
        group.addLayer(drawn);
      });
      if (layer.show !== false) { group.addTo(map); }
      if (layer.name != null && layer.control !== false) { overlays[escapeHtml(layer.name)] = group; }
    });
    if (spec.layer_control && Object.keys(overlays).length) {
      L.control.layers(null, overlays, {collapsed: !!spec.layer_control.collapsed}).addTo(map);
    }
    if (spec.bounds) { map.fitBounds(spec.bounds); }
    if (spec.title) { title(map, spec.title); }
    if (spec.legend) { legend(map, spec.legend); }
    if (spec.fullscreen) { fullscreen(map, spec.fullscreen); }
    opened.forEach(function (open) { open(); });
  }

  /* Draw the map whose data sits in the <script type="application/json"> element ``dataId``. */
  function drawFrom(map, dataId) {
    var spec = JSON.parse(document.getElementById(dataId).textContent);
    draw(map, spec);
    return spec;
  }

  global.plannerMap = {draw: draw, drawFrom: drawFrom, escapeHtml: escapeHtml};
})(window);
