"""Renderers: pure functions from the shared records to text, JSON, SARIF or Markdown.

One module per format (`text`, `as_json`, `sarif`, `markdown`) plus one table per command that
maps its `--format` enum to renderers: `report.audit` (AuditFormat), `report.risk`
(ReportFormat), `report.verify` (VerifyFormat), `report.publication` (PublicationFormat,
`insights show`) and `report.lockfile` (ListFormat, `lock list`). This package imports nothing
itself, so a command loads only the renderers it uses.
"""
