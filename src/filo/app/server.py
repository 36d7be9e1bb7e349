"""The FastAPI application of `filo app`: server-rendered pages (templates/) and a small JSON API.

Views: Predict (/predict), Results (/results, /results/<direction>), Models (/models).
The page loads nothing from the network: styles and scripts are inline, images come from
/files/ (files the workspace published). A request that fails because of its input gets
a 400 with the reason (JSON for /api/, a page otherwise); the server keeps running.
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations at runtime.

import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from filo.app.service import FILTERS, Workspace
from filo.app.settings import AppSettings
from filo.errors import FiloError

logger = logging.getLogger(__name__)

TEMPLATES = Path(__file__).with_name("templates")


def create_app(settings: AppSettings | None = None) -> Any:
    """The FastAPI app over a new `Workspace` (its scratch folder is removed at shutdown)."""
    from fastapi import FastAPI, Request
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
    from fastapi.templating import Jinja2Templates

    settings = settings or AppSettings()
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
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > limit:
                raise FiloError(f"{name} is over the {settings.max_upload_mb:g} MB upload limit")
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(workspace.predict_upload, model, category, name, bytes(data))

    @app.get("/api/folder")
    def predict_folder(model: str, category: str, folder: str, page: int = 1):
        return workspace.predict_folder(model, category, folder, page)

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
    def result_overlay(direction: str, image_id: str, model: str | None = None):
        return workspace.result_overlay(model or settings.model, direction, image_id)

    @app.get("/models", response_class=HTMLResponse)
    def models_view(request: Request):
        try:
            versions, problem = workspace.registry(), None
        except FiloError as error:
            versions, problem = [], str(error)
        return page(request, "models.html", versions=versions, problem=problem)

    return app


def serve(settings: AppSettings) -> None:
    """Run the app with uvicorn until interrupted."""
    import uvicorn

    logger.info("filo app on http://%s:%d", settings.host, settings.port)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
