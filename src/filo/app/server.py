"""The FastAPI application of `filo app`: server-rendered pages (templates/) and a small JSON API.

Views: Predict (/predict), Results (/results, /results/<direction>), Models (/models).
The page loads nothing from the network: styles and scripts are inline, images come from
/files/ (files the workspace published). A request that fails because of its input gets
a 400 with the reason (JSON for /api/, a page otherwise); the server keeps running.

Access (`access`): with a token every request must present it (`Authorization: Bearer`, or
the cookie that /login sets), else 401 (pages redirect to /login); a path outside
`app.roots` gets 403. Load (`limits`): a prediction beyond `app.max_concurrent` running
and `app.max_queue` waiting gets 429 with Retry-After. On Ctrl-C or SIGTERM open requests
get `STOP_GRACE_S` to finish and forwards stop at their next batch.
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations at runtime.

import logging
import os
import signal
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from filo.app.access import COOKIE, AccessDenied, TokenCheck, app_token, check_exposure, is_loopback
from filo.app.limits import Busy
from filo.app.service import FILTERS, Workspace
from filo.app.settings import AppSettings
from filo.errors import FiloError, Interrupted

logger = logging.getLogger(__name__)

TEMPLATES = Path(__file__).with_name("templates")
STOP_GRACE_S = 3
"""Seconds open requests get to finish once the app is asked to stop."""
LOGIN_FORM_BYTES = 4096
"""Largest login form body read."""


def local_target(target: str | None) -> str:
    """Where the login form goes next: a path on this app only (never another site)."""
    return target if target and target.startswith("/") and not target.startswith("//") else "/predict"


def create_app(settings: AppSettings | None = None) -> Any:
    """The FastAPI app over a new `Workspace` (its scratch folder is removed at shutdown)."""
    from fastapi import FastAPI, Request
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
    from fastapi.templating import Jinja2Templates

    settings = settings or AppSettings()
    token = app_token(settings.token)
    check = TokenCheck(token) if token is not None else None
    workspace = Workspace(settings)
    templates = Jinja2Templates(directory=str(TEMPLATES))

    @asynccontextmanager
    async def lifespan(_app):
        yield
        workspace.close()

    app = FastAPI(title="filo", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.workspace = workspace

    def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {"view": name.split(".")[0], **context},
                                          status_code=status_code)

    @app.middleware("http")
    async def require_token(request: Request, call_next):
        if check is None or request.url.path == "/login" or check.bearer(request.headers.get("authorization")) \
                or check.cookie(request.cookies.get(COOKIE)):
            return await call_next(request)
        if request.method == "GET" and not request.url.path.startswith(("/api/", "/files/")):
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        return JSONResponse({"error": "filo app needs its token: send 'Authorization: Bearer <token>' "
                             "or sign in at /login"}, status_code=401, headers={"WWW-Authenticate": "Bearer"})

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/predict"):
        return page(request, "login.html", next=local_target(next), failed=False)

    @app.post("/login")
    async def login(request: Request):
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > LOGIN_FORM_BYTES:
                raise FiloError(f"the login form is over {LOGIN_FORM_BYTES} bytes")
        form = {key: values[0] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}
        target = local_target(form.get("next"))
        if check is None:
            return RedirectResponse(target, status_code=303)
        if not check.password(form.get("token", "")):
            logger.info("refused a sign-in from %s", request.client.host if request.client else "?")
            return page(request, "login.html", status_code=401, next=target, failed=True)
        answer = RedirectResponse(target, status_code=303)
        answer.set_cookie(COOKIE, check.cookie_value, httponly=True, samesite="strict")
        return answer

    @app.exception_handler(AccessDenied)
    async def denied(request: Request, error: AccessDenied):
        logger.info("denied %s: %s", request.url.path, error)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": str(error)}, status_code=403)
        return page(request, "error.html", status_code=403, message=str(error))

    @app.exception_handler(Busy)
    async def busy(request: Request, error: Busy):
        return JSONResponse({"error": str(error)}, status_code=429,
                            headers={"Retry-After": str(error.retry_after_s)})

    @app.exception_handler(FiloError)
    async def user_error(request: Request, error: FiloError):
        logger.info("refused %s: %s", request.url.path, error)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": str(error)}, status_code=400)
        return page(request, "error.html", status_code=400, message=str(error))

    @app.exception_handler(Exception)
    async def server_error(request: Request, error: Exception):
        logger.exception("failed %s", request.url.path)
        message = f"filo app failed on this request ({type(error).__name__}: {error}); the server is still running"
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=500)
        return HTMLResponse(message, status_code=500)

    @app.get("/")
    def home():
        return RedirectResponse("/predict")

    @app.get("/predict", response_class=HTMLResponse)
    def predict_view(request: Request, model: str | None = None):
        model = model or settings.model
        try:
            categories, problem = workspace.categories(model), None
        except FiloError as error:
            categories, problem = [], str(error)
        return page(request, "predict.html", model=model, models=workspace.model_choices(),
                    categories=categories, problem=problem, page_size=settings.page_size,
                    max_upload_mb=settings.max_upload_mb)

    @app.post("/api/predict")
    async def predict_upload(request: Request, model: str, category: str, name: str = "upload"):
        limit = int(settings.max_upload_mb * 1e6)
        declared = int(request.headers.get("content-length") or 0)
        if declared > limit:
            raise FiloError(f"{name} is {declared / 1e6:.1f} MB, over the {settings.max_upload_mb:g} MB upload limit")
        with workspace.limit.admitted():
            data = bytearray()
            async for chunk in request.stream():
                data += chunk
                if len(data) > limit:
                    raise FiloError(f"{name} is over the {settings.max_upload_mb:g} MB upload limit")
            return await workspace.off_loop(workspace.predict_upload, model, category, name, bytes(data))

    @app.get("/api/folder")
    async def predict_folder(model: str, category: str, folder: str, page: int = 1):
        with workspace.limit.admitted():
            return await workspace.off_loop(workspace.predict_folder, model, category, folder, page)

    @app.get("/files/{token}")
    def files(token: str):
        return FileResponse(workspace.published(token))

    @app.get("/results", response_class=HTMLResponse)
    def results_index(request: Request):
        return page(request, "results_index.html", directions=workspace.directions(),
                    results_dir=settings.results_dir)

    @app.get("/results/{direction}", response_class=HTMLResponse)
    def results_view(request: Request, direction: str, sort: str = "score", order: str = "desc",
                     filter: str = "all", page_number: int = 1, model: str | None = None):
        return page(request, "results.html", summary=workspace.results(direction),
                    images=workspace.result_images(direction, sort=sort, order=order, which=filter,
                                                   page=page_number),
                    sort=sort, order=order, filter=filter, filters=FILTERS, model=model or settings.model,
                    directions=workspace.directions())

    @app.get("/api/result-overlay")
    async def result_overlay(direction: str, image_id: str, model: str | None = None):
        with workspace.limit.admitted():
            return await workspace.off_loop(workspace.result_overlay, model or settings.model, direction, image_id)

    @app.get("/models", response_class=HTMLResponse)
    def models_view(request: Request):
        try:
            versions, problem = workspace.registry(), None
        except FiloError as error:
            versions, problem = [], str(error)
        return page(request, "models.html", versions=versions, problem=problem)

    return app


def serve(settings: AppSettings) -> None:
    """Run the app with uvicorn until interrupted; FiloError, before listening, for a non-loopback
    host without a token or --allow-anonymous."""
    import uvicorn

    check_exposure(settings.host, app_token(settings.token), settings.allow_anonymous)
    if not is_loopback(settings.host) and app_token(settings.token) is None:
        logger.warning("filo app on %s without a token (--allow-anonymous): anyone who reaches it may use it",
                       settings.host)
    app = create_app(settings)

    class StoppingServer(uvicorn.Server):
        """Tells the workspace to stop as soon as the signal arrives, so forwards end at their next batch."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            app.state.workspace.stopping.set()
            super().handle_exit(sig, frame)

    logger.info("filo app on http://%s:%d", settings.host, settings.port)
    try:
        StoppingServer(uvicorn.Config(app, host=settings.host, port=settings.port, log_level="info",
                                      timeout_graceful_shutdown=STOP_GRACE_S)).run()
    except (KeyboardInterrupt, Interrupted) as stop:
        # The server has stopped and the scratch folder is gone: exit now. The interpreter's own
        # teardown of torch, open_clip and MLflow takes 2-15 s on a busy machine and has nothing to clean.
        number = stop.signal_number if isinstance(stop, Interrupted) else signal.SIGINT
        print(f"filo app: stopped by {signal.Signals(number).name}", file=sys.stderr, flush=True)
        logging.shutdown()
        sys.stdout.flush()
        os._exit(128 + number)
