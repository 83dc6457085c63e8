"""Outbox, templates and SMTP delivery of what someone must hear of."""
