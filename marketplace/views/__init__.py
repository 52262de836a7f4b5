"""Browser views for customers, by area. Thin: parse, call one service or selector, render.

- accounts.py: home, sign-up, login, dashboard
- organization.py: the organisation page and its wallet
- jobs.py: job list, form, page, publish and cancel
- orders.py: the order and escrow panel and the customer's escrow calls
- designs.py: design files (upload, table, download, delete) and public design proofs
"""
