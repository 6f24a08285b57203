/*
 * coverage-planner app (MIT licence): plain JavaScript, no framework, no build step.
 *
 * The app is a client of the HTTP API and nothing more: it sends the user's key in X-API-Key on
 * every call and shows only what the key's role may do (the API enforces it anyway).  Every text
 * from the service or the user reaches the page through textContent, never as HTML.  Maps are the
 * service's own map pages, shown in frames (srcdoc) after being fetched with the key.
 */
(function () {
  'use strict';

  var TEXT = {
    zh: {
      title: '民政服务设施规划', skip: '跳到正文', lang_switch: 'English', signout: '退出', signin_title: '用密钥登录',
      signin_help: '请输入管理员发给您的 API 密钥。密钥只保存在本浏览器标签页中，关闭即清除。', key: 'API 密钥', signin: '登录',
      bad_key: '密钥无效或已停用', role_admin: '管理员', role_planner: '规划人员', role_street_office: '街道办', role_patrol: '巡查队',
      tab_scenario: '规划方案', tab_plans: '方案列表', tab_compare: '方案对比', tab_proposals: '待审批上报', tab_audit: '操作记录',
      tab_suggest: '选址建议', tab_upload: '上报候选点', tab_my_uploads: '我的上报', tab_round: '巡查路线', tab_visits: '探访计划',
      region: '区域', name: '方案名称', facility_type: '设施类型', model: '模型', standard_min: '服务标准（分钟）', n_new: '新增数量',
      min_per_town: '每镇街至少（个）', group: '服务对象', run: '开始计算', cancel: '取消', running: '计算中…', done: '完成',
      failed: '失败', cancelled: '已取消', covered_before: '现状覆盖率', covered_after: '方案覆盖率', new_sites: '新增设施',
      proven: '已证明为最优方案', within: '与最优方案相差不超过', solver: '求解结果', compliance: '各镇街达标情况', town: '镇街/园区',
      residents: '服务对象人数', share: '覆盖率', existing_new: '设施（现有/新增）', minimum: '最低要求', compliant: '是否达标',
      yes: '达标', no: '未达标', map: '地图', download_excel: '下载 Excel', download_geojson: '下载 GeoJSON', download_map: '下载地图',
      plans: '已保存的方案', open: '打开', compare: '对比', plan_a: '方案 A', plan_b: '方案 B', difference: '差别',
      only_in: '仅在此方案中的新增设施', approve: '批准', reject: '退回', withdraw: '撤回', status: '状态', features: '点位数',
      file: '文件', coords: '坐标系', upload: '上传', drop: '把 CSV / Excel 文件拖到这里，或点击选择', uploaded: '已上报，等待规划人员审批',
      skipped: '未采用的行', k: '建议数量', ask: '获取建议', rank: '顺序', adds: '新增覆盖人数', before_after: '本镇街覆盖率',
      teams: '队伍数', shift_start: '出发时间', shift_end: '结束时间', campaign: '专项行动', none: '无', heat: '夏日送清凉',
      cold: '寒冬送温暖', spots: '巡查点数量', plan_round: '生成路线', timetable: '时间表', order: '序号', stop: '巡查点',
      arrival: '到达', print_sheet: '打印路线单', download_gpx: '下载 GPX', when: '时间', who: '操作人', action: '操作', detail: '内容',
      month: '月份', plan_visits: '生成探访计划', elders: '独居老人', all_visits: '全部探访到位', short: '探访不足及原因', reason: '原因',
      mode: '出行方式', walk: '步行', ebike: '电动车', van: '车辆', proposals_none: '没有待审批的上报', refresh: '刷新',
      other_town: '只能查看本镇街', date: '日期', budget: '预算（可选，代替新增数量）', versions: '区域版本', version: '版本', change: '变更',
      visits_per_month: '每人每月探访次数', visitor_capacity: '每名探访人员负责人数', download_calendar: '下载探访日历', elder: '老人（建筑编号）',
      bases_note: '说明', tab_hierarchy: '三级网络', level: '层级', unit_level: '按单位', hierarchy_run: '计算三级网络',
      level_flagship: '市级龙头', level_town_centre: '镇街示范', level_community_venue: '村（社区）场所', per_city: '全市', per_town: '每镇街', per_community: '每村（社区）',
      sites: '设施（现有/新增）', new_per_level: '新增上限（空 = 不限）', extra_stops: '临时加点（如热线报告的露宿人员位置）', stop_name: '地点名称',
      lonlat: '经度, 纬度', lonlat_help: '例如从高德地图复制的“113.7518, 23.0207”；请选对坐标系（高德/腾讯为 GCJ-02，百度为 BD-09）。',
      gcj02: 'GCJ-02（高德/腾讯）', bd09: 'BD-09（百度）', add_stop: '加入本次路线', remove: '移除', stop_needs_name: '请填写地点名称',
      stop_needs_lonlat: '请填写“经度, 纬度”两个数字', added: '临时加点', not_visited: '未能到达的点及原因',
      pick_title: '必须保留 / 不得选用的站点（可选）', pick_help: '在地图上点击站点：第一次“必须保留”，第二次“不得选用”，第三次取消；也可输入站点名称后按按钮。',
      site_name: '站点名称', keep: '必须保留', forbid: '不得选用', pick_on_map: '在地图上选点', pick_state: '选择', none_picked: '尚未选择站点',
      no_such_site: '没有这个名称的站点（请从列表中选择）', site_candidate: '候选点位', site_existing: '现有设施',
      candidates_from: '候选点位来源', from_region: '区域已有的候选点位', from_upload: '我的上报', among_proposal: '仅在本街道上报的点位中选址（尚未批准的上报只用于本次查询）：上报',
      ask_among: '在此上报中选址', print_plan: '打印方案（A4）', print: '打印', status_proposed: '待审批', status_approved: '已批准', status_rejected: '已退回', status_withdrawn: '已撤回', status_deleted: '已删除'
    },
    en: {
      title: 'Civil-affairs facility planner', skip: 'Skip to content', lang_switch: '中文', signout: 'Sign out', signin_title: 'Sign in with your key',
      signin_help: 'Enter the API key your administrator gave you. It is kept in this browser tab only and cleared when the tab closes.',
      key: 'API key', signin: 'Sign in', bad_key: 'Unknown or revoked key', role_admin: 'Administrator', role_planner: 'Planner',
      role_street_office: 'Street office', role_patrol: 'Patrol team', tab_scenario: 'Scenario', tab_plans: 'Plans', tab_compare: 'Compare',
      tab_proposals: 'Proposals', tab_audit: 'Audit log', tab_suggest: 'Site suggestions', tab_upload: 'Propose sites', tab_my_uploads: 'My proposals',
      tab_round: 'Patrol round', tab_visits: 'Home visits', region: 'Region', name: 'Name', facility_type: 'Facility type', model: 'Model',
      standard_min: 'Standard (minutes)', n_new: 'New sites', min_per_town: 'At least per town', group: 'Served group', run: 'Run',
      cancel: 'Cancel', running: 'Running…', done: 'Done', failed: 'Failed', cancelled: 'Cancelled', covered_before: 'Covered today',
      covered_after: 'Covered with the plan', new_sites: 'New sites', proven: 'Proven optimal', within: 'Within this much of the best possible:',
      solver: 'Solver', compliance: 'Compliance per town', town: 'Town', residents: 'Residents', share: 'Covered share',
      existing_new: 'Facilities (existing/new)', minimum: 'Minimum', compliant: 'Meets target', yes: 'Yes', no: 'No', map: 'Map',
      download_excel: 'Download Excel', download_geojson: 'Download GeoJSON', download_map: 'Download map', plans: 'Stored plans', open: 'Open',
      compare: 'Compare', plan_a: 'Plan A', plan_b: 'Plan B', difference: 'Difference', only_in: 'New sites only in this plan',
      approve: 'Approve', reject: 'Reject', withdraw: 'Withdraw', status: 'Status', features: 'Sites', file: 'File', coords: 'Coordinates',
      upload: 'Upload', drop: 'Drop a CSV / Excel file here, or click to choose', uploaded: 'Proposed; waiting for a planner',
      skipped: 'Rows not used', k: 'How many', ask: 'Ask', rank: 'Rank', adds: 'Residents added', before_after: 'Town coverage',
      teams: 'Teams', shift_start: 'Shift starts', shift_end: 'Shift ends', campaign: 'Campaign', none: 'None', heat: 'Summer heat relief',
      cold: 'Winter warmth', spots: 'Patrol spots', plan_round: 'Plan the round', timetable: 'Timetable', order: 'No.', stop: 'Stop',
      arrival: 'Arrival', print_sheet: 'Print sheet', download_gpx: 'Download GPX', when: 'When', who: 'Who', action: 'Action', detail: 'Detail',
      month: 'Month', plan_visits: 'Plan the visits', elders: 'Elders living alone', all_visits: 'With all visits', short: 'Short of visits, and why',
      reason: 'Reason', mode: 'Mode', walk: 'On foot', ebike: 'E-bike', van: 'Van', proposals_none: 'No proposal is waiting', refresh: 'Refresh',
      other_town: 'Your own town only', date: 'Date', budget: 'Budget (optional, instead of new sites)', versions: 'Region versions',
      version: 'Version', change: 'Change', visits_per_month: 'Visits per elder a month', visitor_capacity: 'Elders per visitor',
      download_calendar: 'Download the calendar', elder: 'Elder (building id)', bases_note: 'Note', tab_hierarchy: 'Three-level network',
      level: 'Level', unit_level: 'Per', hierarchy_run: 'Plan the network', level_flagship: 'City flagship', level_town_centre: 'Town centre',
      level_community_venue: 'Community venue', per_city: 'city', per_town: 'town', per_community: 'community', sites: 'Facilities (existing/new)',
      new_per_level: 'New at most (empty = no limit)', extra_stops: 'Stops to add (e.g. a person reported sleeping rough)', stop_name: 'Place name',
      lonlat: 'Longitude, latitude', lonlat_help: 'e.g. "113.7518, 23.0207" copied from Amap; choose the right system (Amap/Tencent: GCJ-02, Baidu: BD-09).',
      gcj02: 'GCJ-02 (Amap/Tencent)', bd09: 'BD-09 (Baidu)', add_stop: 'Add to this round', remove: 'Remove', stop_needs_name: 'Give the place a name',
      stop_needs_lonlat: 'Give two numbers: "longitude, latitude"', added: 'added', not_visited: 'Stops not reached, and why',
      pick_title: 'Sites to keep / forbid (optional)', pick_help: 'Click a site on the map: once to keep it, twice to forbid it, a third time to clear; or type its name and press a button.',
      site_name: 'Site name', keep: 'Keep', forbid: 'Forbid', pick_on_map: 'Pick on the map', pick_state: 'Choice', none_picked: 'No site picked',
      no_such_site: 'No site of that name (choose one from the list)', site_candidate: 'Candidate site', site_existing: 'Existing facility',
      candidates_from: 'Candidates from', from_region: "The region's candidate sites", from_upload: 'My proposal',
      among_proposal: "Chosen among this office's own proposal only (a pending proposal is used for this question alone): proposal",
      ask_among: 'Ask among these sites', print_plan: 'Print the plan (A4)', print: 'Print', status_proposed: 'Waiting', status_approved: 'Approved', status_rejected: 'Rejected', status_withdrawn: 'Withdrawn',
      status_deleted: 'Deleted'
    }
  };
  var FACILITIES = {
    meal_point: ['助餐配餐点', 'Meal point'], meal_hall: ['长者饭堂', 'Elderly canteen'], care_centre: ['居家社区养老服务中心', 'Community home-care centre'],
    care_station: ['养老服务站', 'Care station'], flagship: ['市级龙头', 'City flagship'], care_home: ['养老院', 'Care home'], other: ['其他', 'Other']
  };
  var GROUPS = {pop_60: ['60岁及以上老年人', 'Aged 60+'], pop_80: ['80岁及以上老年人', 'Aged 80+'], pop_alone: ['独居老人', 'Living alone'], pop_all: ['全部居民', 'All residents']};
  var MODELS = {mclp: ['覆盖人数最多', 'Cover the most'], lscp: ['全覆盖、设施最少', 'Cover everyone, fewest sites'],
                pmedian: ['总路程最短', 'Least total travel'], pcenter: ['最远路程最短', 'Shortest longest trip']};

  var state = {key: sessionStorage.getItem('plannerKey'), lang: localStorage.getItem('plannerLang') || 'zh', me: null, regions: [], tab: null};

  function t(k) { return (TEXT[state.lang] || TEXT.zh)[k] || k; }
  function pick(pair) { return state.lang === 'zh' ? pair[0] : pair[1]; }
  function $(id) { return document.getElementById(id); }

  /* An element with attributes and children; strings become text nodes (never HTML). */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) { return; }
      if (k === 'text') { node.textContent = String(v); } else if (k.indexOf('on') === 0) { node.addEventListener(k.slice(2), v); } else { node.setAttribute(k, v === true ? '' : String(v)); }
    });
    (children || []).forEach(function (c) { if (c !== null && c !== undefined) { node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); } });
    return node;
  }

  function field(id, label, input) {
    input.id = id;
    return el('div', {}, [el('label', {'for': id, text: label}), input]);
  }

  function select(options, value) {
    var s = el('select');
    Object.keys(options).forEach(function (k) { s.appendChild(el('option', {value: k, text: Array.isArray(options[k]) ? pick(options[k]) : options[k], selected: k === value})); });
    return s;
  }

  function number(value, min, max, step) { return el('input', {type: 'number', value: value, min: min, max: max, step: step || 1}); }

  function pct(x) { return x === null || x === undefined ? '–' : (100 * x).toFixed(1) + '%'; }
  function whole(x) { return x === null || x === undefined ? '–' : Math.round(x).toLocaleString(); }

  /* A call to the API with the key; JSON back, or an Error carrying the service's reason. */
  function api(method, path, body, raw) {
    var opts = {method: method, headers: {'X-API-Key': state.key || ''}};
    if (body instanceof FormData) { opts.body = body; } else if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers['Content-Type'] = 'application/json'; }
    return fetch(path, opts).then(function (r) {
      if (!r.ok) {
        return r.json().catch(function () { return {detail: r.statusText}; }).then(function (e) {
          var err = new Error(typeof e.detail === 'string' ? e.detail : JSON.stringify(e.detail)); err.status = r.status; throw err;
        });
      }
      return raw ? r : r.json();
    });
  }

  function download(path, filename) {
    return api('GET', path, undefined, true).then(function (r) { return r.blob(); }).then(function (blob) {
      var a = el('a', {href: URL.createObjectURL(blob), download: filename});
      document.body.appendChild(a); a.click(); a.remove();
    });
  }

  /* A service map page (fetched with the key) in a frame. */
  function mapFrame(path, title) {
    var frame = el('iframe', {'class': 'map-frame', title: title || t('map')});
    api('GET', path, undefined, true).then(function (r) { return r.text(); }).then(function (html) { frame.srcdoc = html; })
      .catch(function (e) { frame.replaceWith(el('p', {'class': 'error', role: 'alert', text: e.message})); });
    return frame;
  }

  /* Poll a job until it ends: ``onProgress(job)`` while it runs, ``onEnd(job)`` once it is done, failed or cancelled. */
  /* A page of A4 sheets from the service, shown in a frame below ``into`` and handed to the
     browser's print dialogue once drawn (again on every later click). */
  function printFrame(path, into) {
    var frame = into.querySelector('iframe.print-frame');
    if (frame) { frame.contentWindow.print(); return; }
    frame = mapFrame(path, t('print'));
    frame.classList.add('print-frame');
    into.appendChild(frame);
    frame.addEventListener('load', function () {
      if (frame.srcdoc) { setTimeout(function () { if (frame.isConnected && frame.contentWindow) { frame.contentWindow.print(); } }, 1500); }  // once its maps have drawn
    });
  }

  function pollJob(jobId, onProgress, onEnd, onError) {
    api('GET', '/jobs/' + jobId).then(function (job) {
      if (job.status === 'queued' || job.status === 'running') { onProgress(job); setTimeout(function () { pollJob(jobId, onProgress, onEnd, onError); }, 800); return; }
      onEnd(job);
    }).catch(onError);
  }

  function jobText(job) { return t(job.status === 'queued' || job.status === 'running' ? 'running' : job.status) + ' · ' + (job.message || ''); }

  /* A reason from the planner in the page's language (older stored plans have English only). */
  function reasonText(row) { return state.lang === 'zh' && row.reason_zh ? row.reason_zh : row.reason; }

  function errorBox() { return el('p', {'class': 'error', role: 'alert'}); }
  function fail(box) { return function (e) { box.textContent = e.message; }; }

  function table(columns, rows) {
    var head = el('tr', {}, columns.map(function (c) { return el('th', {scope: 'col', text: c}); }));
    return el('div', {'class': 'table-wrap'}, [el('table', {}, [el('thead', {}, [head]), el('tbody', {}, rows.map(function (r) {
      return el('tr', {}, r.map(function (c) { return c instanceof Node ? el('td', {}, [c]) : el('td', {text: c}); }));
    }))])]);
  }

  function regionSelect() {
    var s = el('select');
    state.regions.forEach(function (r) { s.appendChild(el('option', {value: r.id, text: r.name + ' (v' + r.version + ')'})); });
    return s;
  }

  function solverWords(s) {
    if (!s) { return '–'; }
    if (s.proven_optimal) { return t('proven'); }
    return s.gap !== null && s.gap !== undefined ? t('within') + ' ' + (100 * s.gap).toFixed(2) + '%' : '–';
  }

  /* ---------------------------------------------------------------- planner */
  function planView(planId, into) {
    into.textContent = '';
    var box = errorBox();
    into.appendChild(box);
    api('GET', '/plans/' + planId).then(function (p) {
      var s = p.summary || {};
      var towns = (p.units || []).filter(function (u) { return u.level === 'town'; });
      into.appendChild(el('h3', {text: '#' + planId + ' · ' + ((s.scenario && s.scenario.name) || (typeof s.scenario === 'string' ? s.scenario : '') || s.description || '')}));
      into.appendChild(el('div', {'class': 'figures'}, [
        el('div', {'class': 'figure'}, [el('span', {text: t('covered_before')}), el('b', {text: pct(s.covered_by_existing_share)})]),
        el('div', {'class': 'figure'}, [el('span', {text: t('covered_after')}), el('b', {text: pct(s.covered_share)})]),
        el('div', {'class': 'figure'}, [el('span', {text: t('new_sites')}), el('b', {text: String(s.new_sites)})]),
        el('div', {'class': 'figure'}, [el('span', {text: t('solver')}), el('b', {'data-solver': '', text: solverWords(s.solver)})])
      ]));
      if (towns.length) {
        into.appendChild(el('h3', {text: t('compliance')}));
        into.appendChild(table([t('town'), t('residents'), t('share'), t('existing_new'), t('minimum'), t('compliant')], towns.map(function (u) {
          return [u.name, whole(u.residents), pct(u.covered_share), (u.existing_sites || 0) + ' / ' + (u.new_sites || 0), String(u.minimum_sites || 0),
                  u.compliant === null || u.compliant === undefined ? '–' : (u.compliant ? t('yes') : t('no'))];
        })));
      }
      into.appendChild(el('div', {'class': 'actions'}, [
        el('button', {type: 'button', 'class': 'secondary', text: t('download_excel'), onclick: function () { download('/plans/' + planId + '/excel?lang=' + state.lang, 'plan-' + planId + '.xlsx').catch(fail(box)); }}),
        el('button', {type: 'button', 'class': 'secondary', text: t('download_geojson'), onclick: function () { download('/plans/' + planId + '/geojson', 'plan-' + planId + '.geojson').catch(fail(box)); }}),
        el('button', {type: 'button', 'class': 'secondary', text: t('download_map'), onclick: function () { download('/plans/' + planId + '/map?lang=' + state.lang, 'plan-' + planId + '.html').catch(fail(box)); }}),
        p.kind === 'scenario' ? el('button', {type: 'button', 'class': 'secondary', text: t('print_plan'), onclick: function () { printFrame('/plans/' + planId + '/map?print_mode=true&lang=' + state.lang, into); }}) : null
      ]));
      into.appendChild(el('h3', {text: t('map')}));
      into.appendChild(mapFrame('/plans/' + planId + '/map?lang=' + state.lang));
    }).catch(fail(box));
  }

  /* Sites to keep or forbid in a scenario: picked on the region's map (a click cycles keep → forbid →
     neither; the map page reports clicks by postMessage and is told the states back) or typed by
     name; listed with their state, each changeable and removable from the keyboard. */
  function sitePicker(region, facility) {
    var picked = {};   // site id → 'keep' | 'forbid'
    var sites = {};    // site id → {name, status, town}
    var frame = null;
    var box = errorBox();
    var list = el('div', {'aria-live': 'polite'});
    var options = el('datalist', {id: 'sc-pick-options'});
    var search = el('input', {type: 'text', list: 'sc-pick-options', autocomplete: 'off'});
    var holder = el('div', {'class': 'pick-map'});
    var STATES = {keep: t('keep'), forbid: t('forbid')};
    function byName(text) {
      var ids = Object.keys(sites).filter(function (id) { return sites[id].name === text || id === text; });
      return ids.length ? ids[0] : null;
    }
    function tell() {
      if (frame && frame.contentWindow) { frame.contentWindow.postMessage({type: 'planner-picked', states: picked}, '*'); }
    }
    function render() {
      list.textContent = '';
      var ids = Object.keys(picked);
      if (!ids.length) { list.appendChild(el('p', {'class': 'muted', text: t('none_picked')})); tell(); return; }
      list.appendChild(table([t('name'), t('status'), t('pick_state'), ''], ids.map(function (id) {
        var choice = select(STATES, picked[id]);
        choice.setAttribute('aria-label', t('pick_state') + ' ' + sites[id].name);
        choice.addEventListener('change', function () { picked[id] = choice.value; render(); });
        return [sites[id].name, t('site_' + sites[id].status), choice,
                el('button', {type: 'button', 'class': 'secondary', text: t('remove'), 'aria-label': t('remove') + ' ' + sites[id].name,
                              onclick: function () { delete picked[id]; render(); }})];
      })));
      tell();
    }
    function load() {
      picked = {}; sites = {}; options.textContent = ''; box.textContent = '';
      if (frame) { frame.remove(); frame = null; showMap.hidden = false; }
      render();
      return api('GET', '/regions/' + encodeURIComponent(region.value) + '/sites?facility_type=' + encodeURIComponent(facility.value)).then(function (rows) {
        rows.forEach(function (r) { sites[r.site_id] = r; options.appendChild(el('option', {value: r.name})); });
      }).catch(fail(box));
    }
    function add(stateName) {
      var id = byName(search.value.trim());
      if (!id) { box.textContent = t('no_such_site'); search.focus(); return; }
      box.textContent = ''; picked[id] = stateName; search.value = ''; render();
    }
    var showMap = el('button', {type: 'button', 'class': 'secondary', text: t('pick_on_map'), onclick: function () {
      frame = mapFrame('/regions/' + encodeURIComponent(region.value) + '/sites/map?facility_type=' + encodeURIComponent(facility.value) + '&lang=' + state.lang);
      frame.classList.add('pick-frame');
      holder.appendChild(frame);
      showMap.hidden = true;
    }});
    state.onPick = function (ev) {
      if (!frame || ev.source !== frame.contentWindow || !ev.data) { return; }
      if (ev.data.type === 'planner-pick-ready') { tell(); return; }
      var id = ev.data.type === 'planner-pick' ? String(ev.data.site) : null;
      if (!id || !sites[id]) { return; }
      if (!picked[id]) { picked[id] = 'keep'; } else if (picked[id] === 'keep') { picked[id] = 'forbid'; } else { delete picked[id]; }
      render();
    };
    region.addEventListener('change', load);
    facility.addEventListener('change', load);
    load();
    var node = el('fieldset', {'class': 'pick'}, [el('legend', {text: t('pick_title')}), el('p', {'class': 'muted', text: t('pick_help')}),
      field('sc-pick', t('site_name'), search), options,
      el('div', {'class': 'actions'}, [el('button', {type: 'button', 'class': 'secondary', text: t('keep'), onclick: function () { add('keep'); }}),
                                       el('button', {type: 'button', 'class': 'secondary', text: t('forbid'), onclick: function () { add('forbid'); }}), showMap]),
      box, holder, list]);
    return {node: node, ids: function (which) { return Object.keys(picked).filter(function (id) { return picked[id] === which; }); }};
  }

  function scenarioTab(view) {
    var region = regionSelect();
    var name = el('input', {type: 'text', value: '助餐配餐点', maxlength: 200});
    var facility = select(FACILITIES, 'meal_point');
    var model = select(MODELS, 'mclp');
    var standard = number(10, 1, 180);
    var nNew = number(5, 0, 10000);
    var minTown = number('', 0, 100);
    var budget = number('', 0, 1e12, 'any');
    var group = select(GROUPS, 'pop_60');
    var box = errorBox();
    var progress = el('progress', {'class': 'progress', max: 1, value: 0, hidden: true, 'aria-label': t('running')});
    var message = el('p', {'class': 'muted', 'aria-live': 'polite'});
    var cancel = el('button', {type: 'button', 'class': 'danger', text: t('cancel'), hidden: true});
    var result = el('div');
    var submit = el('button', {type: 'submit', text: t('run')});
    var picks = sitePicker(region, facility);
    var form = el('form', {'class': 'grid'}, [field('sc-region', t('region'), region), field('sc-name', t('name'), name), field('sc-facility', t('facility_type'), facility),
      field('sc-model', t('model'), model), field('sc-standard', t('standard_min'), standard), field('sc-new', t('n_new'), nNew),
      field('sc-min-town', t('min_per_town'), minTown), field('sc-budget', t('budget'), budget), field('sc-group', t('group'), group), picks.node, el('div', {}, [submit])]);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      box.textContent = ''; result.textContent = ''; submit.disabled = true;
      var body = {name: name.value, facility_type: facility.value, model: model.value, standard_min: Number(standard.value), group: group.value, time_limit: 60};
      if (model.value !== 'lscp' && budget.value === '') { body.n_new = Number(nNew.value); } else { body.n_new = null; }
      if (budget.value !== '') { body.budget = Number(budget.value); }
      if (minTown.value !== '') { body.unit_min = {town: Number(minTown.value)}; }
      body.required_sites = picks.ids('keep');
      body.forbidden_sites = picks.ids('forbid');
      api('POST', '/regions/' + encodeURIComponent(region.value) + '/scenarios', body).then(function (sc) {
        return api('POST', '/scenarios/' + sc.id + '/run');
      }).then(function (run) {
        progress.hidden = false; cancel.hidden = false;
        cancel.onclick = function () { api('POST', '/jobs/' + run.job + '/cancel').catch(fail(box)); };
        pollJob(run.job, function (job) { progress.value = job.progress || 0; message.textContent = jobText(job); }, function (job) {
          message.textContent = jobText(job);
          cancel.hidden = true; submit.disabled = false; progress.hidden = true;
          if (job.status === 'done') { planView(job.plan_id, result); } else { box.textContent = t(job.status) + ': ' + (job.message || ''); }
        }, function (e) { submit.disabled = false; fail(box)(e); });
      }).catch(function (e) { submit.disabled = false; fail(box)(e); });
    });
    view.appendChild(el('section', {'class': 'card'}, [el('h2', {text: t('tab_scenario')}), form, box, progress, message, cancel]));
    view.appendChild(el('section', {'class': 'card'}, [result]));
  }

  function plansTab(view) {
    var box = errorBox();
    var shown = el('div');
    var list = el('div');
    var versions = el('div');
    view.appendChild(el('section', {'class': 'card'}, [el('h2', {text: t('versions')}), versions]));
    view.appendChild(el('section', {'class': 'card'}, [el('h2', {text: t('plans')}), box, list]));
    view.appendChild(el('section', {'class': 'card'}, [shown]));
    state.regions.forEach(function (r) {
      api('GET', '/regions/' + encodeURIComponent(r.id) + '/versions').then(function (rows) {
        versions.appendChild(el('h3', {text: r.name}));
        versions.appendChild(table([t('version'), t('change'), t('features'), t('when')], rows.map(function (v) {
          return ['v' + v.version, v.note || v.change || '–', String(v.sites), String(v.created_at).slice(0, 16)];
        })));
      }).catch(fail(box));
    });
    api('GET', '/plans?limit=100').then(function (page) {
      list.appendChild(table(['#', t('name'), t('region'), t('when'), ''], page.items.map(function (p) {
        return [String(p.id), (p.name || p.kind), p.region + (p.town ? ' · ' + p.town : ''), p.created_at.slice(0, 16),
                el('button', {type: 'button', 'class': 'secondary', text: t('open'), onclick: function () { planView(p.id, shown); }})];
      })));
    }).catch(fail(box));
  }

  function compareTab(view) {
    var a = el('select'), b = el('select');
    var box = errorBox();
    var out = el('div');
    var button = el('button', {type: 'button', text: t('compare')});
    view.appendChild(el('section', {'class': 'card'}, [el('h2', {text: t('tab_compare')}), el('div', {'class': 'grid'}, [field('cmp-a', t('plan_a'), a), field('cmp-b', t('plan_b'), b)]),
      el('div', {'class': 'actions'}, [button]), box, out]));
    api('GET', '/plans?kind=scenario&limit=100').then(function (page) {
      page.items.forEach(function (p, k) {
        a.appendChild(el('option', {value: p.id, text: '#' + p.id + ' ' + (p.name || '')}));
        b.appendChild(el('option', {value: p.id, text: '#' + p.id + ' ' + (p.name || ''), selected: k === 1}));
      });
    }).catch(fail(box));
    button.addEventListener('click', function () {
      out.textContent = ''; box.textContent = '';
      Promise.all([api('GET', '/plans/' + a.value), api('GET', '/plans/' + b.value)]).then(function (both) {
        var pa = both[0], pb = both[1], sa = pa.summary, sb = pb.summary;
        var newA = pa.sites.filter(function (s) { return s.plan_status === 'new'; }).map(function (s) { return s.site_id; });
        var newB = pb.sites.filter(function (s) { return s.plan_status === 'new'; }).map(function (s) { return s.site_id; });
        var names = {};
        pa.sites.concat(pb.sites).forEach(function (s) { names[s.site_id] = s.name; });
        var onlyA = newA.filter(function (x) { return newB.indexOf(x) < 0; }), onlyB = newB.filter(function (x) { return newA.indexOf(x) < 0; });
        var diff = (sb.covered_share - sa.covered_share);
        out.appendChild(table(['', t('plan_a') + ' #' + pa.id, t('plan_b') + ' #' + pb.id, t('difference')], [
          [t('covered_after'), pct(sa.covered_share), pct(sb.covered_share), (diff >= 0 ? '+' : '') + (100 * diff).toFixed(1) + ' %'],
          [t('new_sites'), String(sa.new_sites), String(sb.new_sites), String(sb.new_sites - sa.new_sites)],
          [t('solver'), solverWords(sa.solver), solverWords(sb.solver), ''],
          [t('only_in'), onlyA.map(function (x) { return names[x]; }).join('、') || '–', onlyB.map(function (x) { return names[x]; }).join('、') || '–', '']
        ]));
        out.appendChild(el('div', {'class': 'compare'}, [mapFrame('/plans/' + pa.id + '/map?lang=' + state.lang, t('plan_a')), mapFrame('/plans/' + pb.id + '/map?lang=' + state.lang, t('plan_b'))]));
      }).catch(fail(box));
    });
  }

  function statusText(status) { return t('status_' + status); }

  function uploadsTable(items, actions) {
    return table(['#', t('file'), t('town'), t('features'), t('status'), ''], items.map(function (u) {
      return [String(u.id), u.filename, u.town || '–', String(u.features), el('span', {'class': 'status-' + u.status, text: statusText(u.status)}), actions(u)];
    }));
  }

  /* A section listing a region's uploads (``query``: e.g. '?status=proposed'), each with its
     actions(u, reload, box); reloaded when the region changes or on 刷新. */
  function uploadsSection(view, title, idPrefix, query, empty, actions) {
    var region = regionSelect();
    var box = errorBox();
    var list = el('div');
    function load() {
      list.textContent = '';
      api('GET', '/regions/' + encodeURIComponent(region.value) + '/uploads' + query).then(function (items) {
        if (!items.length && empty) { list.appendChild(el('p', {'class': 'muted', text: empty})); return; }
        list.appendChild(uploadsTable(items, function (u) { return actions(u, load, box); }));
      }).catch(fail(box));
    }
    region.addEventListener('change', load);
    view.appendChild(el('section', {'class': 'card'}, [el('h2', {text: title}), field(idPrefix + '-region', t('region'), region),
      el('div', {'class': 'actions'}, [el('button', {type: 'button', 'class': 'secondary', text: t('refresh'), onclick: load})]), box, list]));
    load();
  }

  function proposalsTab(view) {
    uploadsSection(view, t('tab_proposals'), 'pr', '?status=proposed', t('proposals_none'), function (u, load, box) {
      return el('span', {'class': 'actions'}, [
        el('button', {type: 'button', text: t('approve'), 'data-approve': u.id, onclick: function () { api('POST', '/uploads/' + u.id + '/approve', {note: ''}).then(load).catch(fail(box)); }}),
        el('button', {type: 'button', 'class': 'secondary', text: t('reject'), onclick: function () { api('POST', '/uploads/' + u.id + '/reject', {note: ''}).then(load).catch(fail(box)); }})
      ]);
    });
  }

  function auditTab(view) {
    var box = errorBox();
    var list = el('div');
    view.appendChild(el('section', {'class': 'card'}, [el('h2', {text: t('tab_audit')}), box, list]));
    api('GET', '/audit?limit=200').then(function (rows) {
      list.appendChild(table([t('when'), t('who'), t('action'), t('detail')], rows.map(function (r) {
        return [String(r.created_at).slice(0, 19), r.key_name || '–', r.action, JSON.stringify(r.detail || {})];
      })));
    }).catch(fail(box));
  }

  /* ---------------------------------------------------------------- street office */
  function suggestTab(view) {
    var region = regionSelect();
    var facility = select(FACILITIES, 'meal_point');
    var k = number(3, 1, 50);
    var standard = number(10, 1, 60);
    var from = el('select');
    var box = errorBox();
    var out = el('div');
    function loadProposals() {  // the office's own candidate uploads: pending ones are laid over the region for its questions only
      var keep = from.value || state.suggestFrom || '';
      from.textContent = '';
      from.appendChild(el('option', {value: '', text: t('from_region')}));
      api('GET', '/regions/' + encodeURIComponent(region.value) + '/uploads').then(function (items) {
        items.filter(function (u) { return u.kind === 'candidates' && (u.status === 'proposed' || u.status === 'approved'); }).forEach(function (u) {
          from.appendChild(el('option', {value: String(u.id), text: t('from_upload') + ' #' + u.id + ' · ' + u.filename + ' (' + statusText(u.status) + ', ' + u.features + ')',
                                         selected: String(u.id) === String(keep)}));
        });
        state.suggestFrom = null;
      }).catch(fail(box));
    }
    region.addEventListener('change', loadProposals);
    loadProposals();
    var form = el('form', {'class': 'grid'}, [field('sg-region', t('region'), region), field('sg-facility', t('facility_type'), facility),
      field('sg-k', t('k'), k), field('sg-standard', t('standard_min'), standard), field('sg-from', t('candidates_from'), from),
      el('div', {}, [el('button', {type: 'submit', text: t('ask')})])]);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault(); out.textContent = ''; box.textContent = '';
      var body = {town: state.me.town, k: Number(k.value), facility_type: facility.value, standard_min: Number(standard.value), lang: state.lang};
      if (from.value) { body.upload_id = Number(from.value); }
      api('POST', '/regions/' + encodeURIComponent(region.value) + '/suggestions', body).then(function (a) {
        if (a.proposal) { out.appendChild(el('p', {'class': 'muted', 'data-proposal': '', text: t('among_proposal') + ' #' + body.upload_id})); }
        out.appendChild(el('div', {'class': 'figures'}, [
          el('div', {'class': 'figure'}, [el('span', {text: t('covered_before')}), el('b', {text: pct(a.covered_share_before)})]),
          el('div', {'class': 'figure'}, [el('span', {text: t('covered_after')}), el('b', {text: pct(a.covered_share_after)})])]));
        out.appendChild(table([t('rank'), t('name'), t('adds')], a.sites.map(function (s) {
          return [String(s.rank), s.name, s.adds_persons === null ? '<5' : whole(s.adds_persons)];
        })));
        out.appendChild(mapFrame(a.map));
      }).catch(fail(box));
    });
    view.appendChild(el('section', {'class': 'card'}, [el('h2', {text: t('tab_suggest') + ' · ' + (state.me.town_name || state.me.town)}), form, box, out]));
  }

  function uploadTab(view) {
    var region = regionSelect();
    var coords = select({wgs84: 'WGS-84 (GPS)', gcj02: 'GCJ-02 (高德/腾讯 Amap)', bd09: 'BD-09 (百度 Baidu)'}, 'gcj02');
    var facility = select(FACILITIES, 'meal_point');
    var input = el('input', {type: 'file', accept: '.csv,.xlsx,.xls,.geojson,.json'});
    var drop = el('div', {'class': 'drop'}, [el('label', {'for': 'up-file', text: t('drop')}), input]);
    input.id = 'up-file';
    var box = errorBox();
    var out = el('div', {'aria-live': 'polite'});
    function send(file) {
      box.textContent = ''; out.textContent = '';
      var form = new FormData();
      form.append('file', file, file.name);
      form.append('coords', coords.value);
      form.append('kind', 'candidates');
      form.append('facility_type', facility.value);
      api('POST', '/regions/' + encodeURIComponent(region.value) + '/uploads', form).then(function (r) {
        out.appendChild(el('p', {'class': 'ok', text: t('uploaded') + ' · #' + r.id + ' · ' + r.features + ' ' + t('features')}));
        if (r.skipped && r.skipped.length) {
          out.appendChild(el('h3', {text: t('skipped')}));
          out.appendChild(el('ul', {}, r.skipped.map(function (s) { return el('li', {text: s}); })));
        }
      }).catch(fail(box));
    }
    input.addEventListener('change', function () { if (input.files.length) { send(input.files[0]); } });
    drop.addEventListener('dragover', function (ev) { ev.preventDefault(); drop.classList.add('over'); });
    drop.addEventListener('dragleave', function () { drop.classList.remove('over'); });
    drop.addEventListener('drop', function (ev) { ev.preventDefault(); drop.classList.remove('over'); if (ev.dataTransfer.files.length) { send(ev.dataTransfer.files[0]); } });
    view.appendChild(el('section', {'class': 'card'}, [el('h2', {text: t('tab_upload')}), el('div', {'class': 'grid'}, [field('up-region', t('region'), region),
      field('up-coords', t('coords'), coords), field('up-facility', t('facility_type'), facility)]), drop, box, out]));
  }

  function myUploadsTab(view) {
    uploadsSection(view, t('tab_my_uploads'), 'mu', '', null, function (u, load, box) {
      var ask = u.kind === 'candidates' && (u.status === 'proposed' || u.status === 'approved') ? el('button', {type: 'button', 'class': 'secondary',
        text: t('ask_among'), 'aria-label': t('ask_among') + ' #' + u.id, onclick: function () { state.suggestFrom = String(u.id); show('suggest'); }}) : null;
      var other = u.status === 'proposed' ? el('button', {type: 'button', 'class': 'secondary', text: t('withdraw'), 'aria-label': t('withdraw') + ' #' + u.id, onclick: function () {
        api('DELETE', '/uploads/' + u.id).then(load).catch(fail(box)); }}) : el('span', {text: u.decision_note || ''});
      return el('div', {'class': 'actions tight'}, [ask, other]);
    });
  }

  /* ---------------------------------------------------------------- patrol team */
  function roundTab(view) {
    var region = regionSelect();
    var teams = number(2, 1, 20);
    var mode = select({walk: [t('walk'), t('walk')], ebike: [t('ebike'), t('ebike')], van: [t('van'), t('van')]}, 'walk');
    var start = el('input', {type: 'time', value: '20:00'});
    var end = el('input', {type: 'time', value: '02:00'});
    var campaign = select({'': [t('none'), t('none')], heat: [t('heat'), t('heat')], cold: [t('cold'), t('cold')]}, '');
    var spots = number(12, 1, 200);
    var day = el('input', {type: 'date', value: new Date().toISOString().slice(0, 10)});
    var box = errorBox();
    var out = el('div');
    var added = [];
    var stopName = el('input', {type: 'text', maxlength: 200});
    var stopAt = el('input', {type: 'text', inputmode: 'decimal', placeholder: '113.7518, 23.0207', 'aria-describedby': 'pt-stop-help'});
    var stopCoords = select({wgs84: ['WGS-84 (GPS)', 'WGS-84 (GPS)'], gcj02: [t('gcj02'), t('gcj02')], bd09: [t('bd09'), t('bd09')]}, 'gcj02');
    var stopList = el('ul', {'class': 'stops', 'aria-live': 'polite'});
    var stopBox = errorBox();
    function listStops() {
      stopList.textContent = '';
      added.forEach(function (s, k) {
        stopList.appendChild(el('li', {}, [s.name + ' (' + s.lon + ', ' + s.lat + ', ' + s.coords + ') ',
          el('button', {type: 'button', 'class': 'secondary', text: t('remove'), 'aria-label': t('remove') + ' ' + s.name, onclick: function () { added.splice(k, 1); listStops(); }})]));
      });
    }
    var addStop = el('button', {type: 'button', 'class': 'secondary', text: t('add_stop'), onclick: function () {
      stopBox.textContent = '';
      var parts = stopAt.value.split(/[,，\s]+/).filter(function (x) { return x !== ''; }).map(Number);
      if (!stopName.value.trim()) { stopBox.textContent = t('stop_needs_name'); stopName.focus(); return; }
      if (parts.length !== 2 || !isFinite(parts[0]) || !isFinite(parts[1]) || Math.abs(parts[0]) > 180 || Math.abs(parts[1]) > 90) {
        stopBox.textContent = t('stop_needs_lonlat'); stopAt.focus(); return;
      }
      added.push({name: stopName.value.trim(), lon: parts[0], lat: parts[1], coords: stopCoords.value});
      stopName.value = ''; stopAt.value = ''; listStops();
    }});
    var extra = el('fieldset', {'class': 'extra-stops'}, [el('legend', {text: t('extra_stops')}),
      field('pt-stop-name', t('stop_name'), stopName), field('pt-stop-at', t('lonlat'), stopAt), field('pt-stop-coords', t('coords'), stopCoords),
      el('p', {id: 'pt-stop-help', 'class': 'muted', text: t('lonlat_help')}), addStop, stopBox, stopList]);
    var form = el('form', {'class': 'grid'}, [field('pt-region', t('region'), region), field('pt-date', t('date'), day), field('pt-teams', t('teams'), teams), field('pt-mode', t('mode'), mode),
      field('pt-start', t('shift_start'), start), field('pt-end', t('shift_end'), end), field('pt-campaign', t('campaign'), campaign),
      field('pt-spots', t('spots'), spots), extra, el('div', {}, [el('button', {type: 'submit', text: t('plan_round')})])]);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault(); out.textContent = ''; box.textContent = '';
      var body = {station: state.me.station, teams: [{name: '巡查队', count: Number(teams.value), mode: mode.value, shift_start: start.value, shift_end: end.value}],
                  spots: Number(spots.value), extra_stops: added.slice()};
      if (campaign.value) { body.campaign = campaign.value; }
      if (day.value) { body.date = day.value; }
      api('POST', '/regions/' + encodeURIComponent(region.value) + '/patrols', body).then(function (p) {
        out.appendChild(el('h3', {text: t('timetable')}));
        p.teams.forEach(function (team) {
          out.appendChild(el('h3', {text: team.team + ' · ' + team.departure + ' → ' + team['return']}));
          out.appendChild(table([t('order'), t('stop'), t('arrival')], team.stops.map(function (s) { return [String(s.order), s.name + (s.kind === 'reported' ? ' · ' + t('added') : ''), s.arrival]; })));
        });
        if ((p.unserved || []).length) {
          out.appendChild(el('h3', {text: t('not_visited')}));
          out.appendChild(table([t('stop'), t('reason')], p.unserved.map(function (u) { return [u.name, reasonText(u)]; })));
        }
        out.appendChild(el('div', {'class': 'actions'}, [
          el('button', {type: 'button', 'class': 'secondary', text: t('download_gpx'), onclick: function () { download('/patrols/' + p.id + '/gpx', 'patrol-' + p.id + '.gpx').catch(fail(box)); }}),
          el('button', {type: 'button', 'class': 'secondary', text: t('print_sheet'), onclick: function () { printFrame('/patrols/' + p.id + '/map?print_mode=true&lang=' + state.lang, out); }})]));
        out.appendChild(mapFrame('/patrols/' + p.id + '/map?lang=' + state.lang));
      }).catch(fail(box));
    });
    view.appendChild(el('section', {'class': 'card'}, [el('h2', {text: t('tab_round') + ' · ' + (state.me.station || '')}), form, box, out]));
  }

  /* ---------------------------------------------------------------- three-level network (planner) */
  function hierarchyTab(view) {
    var region = regionSelect();
    var limits = {flagship: number('', 0, 100), town_centre: number('', 0, 10000), community_venue: number('', 0, 10000)};
    var box = errorBox();
    var progress = el('p', {'class': 'muted', 'aria-live': 'polite'});
    var out = el('div');
    var form = el('form', {'class': 'grid'}, [field('hi-region', t('region'), region),
      field('hi-flagship', t('level_flagship') + ' · ' + t('new_per_level'), limits.flagship),
      field('hi-town', t('level_town_centre') + ' · ' + t('new_per_level'), limits.town_centre),
      field('hi-community', t('level_community_venue') + ' · ' + t('new_per_level'), limits.community_venue),
      el('div', {}, [el('button', {type: 'submit', text: t('hierarchy_run')})])]);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault(); out.textContent = ''; box.textContent = '';
      var byLevel = {};
      Object.keys(limits).forEach(function (name) { if (limits[name].value !== '') { byLevel[name] = Number(limits[name].value); } });
      api('POST', '/regions/' + encodeURIComponent(region.value) + '/hierarchies', {time_limit: 60, n_new_by_level: byLevel}).then(function (sc) {
        return api('POST', '/scenarios/' + sc.id + '/run');
      }).then(function (run) {
        pollJob(run.job, function (job) { progress.textContent = jobText(job); }, function (job) {
            progress.textContent = jobText(job);
            if (job.status !== 'done') { box.textContent = t(job.status) + ': ' + (job.message || ''); return; }
            api('GET', '/plans/' + job.plan_id).then(function (p) {
              out.appendChild(el('p', {'data-solver': '', text: t('solver') + ': ' + solverWords(p.solver)}));
              out.appendChild(table([t('level'), t('unit_level'), t('sites'), t('share'), t('compliant')], p.levels.map(function (lv) {
                var added = lv.sites.filter(function (s) { return s.plan_status === 'new'; }).length;
                return [t('level_' + lv.name) === 'level_' + lv.name ? lv.name : t('level_' + lv.name), t('per_' + lv.unit_level), (lv.sites.length - added) + ' / ' + added,
                        pct(lv.covered_share), lv.compliant ? t('yes') : t('no') + (lv.units_failing.length ? ' (' + lv.units_failing.slice(0, 5).join('、') + ')' : '')];
              })));
              out.appendChild(el('div', {'class': 'actions'}, [el('button', {type: 'button', 'class': 'secondary', text: t('download_geojson'), onclick: function () {
                download('/plans/' + job.plan_id + '/geojson', 'network-' + job.plan_id + '.geojson').catch(fail(box)); }})]));
            }).catch(fail(box));
        }, fail(box));
      }).catch(fail(box));
    });
    view.appendChild(el('section', {'class': 'card'}, [el('h2', {text: t('tab_hierarchy')}), el('p', {'class': 'muted', text: '市级有龙头、镇街有示范、村（社区）有场所'}), form, box, progress, out]));
  }

  /* ---------------------------------------------------------------- home visits (planner, street office) */
  function visitsTab(view) {
    var region = regionSelect();
    var now = new Date();
    var month = el('input', {type: 'month', value: now.getFullYear() + '-' + String(now.getMonth() + 1).padStart(2, '0')});
    var per = number(2, 1, 8);
    var capacity = number(25, 1, 500);
    var box = errorBox();
    var out = el('div');
    var form = el('form', {'class': 'grid'}, [field('vi-region', t('region'), region), field('vi-month', t('month'), month), field('vi-per', t('visits_per_month'), per),
      field('vi-capacity', t('visitor_capacity'), capacity), el('div', {}, [el('button', {type: 'submit', text: t('plan_visits')})])]);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault(); out.textContent = ''; box.textContent = '';
      var parts = month.value.split('-');
      api('POST', '/regions/' + encodeURIComponent(region.value) + '/visits', {year: Number(parts[0]), month: Number(parts[1]), visits_per_month: Number(per.value),
                                                                                visitor_capacity: Number(capacity.value)}).then(function (v) {
        var s = v.summary;
        out.appendChild(el('div', {'class': 'figures'}, [
          el('div', {'class': 'figure'}, [el('span', {text: t('elders')}), el('b', {text: String(s.elders)})]),
          el('div', {'class': 'figure'}, [el('span', {text: t('all_visits')}), el('b', {'data-all-visits': '', text: String(s.elders_with_all_visits)})])]));
        if (s.bases_note) { out.appendChild(el('p', {'class': 'muted', text: t('bases_note') + ': ' + pick([s.bases_note.zh, s.bases_note.en])})); }
        if (v.unserved.length) {
          out.appendChild(el('h3', {text: t('short')}));
          out.appendChild(table([t('elder'), t('reason')], v.unserved.map(function (u) { return [String(u.elder_name), String(reasonText(u))]; })));
        }
        out.appendChild(el('div', {'class': 'actions'}, [el('button', {type: 'button', 'class': 'secondary', text: t('download_calendar'), onclick: function () {
          download('/visits/' + v.id + '/calendar?format=csv', 'visits-' + v.id + '.csv').catch(fail(box)); }})]));
      }).catch(fail(box));
    });
    view.appendChild(el('section', {'class': 'card'}, [el('h2', {text: t('tab_visits') + (state.me.town ? ' · ' + (state.me.town_name || state.me.town) : '')}), form, box, out]));
  }

  /* ---------------------------------------------------------------- shell */
  var TABS = {
    admin: ['scenario', 'hierarchy', 'plans', 'compare', 'proposals', 'visits', 'audit'],
    planner: ['scenario', 'hierarchy', 'plans', 'compare', 'proposals', 'visits', 'audit'],
    street_office: ['suggest', 'upload', 'my_uploads', 'visits'],
    patrol: ['round']
  };
  var VIEWS = {scenario: scenarioTab, plans: plansTab, compare: compareTab, proposals: proposalsTab, audit: auditTab, suggest: suggestTab,
               upload: uploadTab, my_uploads: myUploadsTab, round: roundTab, visits: visitsTab, hierarchy: hierarchyTab};

  function show(tab) {
    state.tab = tab;
    state.onPick = null;
    var views = $('views');
    views.textContent = '';
    Array.prototype.forEach.call($('tabs').children, function (b) { b.setAttribute('aria-selected', String(b.dataset.tab === tab)); });
    VIEWS[tab](views);
  }

  function applyLanguage() {
    document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
    Array.prototype.forEach.call(document.querySelectorAll('[data-t]'), function (n) { n.textContent = t(n.dataset.t); });
    document.title = t('title');
  }

  function enter(me) {
    state.me = me;
    $('signin').hidden = true;
    $('signout').hidden = false;
    $('who').textContent = me.name + ' · ' + t('role_' + me.role) + (me.town ? ' · ' + (me.town_name || me.town) : '') + (me.station ? ' · ' + me.station : '');
    var tabs = $('tabs');
    tabs.textContent = '';
    tabs.hidden = false;
    tabs.setAttribute('role', 'tablist');
    TABS[me.role].forEach(function (name) {
      tabs.appendChild(el('button', {type: 'button', role: 'tab', 'data-tab': name, text: t('tab_' + name), onclick: function () { show(name); }}));
    });
    return api('GET', '/regions').then(function (regions) { state.regions = regions; show(TABS[me.role][0]); });
  }

  function signIn(key) {
    state.key = key;
    return api('GET', '/me').then(function (me) { sessionStorage.setItem('plannerKey', key); return enter(me); });
  }

  function signOut() {
    sessionStorage.removeItem('plannerKey');
    state.key = null; state.me = null;
    $('views').textContent = ''; $('tabs').hidden = true; $('signin').hidden = false; $('signout').hidden = true; $('who').textContent = '';
    $('key').value = '';
    $('key').focus();
  }

  window.addEventListener('message', function (ev) { if (state.onPick) { state.onPick(ev); } });

  document.addEventListener('DOMContentLoaded', function () {
    applyLanguage();
    $('signin-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      $('signin-error').textContent = '';
      signIn($('key').value.trim()).catch(function (e) { state.key = null; $('signin-error').textContent = e.status === 401 ? t('bad_key') : e.message; });
    });
    $('signout').addEventListener('click', signOut);
    $('lang').addEventListener('click', function () {
      state.lang = state.lang === 'zh' ? 'en' : 'zh';
      localStorage.setItem('plannerLang', state.lang);
      applyLanguage();
      if (state.me) { enter(state.me).then(function () { if (state.tab) { show(state.tab); } }); }
    });
    if (state.key) { signIn(state.key).catch(signOut); }
  });
})();
