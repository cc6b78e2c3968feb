"""Data-protection operations for data controllers (GDPR): reports, subject requests, retention, breaches."""
