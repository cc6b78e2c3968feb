"""The breach report as one self-contained HTML file: inline CSS, no script, no external
URL (it may be opened offline or attached to a notification), every value escaped by
Jinja2's autoescape (paths and account names come from clients)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment

from gateway.compliance.breach.report import TBC

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Personal data breach report: {{ r.tenant.name }}</title>
<style>
body{font:14px/1.4 sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #bbb;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eee}.tbc{background:#fff3bf;font-weight:bold}
.read{color:#a00;font-weight:bold}.rest{color:#070}
</style></head><body>
<h1>Personal data breach report</h1>
<p>Tenant <b>{{ r.tenant.name }}</b>{% if r.tenant.display_name %} ({{ r.tenant.display_name
}}){% endif %}; window {{ r.window.since }} to {{ r.window.until }}; generated
{{ r.generated_at }}. Indicators: addresses {{ r.indicators.addresses|join(", ") or "-" }};
accounts {{ r.indicators.accounts|join(", ") or "-" }}. {{ r.events_involved }} of
{{ r.events_scanned }} events in the window matched.</p>

<h2>Notification to the supervisory authority (Art. 33(3))</h2>
<table id="form">{% for key, value in r.authority_form.items() %}
<tr><th>{{ labels.get(key, key|replace("_", " ")) }}</th>
{% if value == tbc %}<td class="tbc">{{ value }}</td>
{% elif value is mapping %}<td>{% for k, v in value.items() %}{{ k }}: {{ "yes" if v else "no"
}}{% if not loop.last %}; {% endif %}{% endfor %}</td>
{% elif value is iterable and value is not string %}<td>{{ value|join("<br>"|safe) or "-" }}</td>
{% else %}<td>{{ value }}</td>{% endif %}</tr>{% endfor %}
</table>

<h2>Counts</h2>
<table>{% for key, value in r.counts.items() %}<tr><th>{{ key|replace("_", " ") }}</th>
<td>{{ value }}</td></tr>{% endfor %}</table>

<h2>Accounts</h2>
<table id="accounts"><tr><th>account</th><th>first</th><th>last</th><th>logins ok / refused</th>
<th>methods</th><th>addresses</th><th>protocols</th><th>files read</th><th>bytes read</th>
<th>changes</th><th>deletes</th></tr>{% for a in r.accounts %}
<tr><td>{{ a.account }}</td><td>{{ a.first }}</td><td>{{ a.last }}</td>
<td>{{ a.logins_ok }} / {{ a.logins_refused }}</td><td>{{ a.login_methods|join(", ") }}</td>
<td>{{ a.addresses|join(", ") }}</td><td>{{ a.protocols|join(", ") }}</td>
<td>{{ a.files_read }}</td><td>{{ a.bytes_read }}</td><td>{{ a.changes }}</td>
<td>{{ a.deletes }}</td></tr>{% endfor %}</table>

<h2>Addresses</h2>
<table id="addresses"><tr><th>address</th><th>first</th><th>last</th><th>accounts</th>
<th>logins ok / refused</th><th>bytes read</th></tr>{% for a in r.addresses %}
<tr><td>{{ a.address }}</td><td>{{ a.first }}</td><td>{{ a.last }}</td>
<td>{{ a.accounts|join(", ") }}</td><td>{{ a.logins_ok }} / {{ a.logins_refused }}</td>
<td>{{ a.bytes_read }}</td></tr>{% endfor %}</table>

<h2>Sessions</h2>
<table id="sessions"><tr><th>session</th><th>account</th><th>protocol</th><th>address</th>
<th>first</th><th>last</th><th>events</th><th>reads</th><th>bytes read</th><th>changes</th></tr>
{% for s in r.sessions %}<tr><td>{{ s.session_id or "(requests)" }}</td><td>{{ s.account }}</td>
<td>{{ s.protocol }}</td><td>{{ s.address }}</td><td>{{ s.first }}</td><td>{{ s.last }}</td>
<td>{{ s.events }}</td><td>{{ s.reads }}</td><td>{{ s.bytes_read }}</td><td>{{ s.changes }}</td>
</tr>{% endfor %}</table>

<h2>Logins</h2>
<table id="logins"><tr><th>time</th><th>account</th><th>address</th><th>protocol</th>
<th>method</th><th>result</th></tr>{% for x in r.logins %}<tr><td>{{ x.ts }}</td>
<td>{{ x.account }}</td><td>{{ x.address }}</td><td>{{ x.protocol }}</td>
<td>{{ x.method or "-" }}</td><td>{{ x.result }}</td></tr>{% endfor %}</table>

<h2>Files</h2>
<table id="files"><tr><th>path</th><th>exposure</th><th>read by (account, address, protocol,
bytes)</th><th>changes</th><th>at rest</th><th>size now</th></tr>{% for f in r.files %}
<tr><td>{{ f.path }}</td>{% if f.encrypted_at_rest_only %}<td class="rest">only ever encrypted
at rest (Art. 34(3)(a))</td>{% else %}<td class="read">read decrypted</td>{% endif %}
<td>{% for x in f.read_by %}{{ x.account }} from {{ x.address }} ({{ x.protocol }}):
{{ x.bytes }} bytes in {{ x.reads }} read(s){% if not loop.last %}<br>{% endif %}{% endfor %}</td>
<td>{% for k, v in f.changes.items() %}{{ k }} &times;{{ v }} {% endfor %}{% if f.moved_to
%}moved to {{ f.moved_to }}{% endif %}</td><td>{{ f.at_rest or "-" }}</td>
<td>{{ f.size if f.size is not none else "-" }}</td></tr>{% endfor %}</table>
</body></html>
"""


LABELS = {"encryption_art_34_3_a": "encryption at rest (Art. 34(3)(a))",
          "contact_point": "contact point (DPO or other)"}


def render_html(report: dict[str, Any]) -> str:
    env = Environment(autoescape=True, keep_trailing_newline=True)
    return env.from_string(_TEMPLATE).render(r=report, tbc=TBC, labels=LABELS)
