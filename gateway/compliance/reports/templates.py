"""The HTML templates (jinja2, autoescaped): one self-contained file each, styles inline,
no script, no external URL, font or image."""

from __future__ import annotations

BASE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{{ title }}</title>
<style>
body { font: 14px/1.4 sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
td.n { text-align: right; }
.ok { background: #e6f4ea; border: 2px solid #1e7e34; padding: 8px 12px; }
.bad { background: #fde8e8; border: 3px solid #c0392b; padding: 8px 12px; color: #8b0000; }
.note { background: #fff8e1; border: 1px solid #e0b000; padding: 4px 8px; }
.summary td { font-weight: bold; }
</style></head><body>
{% block body %}{% endblock %}
<p><small>Generated {{ generated }} by lumanox-gateway.</small></p>
</body></html>
"""

ROWS = """{% macro rows(items, columns) -%}
<table><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for r in items %}<tr>{% for c in columns %}<td{% if r[c] is number %} class="n"{% endif %}>
{{- "" if r[c] is none else r[c] }}</td>{% endfor %}</tr>
{% else %}<tr><td colspan="{{ columns|length }}">none</td></tr>{% endfor %}</table>
{%- endmacro %}"""

ACTIVITY = """{% extends "base" %}{% from "rows" import rows %}{% block body %}
<h1>Activity report: tenant {{ scope.tenant }}</h1>
<p>Period: {{ scope.since or "the start of the trail" }} to {{ scope.until }} (UTC)
{%- for k in ("user", "path", "protocol", "action") if scope[k] %}; {{ k }} {{ scope[k] }}{% endfor %}</p>
{% if chain.verified %}
<p class="ok" id="chain">Audit chain: VERIFIED INTACT - {{ chain.chains }} chain(s),
{{ chain.events_checked }} events checked against the signed checkpoint.</p>
{% elif chain.checked %}
<div class="bad" id="chain"><strong>Audit chain: NOT VERIFIED.</strong> The events below
cannot be vouched for: the audit trail was altered or its checkpoint is missing.
<ul>{% for p in chain.problems %}<li>chain {{ p.chain }}, event {{ p.seq }}: {{ p.kind }}:
{{ p.detail }}</li>{% endfor %}</ul></div>
{% else %}
<p class="note" id="chain">Audit chain: NOT CHECKED (the report was made without verification).</p>
{% endif %}
<h2>Summary</h2>
<table class="summary"><tr><th>events</th><th>users</th><th>uploaded</th><th>downloaded</th>
<th>failed</th><th>failed logins</th><th>admin actions</th></tr>
<tr><td class="n">{{ s.events }}</td><td class="n">{{ s.users }}</td><td class="n">{{ s.uploaded }}</td>
<td class="n">{{ s.downloaded }}</td><td class="n">{{ s.failed }}</td>
<td class="n">{{ failed_logins.total }}</td><td class="n">{{ admin_actions.total }}</td></tr></table>
<h2>Transfer volume per day and protocol</h2>
<div id="volume-chart">{{ chart }}</div>
<h2>Per protocol</h2>{{ rows(by_protocol, ("protocol", "events", "uploaded", "downloaded", "failed")) }}
<h2>Top users</h2>{% if users_cut %}<p class="note">The {{ top_users|length }} most active of {{ users_total }} users.</p>{% endif %}
{{ rows(top_users, ("user", "events", "uploaded", "downloaded", "failed")) }}
<h2>Top paths</h2>{{ rows(top_paths, ("path", "events", "bytes")) }}
<h2>Per action</h2>{{ rows(by_action, ("action", "events", "uploaded", "downloaded", "failed")) }}
<h2>Per day</h2>{{ rows(by_day, ("day", "events", "uploaded", "downloaded", "failed")) }}
<h2>Failed logins</h2>{% if failed_logins.cut %}<p class="note">First {{ failed_logins.rows|length }} of {{ failed_logins.total }} failed logins.</p>{% endif %}
{{ rows(failed_logins.rows, ("ts", "user", "remote_addr", "protocol", "result", "reason")) }}
<h2>Admin actions</h2>{% if admin_actions.cut %}<p class="note">First {{ admin_actions.rows|length }} of {{ admin_actions.total }} admin actions.</p>{% endif %}
{{ rows(admin_actions.rows, ("ts", "user", "action", "path", "result", "reason")) }}
<h2>Events</h2>
{% set listed = namespace(n=0) %}
<table id="events"><tr>{% for c in event_columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for e in events %}{% set listed.n = loop.index %}<tr>{% for c in event_columns %}<td>{{ "" if e[c] is none else e[c] }}</td>{% endfor %}</tr>
{% endfor %}</table>
{% if listed.n < s.events %}<p class="note" id="events-cut">Only the first {{ listed.n }} of {{ s.events }} events are listed here;
the CSV or JSON format lists them all.</p>{% endif %}
{% endblock %}"""

LOGINS = """{% extends "base" %}{% from "rows" import rows %}{% block body %}
<h1>Login report: tenant {{ scope.tenant }}</h1>
<p>Period: {{ scope.since or "the start of the trail" }} to {{ scope.until }} (UTC)
{%- if scope.user %}; user {{ scope.user }}{% endif %}</p>
<h2>Summary</h2>
<table class="summary"><tr><th>attempts</th><th>accepted steps</th><th>refused</th><th>users</th></tr>
<tr><td class="n">{{ summary.attempts }}</td><td class="n">{{ summary.ok }}</td>
<td class="n">{{ summary.failed }}</td><td class="n">{{ summary.users }}</td></tr></table>
<h2>Per user</h2>{{ rows(by_user, ("user", "attempts", "ok", "failed")) }}
<h2>Logins</h2>
{% set listed = namespace(n=0) %}
<table id="logins"><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for e in logins %}{% set listed.n = loop.index %}<tr{% if not e.success and e.step == "final" %} class="bad"{% endif %}>{% for c in columns %}<td>{{ "" if e[c] is none else e[c] }}</td>{% endfor %}</tr>
{% endfor %}</table>
{% if listed.n < summary.attempts %}<p class="note" id="logins-cut">Only the first {{ listed.n }} of {{ summary.attempts }} login events are listed here.</p>{% endif %}
{% endblock %}"""

TEMPLATES = {"base": BASE, "rows": ROWS, "activity": ACTIVITY, "logins": LOGINS}
