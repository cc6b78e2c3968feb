"""Data-subject requests (GDPR Art. 15, 16, 17, 20) over one tenant.

``find`` (what the gateway holds about a person), ``export_subject`` (one streamed ZIP:
the files, account data, events, a manifest of digests) and ``erase_request`` (files and
every blob, the account, the person's identifiers in the audit trail; the chain still
verifies). Art. 16 (rectification) is the existing account commands (`user set`) and the
files themselves: ``find`` shows what there is to correct. The CLI is
``gateway/cli/subject_cmds.py``; these functions return plain data.
"""

from gateway.compliance.subject.erase import ErasureReport, erase_request
from gateway.compliance.subject.export import ExportResult, export_subject
from gateway.compliance.subject.find import Findings, find
from gateway.compliance.subject.scope import Criteria, RequestInvalid

__all__ = ["Criteria", "ErasureReport", "ExportResult", "Findings", "RequestInvalid",
           "erase_request", "export_subject", "find"]
