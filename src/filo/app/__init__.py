"""`filo app`: a local, offline inspection web page over filo's models and results.

Modules: `settings` (the frozen settings with their defaults), `service` (everything the
page shows, as plain data: predictions of uploads and folders, evaluation results, the
registry), `access` (app.roots, the token, the exposure check), `limits` (bounded forwards,
429 with Retry-After), `server` (the FastAPI routes and server-rendered pages, `templates/`).
"""
