// fengqiao pages: small progressive enhancements. Every page works without this script.
(function () {
  'use strict';

  // Report form: show only the chosen category's questions, warn at once for emergencies.
  function categoryQuestions() {
    var sel = document.getElementById('category');
    if (!sel || !document.getElementById('report-form')) return;
    var note = document.getElementById('emergency-note');
    function update() {
      var code = sel.value;
      document.querySelectorAll('[data-questions]').forEach(function (box) {
        var on = box.getAttribute('data-questions') === code;
        box.hidden = !on;
        box.querySelectorAll('input, select, textarea').forEach(function (el) {
          el.disabled = !on;
          if (el.hasAttribute('data-required')) el.required = on;
        });
      });
      var opt = sel.options[sel.selectedIndex];
      if (note) note.hidden = !(opt && opt.hasAttribute('data-emergency'));
    }
    sel.addEventListener('change', update);
    update();
  }

  // Clicking a pick map sets latitude and longitude from the SVG's projection.
  function pickMap() {
    document.querySelectorAll('[data-pick] svg.mapsvg').forEach(function (svg) {
      var lat = document.getElementById('lat'), lon = document.getElementById('lon');
      if (!lat || !lon) return;
      var minLon = parseFloat(svg.dataset.minlon), maxLat = parseFloat(svg.dataset.maxlat);
      var kx = parseFloat(svg.dataset.kx), ky = parseFloat(svg.dataset.ky);
      var marker = null;
      function place(x, y) {
        if (!marker) {
          marker = document.createElementNS('http://www.w3.org/2000/svg', 'circle');
          marker.setAttribute('r', '8');
          marker.setAttribute('class', 'pin');
          svg.appendChild(marker);
        }
        marker.setAttribute('cx', x.toFixed(1));
        marker.setAttribute('cy', y.toFixed(1));
      }
      svg.addEventListener('click', function (ev) {
        var pt = svg.createSVGPoint();
        pt.x = ev.clientX; pt.y = ev.clientY;
        var p = pt.matrixTransform(svg.getScreenCTM().inverse());
        lon.value = (minLon + p.x / kx).toFixed(6);
        lat.value = (maxLat - p.y / ky).toFixed(6);
        place(p.x, p.y);
      });
      if (lat.value && lon.value) {
        place((parseFloat(lon.value) - minLon) * kx, (maxLat - parseFloat(lat.value)) * ky);
      }
    });
  }

  // Anonymous reports carry no contact details.
  function anonymous() {
    var box = document.getElementById('anonymous');
    if (!box) return;
    function update() {
      ['name', 'phone'].forEach(function (id) {
        var el = document.getElementById(id);
        if (el) el.disabled = box.checked;
      });
    }
    box.addEventListener('change', update);
    update();
  }

  // Work queue filters refresh the table in place (partial update) and keep the URL.
  function partialFilters() {
    var form = document.querySelector('form[data-partial]');
    if (!form) return;
    var target = document.getElementById(form.getAttribute('data-partial'));
    var csv = document.getElementById('csv-link');
    var timer = null;
    function refresh() {
      var qs = new URLSearchParams(new FormData(form)).toString();
      var url = form.getAttribute('action') + '?' + qs;
      fetch(url, { headers: { 'X-Partial': '1' }, credentials: 'same-origin' })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
        .then(function (html) {
          target.innerHTML = html;
          history.replaceState(null, '', url);
          if (csv) csv.setAttribute('href', form.getAttribute('action') + '?format=csv&' + qs);
        })
        .catch(function () { form.submit(); });
    }
    form.addEventListener('change', refresh);
    form.addEventListener('input', function (ev) {
      if (ev.target.type !== 'search') return;
      clearTimeout(timer);
      timer = setTimeout(refresh, 300);
    });
    form.addEventListener('submit', function (ev) { ev.preventDefault(); refresh(); });
  }

  // Dashboard filters apply on change.
  function autosubmit() {
    document.querySelectorAll('form[data-autosubmit]').forEach(function (f) {
      f.addEventListener('change', function () { f.submit(); });
    });
  }

  // Ctrl+Enter (or Cmd+Enter) in a marked textarea submits its form.
  function ctrlEnter() {
    document.querySelectorAll('textarea[data-submit-on-ctrl-enter]').forEach(function (ta) {
      ta.addEventListener('keydown', function (ev) {
        if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey) && ta.form) {
          ev.preventDefault();
          if (ta.form.requestSubmit) ta.form.requestSubmit(); else ta.form.submit();
        }
      });
    });
  }

  // Triage while the intake desk types: the risk, the category the classifier suggests (one
  // click to take it) and recent look-alike cases, from /api/v1/triage with the session's
  // CSRF token. Only the newest answer is shown; a failure shows nothing (the form works
  // without it).
  function triageHint() {
    var box = document.getElementById('triage-hint');
    var ta = document.getElementById('description');
    if (!box || !ta || !ta.form) return;
    var csrf = ta.form.querySelector('input[name=csrf]');
    var select = document.getElementById('category');
    var timer = null, asked = 0;
    function add(parent, tag, text, cls) {
      var e = document.createElement(tag);
      if (text) e.textContent = text;
      if (cls) e.className = cls;
      parent.appendChild(e);
      return e;
    }
    function render(r) {
      box.textContent = '';
      var any = false;
      if (r.risk && r.risk.level !== 'none') {
        // The lexicon's matched words say most; the model's features only when it alone saw it.
        var ev = r.risk.evidence || [];
        var lexicon = ev.filter(function (e) { return e.kind !== 'learned'; });
        var words = (lexicon.length ? lexicon : ev).map(function (e) { return e.matched; }).filter(function (w, i, a) { return a.indexOf(w) === i; });
        add(box, 'p', box.dataset.lRisk + ': ' + (box.dataset['l' + r.risk.level.charAt(0).toUpperCase() + r.risk.level.slice(1)] || r.risk.level) +
          (words.length ? ' · ' + words.join(' / ') : ''), 'risk risk-' + r.risk.level).id = 'triage-risk';
        any = true;
      }
      var s = r.suggestion;
      if (s && !s.needs_human && select && s.category !== select.value) {
        var opt = select.querySelector('option[value="' + s.category + '"]');
        if (opt) {
          var p = add(box, 'p', box.dataset.lSuggest + ': ' + opt.textContent + ' (' + s.confidence.toFixed(2) + ') ');
          p.id = 'triage-suggestion';
          var use = add(p, 'button', box.dataset.lUse, 'button');
          use.type = 'button';
          use.addEventListener('click', function () {
            select.value = s.category;
            select.dispatchEvent(new Event('change', { bubbles: true }));
            p.remove();
          });
          any = true;
        }
      }
      if (r.similar && r.similar.length) {
        add(box, 'p', box.dataset.lSimilar);
        var ul = add(box, 'ul', null, 'similar');
        ul.id = 'triage-similar';
        r.similar.slice(0, 10).forEach(function (m) {
          var li = add(ul, 'li');
          var a = add(li, 'a', '#' + m.id);
          a.href = '/cases/' + m.id;
          a.target = '_blank';
          a.rel = 'noopener';
          add(li, 'span', ' ' + box.dataset.lSimilarity + ' ' + m.similarity.toFixed(2) +
            (m.distance_m != null ? ' · ' + Math.round(m.distance_m) + ' m' : ''), 'muted');
        });
        any = true;
      }
      box.hidden = !any;
    }
    function ask() {
      var text = ta.value.trim();
      if (text.length < 6) { box.hidden = true; return; }
      var mine = ++asked;
      fetch('/api/v1/triage', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf ? csrf.value : '' },
        body: JSON.stringify({ description: text })
      })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (r) { if (r && mine === asked) render(r); })
        .catch(function () {});
    }
    ta.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(ask, 400); });
    if (ta.value.trim()) ask();
  }

  // Bring the error summary into view and focus for screen readers.
  function focusErrors() {
    var e = document.getElementById('errors');
    if (e) e.focus();
  }

  document.addEventListener('DOMContentLoaded', function () {
    categoryQuestions(); pickMap(); anonymous(); partialFilters(); autosubmit(); ctrlEnter(); triageHint(); focusErrors();
  });
})();
