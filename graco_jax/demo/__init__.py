"""`graco-jax demo`: a local web page to click on an image and slide the granularity.

session.py holds the state of one annotation (clicks, undo, the 10-bin mask cache) and knows
nothing of HTTP; server.py serves page.html and a small JSON API over the standard library's
HTTP server.
"""
