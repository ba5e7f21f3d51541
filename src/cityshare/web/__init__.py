"""The web catalogue: server-rendered pages over the same services as the API.

Pages read through the core services with the request's Actor, so they show exactly
what the API would: a dataset the API hides is a 404 page here too. Templates escape
every value (Jinja2 autoescape); pages carry a strict Content-Security-Policy and no
inline script, and read and search work with JavaScript off.
"""
