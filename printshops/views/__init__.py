"""Browser views of print shops' data: the shop's own pages (shop.py), a job's production
section (production.py), public verification (verification.py) and certificates
(certificates.py)."""
