"""Alert rules over the audit stream (breach detection, GDPR Art. 33).

``serve`` runs one evaluator at a time (a lease row in the catalog) that follows the audit
events per chain (its cursor in the catalog), evaluates the rules of each event's tenant
(``[alerts]`` defaults, per-tenant overrides in ``alert_rules``), records each fired alert
(``alerts_fired``, de-duplicated per rule, tenant and subject within a window) together
with its audit event (action ``alert``) and hands it to the sinks. Nothing runs in the
request path. Modules: model (rules, alerts), detect (the rules' tests), state (catalog
state), evaluator (one round), sinks, job (``serve``), ops (what the CLI calls).
"""
